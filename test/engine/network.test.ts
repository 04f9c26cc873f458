import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { centerAndClampLatent, createRng } from '../../src/main/engine/nn'
import { dropPath, FinalNetwork, Supernet, type Shape3 } from '../../src/main/engine/network'
import { DARTS_V2, LATEST_CELL, LATEST_CELL_ZEROISE, type Genotype } from '../../src/shared/genotype'

beforeAll(async () => {
  await initBackend('cpu')
})

describe('FinalNetwork', () => {
  it('has exactly the 5,578,252 trainable parameters of the authors BNAS-A log (20 cells, C = 36, CIFAR-10)', () => {
    const network = new FinalNetwork({
      genotype: LATEST_CELL_ZEROISE,
      cells: 20,
      channels: 36,
      classes: 10,
      macro: 'cifar',
      seed: 0
    })
    try {
      expect(network.parameters().reduce((sum, v) => sum + v.size, 0)).toBe(5_578_252)
      const names = network.namedParameters().map(([name]) => name)
      // The authors' state-dict names, in their order (model.py registration order).
      expect(names.slice(0, 6)).toEqual([
        'stem.bn.weight',
        'stem.bn.bias',
        'stem.op.0.weight',
        'cells.0.preprocess0.bn.weight',
        'cells.0.preprocess0.bn.bias',
        'cells.0.preprocess0.op.0.weight'
      ])
      expect(names).toContain('cells.6.preprocess_res.1.bias')
      expect(names).toContain('cells.19._ops.1.bn.weight') // normal edge 1: bin_dil_conv_3x3
      expect(names.some((name) => name.startsWith('cells.7.preprocess0.bn'))).toBe(false) // stride-2, affine=False
      expect(names.at(-1)).toBe('classifier.bias')
      // Binary convs: 2 preprocess per cell + 2 ops per normal cell (the reduce cell's ops are pools and Zeroise).
      expect(network.binaryWeights()).toHaveLength(20 * 2 + 18 * 2)
      // Every edge has its module even when it is Zeroise, as the authors' _ops list.
      expect(network.cells.every((cell) => cell.ops.length === 8)).toBe(true)
    } finally {
      network.dispose()
    }
  })

  for (const [macro, genotype, size] of [
    ['cifar', LATEST_CELL_ZEROISE, 16],
    ['imagenet', LATEST_CELL, 64]
  ] as const) {
    it(`${macro}: forward gives [N, classes], and every cell output has the traced shape`, () => {
      const network = new FinalNetwork({
        genotype,
        cells: 5,
        channels: 4,
        classes: 7,
        macro,
        seed: 3,
        dropPathProb: 0.3
      })
      const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 5) as tf.Tensor4D
      const start = tf.memory().numTensors
      const blocks = new Map<string, Shape3>()
      expect(network.trace('', [[size, size, 3]], [], blocks)).toEqual([1, 1, 7])
      const outputs = tf.tidy(() => {
        const ctx = { training: true, dropPathProb: 0.3, rng: createRng(1) }
        const stems = network.stems.map((stem) => stem) // cifar: one stem used twice; imagenet: stem0 → stem1
        let s0 = stems[0].forward(x, ctx)
        let s1 = stems.length === 1 ? s0 : stems[1].forward(s0, ctx)
        const shapes: number[][] = []
        for (const cell of network.cells) {
          ;[s0, s1] = [s1, cell.forwardCell(s0, s1, ctx)]
          shapes.push(s1.shape.slice(1))
        }
        return shapes
      })
      expect(outputs).toEqual(network.cells.map((cell) => blocks.get(`cells.${cell.plan.index}`)))
      const train = network.logits(x, { training: true })
      const evalA = network.logits(x, { training: false })
      const evalB = network.logits(x, { training: false })
      expect(train.shape).toEqual([2, 7])
      expect(Array.from(evalA.dataSync())).toEqual(Array.from(evalB.dataSync())) // no drop-path in eval
      tf.dispose([train, evalA, evalB])
      expect(tf.memory().numTensors).toBe(start)
      x.dispose()
      network.dispose()
    })
  }

  it('refuses DARTS genotypes and genotypes the template cannot wire, with clear messages', () => {
    const build = (genotype: Genotype) =>
      new FinalNetwork({ genotype, cells: 3, channels: 2, classes: 2, macro: 'cifar', seed: 0 })
    expect(() => build(DARTS_V2 as unknown as Genotype)).toThrow("normal[0]: unknown op 'sep_conv_3x3'")
    expect(() => build({ ...LATEST_CELL, normalConcat: [2, 3, 4] })).toThrow(
      'normalConcat lists 3 nodes, but the BNAS cell template adds a skip of 4C channels'
    )
    expect(() => build({ ...LATEST_CELL, normal: [['none', 3], ...LATEST_CELL.normal.slice(1)] })).toThrow(
      'normal[0]: input 3 is not an earlier state of node 0 (allowed 0..1)'
    )
  })

  it('refuses an input size a reduction cell cannot halve, naming the cell and the sizes that work', () => {
    const network = new FinalNetwork({
      genotype: LATEST_CELL,
      cells: 3,
      channels: 2,
      classes: 2,
      macro: 'cifar',
      seed: 0
    })
    const supernet = new Supernet({ cells: 3, channels: 2, classes: 2, seed: 0 })
    try {
      tf.tidy(() => {
        const odd = tf.zeros([1, 9, 9, 3]) as tf.Tensor4D
        const message = /cell 1 is a reduction cell and gets 9×9 feature maps.*multiples of 4/
        expect(() => network.logits(odd, { training: false })).toThrow(message)
        expect(() => supernet.logits(odd, { training: false })).toThrow(message)
        // Sizes that stay even down to the second reduction run.
        expect(network.logits(tf.zeros([1, 12, 12, 3]) as tf.Tensor4D, { training: false }).shape).toEqual([1, 2])
      })
    } finally {
      network.dispose()
      supernet.dispose()
    }
  })
})

describe('FinalNetwork training steps', () => {
  it('leaks no tensors over many steps with drop-path, latent centring and SGD updates', () => {
    const network = new FinalNetwork({
      genotype: LATEST_CELL,
      cells: 3,
      channels: 2,
      classes: 4,
      macro: 'cifar',
      seed: 1,
      dropPathProb: 0.2
    })
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 2) as tf.Tensor4D
    const labels = tf.tensor2d([1, 0, 0, 0, 0, 0, 1, 0], [2, 4])
    const step = () => {
      for (const w of network.binaryWeights()) centerAndClampLatent(w)
      tf.tidy(() => {
        const { grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(labels, network.logits(x, { training: true })) as tf.Scalar,
          network.parameters()
        )
        for (const v of network.parameters()) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.01)))
      })
    }
    step()
    const { numTensors, numBytes } = tf.memory()
    for (let i = 0; i < 8; i++) step()
    expect(tf.memory().numTensors).toBe(numTensors)
    expect(tf.memory().numBytes).toBe(numBytes)
    tf.dispose([x, labels])
    network.dispose()
  })
})

describe('dropPath', () => {
  it('keeps or zeroes whole samples, scaling kept ones by 1/keep', () => {
    const x = tf.ones([64, 2, 2, 3]) as tf.Tensor4D
    const y = dropPath(x, 0.25, createRng(7))
    const values = y.arraySync() as number[][][][]
    const perSample = values.map((sample) => new Set(sample.flat(2)))
    expect(perSample.every((set) => set.size === 1)).toBe(true)
    const kept = perSample.map((set) => [...set][0])
    expect(new Set(kept)).toEqual(new Set([0, Math.fround(1 / 0.75)]))
    expect(kept.filter((v) => v > 0).length).toBeGreaterThan(32)
    expect(dropPath(x, 0, createRng(7))).toBe(x)
    tf.dispose([x, y])
  })
})
