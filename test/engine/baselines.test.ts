import * as tf from '@tensorflow/tfjs-core'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createProgram } from '../../src/main/cli/program'
import { computeSummary } from '../../src/main/cli/commands/summary'
import { BatchLoader, loadDataset, testSplit, type Batch } from '../../src/main/datasets'
import { initBackend } from '../../src/main/engine/backend'
import { JobControl } from '../../src/main/engine/jobs/control'
import { startTrainRun } from '../../src/main/engine/jobs/run-job'
import type { JobListener } from '../../src/main/engine/jobs/search-job'
import { loadTrainedModel, loadTrainedNetwork } from '../../src/main/engine/jobs/trained-model'
import { evaluate } from '../../src/main/engine/jobs/evaluation'
import { trainStep, type TrainResult } from '../../src/main/engine/jobs/train-job'
import {
  BinaryDepthwiseBlock,
  BinaryResNet18,
  BiRealBlock,
  buildTrainNetwork,
  channelsForOps,
  DartsBinaryNetwork,
  latentWeightPreparer,
  summarizeTrainNetwork,
  type TrainNetwork
} from '../../src/main/engine/network'
import { createRng } from '../../src/main/engine/nn'
import { crossEntropy } from '../../src/main/engine/train/loss'
import { SgdMomentum } from '../../src/main/engine/train/optimizers'
import { DARTS_V2, LATEST_CELL_ZEROISE } from '../../src/shared/genotype'
import { trainConfigSchema, type TrainConfig } from '../../src/shared/jobs'

let dir: string

beforeAll(async () => {
  await initBackend('cpu')
  dir = await mkdtemp(join(tmpdir(), 'bnas-baselines-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const ctxEval = { training: false }

/** sign(x)·(XNOR α) of a [k, k, C_in, C_out] latent weight, per output channel, in plain JS. */
function binarizeByHand(w: Float32Array, perOut: number, cout: number): Float32Array {
  const alpha = new Float64Array(cout)
  for (let i = 0; i < w.length; i++) alpha[i % cout] += Math.abs(w[i]) / perOut
  return w.map((v, i) => Math.sign(v) * alpha[i % cout])
}

/** Reference 2-D conv in NHWC for one image, symmetric zero padding, with groups = 1 or = channels (depthwise). */
function convByHand(
  x: Float32Array,
  [h, w, cin]: number[],
  weight: Float32Array,
  opts: { k: number; cout: number; stride: number; pad: number; dilation: number; depthwise: boolean }
): { y: Float32Array; shape: number[] } {
  const { k, cout, stride, pad, dilation, depthwise } = opts
  const ho = Math.floor((h + 2 * pad - dilation * (k - 1) - 1) / stride) + 1
  const wo = Math.floor((w + 2 * pad - dilation * (k - 1) - 1) / stride) + 1
  const y = new Float32Array(ho * wo * cout)
  for (let i = 0; i < ho; i++)
    for (let j = 0; j < wo; j++)
      for (let o = 0; o < cout; o++) {
        let sum = 0
        for (let a = 0; a < k; a++)
          for (let b = 0; b < k; b++) {
            const [r, c] = [i * stride - pad + a * dilation, j * stride - pad + b * dilation]
            if (r < 0 || r >= h || c < 0 || c >= w) continue
            if (depthwise) sum += x[(r * w + c) * cin + o] * weight[(a * k + b) * cout + o]
            else
              for (let q = 0; q < cin; q++) sum += x[(r * w + c) * cin + q] * weight[((a * k + b) * cin + q) * cout + o]
          }
        y[(i * wo + j) * cout + o] = sum
      }
  return { y, shape: [ho, wo, cout] }
}

/** Eval-mode BN with fresh statistics (mean 0, var 1, γ 1, β 0) then sign: what a binary conv of a new net sees. */
const signOfFreshBn = (x: Float32Array) => x.map((v) => Math.sign(v / Math.sqrt(1 + 1e-5)))

/** The depthwise block against a direct computation, for the current backend. */
function checkDepthwiseBlocks(): void {
  const [h, c] = [7, 3]
  const rng = createRng(3)
  const x = Float32Array.from(rng.uniformArray(h * h * c, -2, 2))
  const input = tf.tensor4d(x, [1, h, h, c])
  for (const [kernel, stride, padding, dilation] of [
    [3, 1, 2, 2],
    [3, 2, 2, 2],
    [5, 2, 2, 1]
  ] as const) {
    const block = new BinaryDepthwiseBlock(c, kernel, { stride, padding, dilation, rng })
    const latent = block.conv.weight.dataSync() as Float32Array
    const binary = binarizeByHand(latent, kernel * kernel, c)
    const { y, shape } = convByHand(signOfFreshBn(x), [h, h, c], binary, {
      k: kernel,
      cout: c,
      stride,
      pad: padding,
      dilation,
      depthwise: true
    })
    const actual = block.forward(input, ctxEval)
    expect(actual.shape.slice(1)).toEqual(shape)
    const got = actual.dataSync()
    y.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4))
    actual.dispose()
    block.dispose()
  }
  input.dispose()
}

describe('binary baselines: structure and numerics', () => {
  it('give logits of the right shape for 28×28×1 and 32×32×3 inputs', () => {
    for (const [h, c] of [
      [28, 1],
      [32, 3]
    ]) {
      for (const architecture of ['binary-resnet18', 'darts-v2-binary'] as const) {
        const net = buildTrainNetwork(
          { architecture, genotype: undefined, cells: 5, channels: 4, macro: 'cifar' },
          { input: [h, h, c], classes: 7 },
          { seed: 1 }
        )
        const logits = tf.tidy(() => net.logits(tf.randomNormal([2, h, h, c]) as tf.Tensor4D, { training: true }))
        expect(logits.shape).toEqual([2, 7])
        net.dropPathProb = 0.5
        net.reseedDropPath(3)
        const dropped = tf.tidy(() => net.logits(tf.randomNormal([2, h, h, c]) as tf.Tensor4D, { training: true }))
        expect(Number.isFinite(tf.sum(dropped).dataSync()[0]!)).toBe(true)
        dropped.dispose()
        expect(Number.isFinite(tf.sum(logits).dataSync()[0]!)).toBe(true)
        logits.dispose()
        net.dispose()
      }
    }
  })

  it('a Bi-Real block is sign(BN(x)) ⊛ sign(W)·α plus its shortcut, computed directly', () => {
    const [h, cin, cout] = [5, 3, 4]
    const rng = createRng(7)
    const x = Float32Array.from(rng.uniformArray(h * h * cin, -2, 2))
    // Identity shortcut (stride 1, same width) and the downsample one (stride 2, wider: avg-pool 2×2, 1×1 conv, BN).
    const same = new BiRealBlock(cin, cin, 1, { rng })
    const down = new BiRealBlock(cin, cout, 2, { rng })
    const input = tf.tensor4d(x, [1, h, h, cin])
    for (const block of [same, down]) {
      const latent = block.conv.weight.dataSync() as Float32Array
      const co = block.conv.outChannels
      const binary = binarizeByHand(latent, 9 * cin, co)
      const { y, shape } = convByHand(signOfFreshBn(x), [h, h, cin], binary, {
        k: 3,
        cout: co,
        stride: block.conv.stride,
        pad: 1,
        dilation: 1,
        depthwise: false
      })
      let shortcut: Float32Array = x
      if (block.downsample) {
        // ceil-mode 2×2 average of the in-image taps (5×5 → 3×3), then the float 1×1 conv, then fresh eval BN.
        const pooled = new Float32Array(3 * 3 * cin)
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++)
            for (let q = 0; q < cin; q++) {
              let [sum, n] = [0, 0]
              for (const [r, c] of [
                [2 * i, 2 * j],
                [2 * i + 1, 2 * j],
                [2 * i, 2 * j + 1],
                [2 * i + 1, 2 * j + 1]
              ])
                if (r < h && c < h) [sum, n] = [sum + x[(r * h + c) * cin + q], n + 1]
              pooled[(i * 3 + j) * cin + q] = sum / n
            }
        const conv1x1 = block.downsample.namedParameters()[0]![1].dataSync() as Float32Array
        const projected = convByHand(pooled, [3, 3, cin], conv1x1, {
          k: 1,
          cout: co,
          stride: 1,
          pad: 0,
          dilation: 1,
          depthwise: false
        }).y
        shortcut = projected.map((v) => v / Math.sqrt(1 + 1e-5))
      }
      const expected = y.map((v, i) => v + shortcut[i])
      const actual = block.forward(input, ctxEval)
      expect(actual.shape.slice(1)).toEqual(shape)
      const got = actual.dataSync()
      expected.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4))
      actual.dispose()
      block.dispose()
    }
    input.dispose()
  })

  it('a binary depthwise block (dilated, strided) is sign(BN(x)) ⊛ sign(W)·α per channel, computed directly', () => {
    checkDepthwiseBlocks()
  })

  it('gradients reach every weight of both baselines (sign STE, binarized weights)', () => {
    for (const architecture of ['binary-resnet18', 'darts-v2-binary'] as const) {
      const net = buildTrainNetwork(
        { architecture, genotype: undefined, cells: 4, channels: 4, macro: 'cifar' },
        { input: [8, 8, 3], classes: 5 },
        { seed: 2 }
      )
      latentWeightPreparer(net)()
      const variables = net.parameters()
      const norms = tf.tidy(() => {
        const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D
        const labels = tf.tensor1d([0, 1, 2, 3], 'int32')
        const { grads } = tf.variableGrads(() => crossEntropy(net.logits(x, { training: true }), labels), variables)
        return variables.map((v) => tf.max(tf.abs(grads[v.name]!)).dataSync()[0])
      })
      const names = net.namedParameters().map(([name]) => name)
      const dead = names.filter((_, i) => !(norms[i]! > 0))
      expect(dead, `${architecture}: weights without gradient`).toEqual([])
      net.dispose()
    }
  })
})

/** OPs of the binary ResNet-18 by hand: float stem and downsample 1×1 convs and classifier, 16 binary 3×3 convs, head BN. */
function resnetByHand(c: number, [h, , cin]: number[], classes: number) {
  let [size, width, bops, flops, params] = [h, c, 0, 0, 0]
  flops += size * size * c * cin * 9
  params += 9 * cin * c + 2 * c
  for (const [stage, factor] of [1, 2, 4, 8].entries()) {
    for (let i = 0; i < 4; i++) {
      const [wIn, wOut] = [width, factor * c]
      if (stage > 0 && i === 0) {
        size = Math.ceil(size / 2)
        flops += size * size * wOut * wIn
        params += wIn * wOut + 2 * wOut
      }
      bops += size * size * wOut * wIn * 9
      params += 2 * wIn + 9 * wIn * wOut
      width = wOut
    }
  }
  flops += width * classes
  params += 2 * width + width * classes + classes
  return { bops, flops, ops: bops / 64 + flops, params }
}

/**
 * OPs of DARTS_V2 binarized by hand, 4 cells (reductions 1 and 2), on an h×h×3 input: per normal cell the binary
 * preprocess convs, 5 sep_conv_3x3 (2 × (dw 3×3 + pw 1×1)), 1 dil_conv_3x3 (dw + pw); reduction cells pool and skip
 * only, plus the float 2×2/s2 residual conv. Stem float 3×3 (3 → 3C).
 */
function dartsByHand(c0: number, h: number, classes: number) {
  let [bops, flops] = [h * h * 3 * c0 * 3 * 9, 0]
  flops = bops
  bops = 0
  const outs: Array<{ ch: number; size: number }> = [
    { ch: 3 * c0, size: h },
    { ch: 3 * c0, size: h }
  ]
  let [c, size, reductionPrev] = [c0, h, false]
  for (let i = 0; i < 4; i++) {
    const reduction = i === 1 || i === 2
    const [s0, s1] = [outs[outs.length - 2]!, outs[outs.length - 1]!]
    if (reduction) c *= 2
    // preprocess0: 3×3/s2 after a reduction (output at s1's size), else 1×1 at s0's size.
    bops += reductionPrev ? s1.size * s1.size * c * s0.ch * 9 : s0.size * s0.size * c * s0.ch
    bops += s1.size * s1.size * c * s1.ch
    const outSize = reduction ? s1.size / 2 : s1.size
    if (reduction) flops += outSize * outSize * 4 * c * s1.ch * 4
    else {
      const hw = outSize * outSize
      bops += 5 * 2 * (hw * c * 9 + hw * c * c) + (hw * c * 9 + hw * c * c)
    }
    outs.push({ ch: 4 * c, size: outSize })
    reductionPrev = reduction
    size = outSize
  }
  flops += 4 * c * classes
  return { bops, flops, ops: bops / 64 + flops, size }
}

describe('binary baselines: summary', () => {
  it("the binary ResNet-18's OPs and parameters, counted by hand, equal the summary's", () => {
    for (const [c, input] of [
      [4, [8, 8, 1]],
      [6, [28, 28, 1]]
    ] as const) {
      const summary = summarizeTrainNetwork({
        architecture: 'binary-resnet18',
        genotype: undefined,
        cells: 20,
        channels: c,
        macro: 'cifar',
        input: [...input],
        classes: 10
      })
      const hand = resnetByHand(c, [...input], 10)
      expect(summary.totals.bops).toBe(hand.bops)
      expect(summary.totals.flops).toBe(hand.flops)
      expect(summary.totals.ops).toBeCloseTo(hand.ops, 6)
      expect(summary.trainableParams).toBe(hand.params)
      expect(summary.blocks.filter((b) => b.role === 'reduction').map((b) => b.name)).toEqual([
        'blocks.4',
        'blocks.8',
        'blocks.12'
      ])
    }
  })

  it("DARTS V2 binarized: OPs counted by hand equal the summary's, and it matches the cell network's macro", () => {
    const config = { genotype: undefined, cells: 4, channels: 4, macro: 'cifar' as const, input: [8, 8, 3] as const }
    const summary = summarizeTrainNetwork({ ...config, architecture: 'darts-v2-binary', input: [8, 8, 3], classes: 10 })
    const hand = dartsByHand(4, 8, 10)
    expect(summary.totals.bops).toBe(hand.bops)
    expect(summary.totals.flops).toBe(hand.flops)
    expect(summary.totals.ops).toBeCloseTo(hand.ops, 6)
    const cell = summarizeTrainNetwork({
      ...config,
      architecture: 'cell',
      genotype: LATEST_CELL_ZEROISE,
      input: [8, 8, 3],
      classes: 10
    })
    // Same stem, preprocessing, residual convs and classifier: the float part (FLOPs) is identical.
    expect(summary.totals.flops).toBe(cell.totals.flops)
    expect(summary.blocks.map((b) => [b.name, b.role, b.output])).toEqual(
      cell.blocks.map((b) => [b.name, b.role, b.output])
    )
  })

  it('channelsForOps picks the width whose OPs are closest to the target', () => {
    const base = {
      genotype: undefined,
      cells: 5,
      macro: 'cifar' as const,
      input: [28, 28, 1] as [number, number, number],
      classes: 10
    }
    const target = summarizeTrainNetwork({ ...base, architecture: 'binary-resnet18', channels: 11 }).totals.ops
    expect(channelsForOps('binary-resnet18', target, base).channels).toBe(11)
    const between =
      (target + summarizeTrainNetwork({ ...base, architecture: 'binary-resnet18', channels: 12 }).totals.ops) / 2
    const picked = channelsForOps('binary-resnet18', between * 0.999, base)
    expect(picked.channels).toBe(11)
    expect(() => channelsForOps('darts-v2-binary', -1, base)).toThrow(/positive/)
  })

  it('bnas summary takes --architecture', async () => {
    const resnet = await computeSummary({ architecture: 'binary-resnet18', channels: '4', input: '8x8x1' })
    expect(resnet.totals.bops).toBe(resnetByHand(4, [8, 8, 1], 10).bops)
    const darts = await computeSummary({ architecture: 'darts-v2-binary', cells: '4', channels: '4', input: '8x8x3' })
    expect(darts.totals.bops).toBe(dartsByHand(4, 8, 10).bops)
    await expect(computeSummary({ architecture: 'cell' })).rejects.toThrow(/--genotype is needed/)
    await expect(computeSummary({ architecture: 'resnet50' })).rejects.toThrow(/--architecture must be one of/)
  })
})

describe('binary baselines: configs and training', () => {
  const dataset = 'synthetic:64?size=8&channels=1&classes=4'
  // The native backend where it is built (about 10× faster here on these steps), the cpu one otherwise.
  beforeAll(async () => {
    await initBackend('native').catch(() => initBackend('cpu'))
  })

  it('configs: architecture defaults to cell, cell needs a genotype, unknown names and misfits fail clearly', () => {
    const old = trainConfigSchema.parse({ dataset, genotype: LATEST_CELL_ZEROISE })
    expect(old.architecture).toBe('cell')
    const missing = trainConfigSchema.safeParse({ dataset, architecture: 'cell' })
    expect(missing.success).toBe(false)
    expect(missing.error?.issues[0]?.message).toMatch(/architecture cell needs a genotype/)
    const unknown = trainConfigSchema.safeParse({ dataset, architecture: 'resnet50' })
    expect(unknown.error?.issues[0]?.message).toMatch(/architecture must be one of cell, binary-resnet18/)
    expect(trainConfigSchema.safeParse({ dataset, architecture: 'binary-resnet18' }).success).toBe(true)
    const withCell = trainConfigSchema.safeParse({ dataset, architecture: 'binary-resnet18', genotype: DARTS_V2 })
    expect(withCell.error?.issues[0]?.message).toMatch(/binary-resnet18 has no cell/)
    const data = { input: [8, 8, 1] as [number, number, number], classes: 4 }
    const settings = { cells: 4, channels: 4, macro: 'cifar' as const }
    expect(() =>
      buildTrainNetwork({ ...settings, architecture: 'darts-v2-binary', genotype: LATEST_CELL_ZEROISE }, data, {
        seed: 0
      })
    ).toThrow(/invalid DARTS genotype for darts-v2-binary/)
    expect(() =>
      buildTrainNetwork({ ...settings, architecture: 'cell', genotype: DARTS_V2 }, data, { seed: 0 })
    ).toThrow(/the genotype to train/)
    expect(() =>
      buildTrainNetwork(
        { ...settings, architecture: 'binary-resnet18', genotype: undefined, macro: 'imagenet' },
        data,
        {
          seed: 0
        }
      )
    ).toThrow(/cifar macro only/)
    const skipAtStride2 = structuredClone(DARTS_V2)
    skipAtStride2.reduce[0] = ['skip_connect', 0]
    expect(() =>
      buildTrainNetwork({ ...settings, architecture: 'darts-v2-binary', genotype: skipAtStride2 }, data, { seed: 0 })
    ).toThrow(/FactorizedReduce/)
  })

  it('the depthwise block matches the direct computation on this backend too', () => {
    checkDepthwiseBlocks()
  })

  it('a few steps on one batch lower the loss of each baseline', async () => {
    const data = loadDataset(dataset)
    for (const architecture of ['binary-resnet18', 'darts-v2-binary'] as const) {
      const config = trainConfigSchema.parse({ dataset, architecture, cells: 4, channels: 4, lr: 0.01, dropPath: 0 })
      const net: TrainNetwork = buildTrainNetwork(config, { input: [8, 8, 1], classes: 4 }, { seed: 0 })
      const weights = net.namedParameters().map(([name, variable]) => ({ name, variable }))
      const sgd = new SgdMomentum(weights, config.lr, config.momentum, config.weightDecay)
      const prepare = latentWeightPreparer(net)
      const n = 16
      const images = new Float32Array(n * 64).map((_, i) => data.train.images[i]! / 255 - 0.5)
      const batch: Batch = {
        size: n,
        images,
        labels: data.train.labels.slice(0, n),
        shape: [n, 8, 8, 1],
        indices: Int32Array.from({ length: n }, (_, i) => i)
      }
      const losses: number[] = []
      let tensorsAfterFirst = 0
      for (let step = 0; step < 10; step++) {
        prepare()
        losses.push((await trainStep(net, sgd, net.parameters(), batch, config)).loss)
        if (step === 0) tensorsAfterFirst = tf.memory().numTensors
      }
      expect(tf.memory().numTensors, `${architecture} leaks tensors per step`).toBe(tensorsAfterFirst)
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
      expect(mean(losses.slice(-3)), `${architecture}: ${losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(
        mean(losses.slice(0, 3))
      )
      sgd.dispose()
      net.dispose()
    }
  })

  it('a one-epoch training run of each architecture completes and saves a model that evaluates to its recorded accuracy', async () => {
    const logs: string[] = []
    const listener: JobListener = { progress: () => {}, epoch: () => {}, log: (line) => logs.push(line) }
    for (const architecture of ['binary-resnet18', 'darts-v2-binary', 'cell'] as const) {
      const config: TrainConfig = trainConfigSchema.parse({
        dataset,
        architecture,
        ...(architecture === 'cell' ? { genotype: LATEST_CELL_ZEROISE } : {}),
        cells: 4,
        channels: 4,
        epochs: 1,
        batchSize: 16,
        schedule: 'cosine'
      })
      const out = join(dir, architecture)
      const result = await startTrainRun(out, config, listener, new JobControl())
      expect(result.status).toBe('completed')
      const epochs = (await readFile(join(out, 'epochs.jsonl'), 'utf8')).trim().split('\n')
      expect(epochs).toHaveLength(1)
      if (architecture === 'cell') (await loadTrainedModel(out)).net.dispose()
      else await expect(loadTrainedModel(out)).rejects.toThrow(new RegExp(`trained ${architecture} baseline`))
      // The saved model is the evaluated one: rebuilt from model/, it scores the recorded accuracy exactly.
      const { net, info } = await loadTrainedNetwork(out)
      const data = loadDataset(dataset)
      const loader = new BatchLoader(testSplit(data, { seed: config.seed }), {
        batchSize: 16,
        shuffle: false,
        normalize: info.normalize
      })
      expect((await evaluate(net, loader)).accuracy).toBe((result as TrainResult).testAccuracy)
      net.dispose()
    }
    expect(logs.some((line) => /binary-resnet18 has no cells to drop paths in/.test(line))).toBe(true)
  })
})

/** Runs a `bnas` command in-process and returns what it printed. */
async function cli(...args: string[]): Promise<string> {
  const chunks: string[] = []
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    chunks.push(String(chunk))
    return true
  })
  try {
    await createProgram('test')
      .exitOverride()
      .parseAsync(['node', 'bnas', ...args])
  } finally {
    spy.mockRestore()
  }
  return chunks.join('')
}

describe('bnas train --architecture', () => {
  it('trains a baseline without a genotype, records its architecture, and bnas eval scores it', async () => {
    const out = join(dir, 'cli-resnet')
    const dataset = 'synthetic:32?size=8&channels=1&classes=4'
    const common = ['--dataset', dataset, '--epochs', '1', '--batch-size', '16', '--json', '--backend', 'cpu']
    await cli('train', '--architecture', 'binary-resnet18', '--channels', '4', ...common, '--out', out)
    const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { config: TrainConfig }
    expect(manifest.config.architecture).toBe('binary-resnet18')
    expect(manifest.config.genotype).toBeUndefined()
    const recorded = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as TrainResult
    const evaluated = (await cli('eval', out, '--json', '--backend', 'cpu')).trim().split('\n').pop()!
    expect(JSON.parse(evaluated)).toMatchObject({ event: 'result', accuracy: recorded.testAccuracy })
    await expect(cli('train', ...common, '--out', join(dir, 'cli-none'))).rejects.toThrow(
      /architecture cell needs a genotype/
    )
  })
})

describe('the networks built for training', () => {
  it('are the classes each architecture names', () => {
    const data = { input: [8, 8, 3] as [number, number, number], classes: 3 }
    const settings = { cells: 3, channels: 2, macro: 'cifar' as const }
    const nets = [
      buildTrainNetwork({ ...settings, architecture: 'binary-resnet18', genotype: undefined }, data, { seed: 0 }),
      buildTrainNetwork({ ...settings, architecture: 'darts-v2-binary', genotype: undefined }, data, { seed: 0 })
    ]
    expect(nets[0]).toBeInstanceOf(BinaryResNet18)
    expect(nets[1]).toBeInstanceOf(DartsBinaryNetwork)
    for (const net of nets) net.dispose()
  })
})
