import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runBenchInfer, runPredict } from '../../src/main/cli/commands/export'
import { createProgram } from '../../src/main/cli/program'
import { initBackend } from '../../src/main/engine/backend'
import { nativeAddonStatus } from '../../src/main/engine/native/addon'
import { createRng } from '../../src/main/engine/nn'
import type { FinalNetwork } from '../../src/main/engine/network'
import { decodePacked, encodePacked, packNetwork, type ModelMeta } from '../../src/main/export'
import { inferShapes, type BnParams, type ExportGraph } from '../../src/main/export/graph'
import { packConvWeight } from '../../src/main/export/packed/bits'
import type { PackedModel, PackedStep } from '../../src/main/export/packed/format'
import {
  describePackedPaths,
  PackedSession,
  ReferenceBackend,
  registerPackedPath,
  WebGpuBackend,
  type PackedBackend,
  type Shape3,
  type StepDims
} from '../../src/main/export/packed/runtime'
import { ALL_OPS, argmaxRows, engineLogits, maxAbsDiff, perturbedNetwork, randomImages } from '../export/fixture'
import { GpuBufferPool } from '../../src/main/export/packed/runtime/webgpu-pool'
import { webgpuSuite } from './adapter'

const suite = await webgpuSuite('packed runtime, WebGPU path')
const software = (): boolean => suite.available && suite.gpu.report.kind === 'software'

/** Runs the bnas command line in-process and returns what it printed. */
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

/** |got − want| ≤ tol·(1 + |want|) everywhere: float32 rounding of sums in another order, never another function. */
function expectClose(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length)
  let worst = 0
  let at = -1
  for (let i = 0; i < got.length; i++) {
    const excess = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]))
    if (!(excess <= worst)) [worst, at] = [excess, i]
  }
  expect(worst, `${what}: worst at ${at}: ${got[at]} vs ${want[at]}`).toBeLessThanOrEqual(tol)
}

describe('packed paths that run only on request', () => {
  it('are never picked when no path is named, run when named, and describePackedPaths says why', async () => {
    registerPackedPath({
      name: 'test-request-only',
      priority: 1000,
      available: async () => ({ ok: true, onRequestOnly: 'a software device, correct but slow' }),
      createBackend: async () => Object.assign(new ReferenceBackend(), { name: 'test-request-only' })
    })
    const described = (await describePackedPaths()).find((p) => p.name === 'test-request-only')
    expect(described).toEqual({
      name: 'test-request-only',
      priority: 1000,
      ok: true,
      auto: false,
      reason: 'a software device, correct but slow'
    })
    const model = singleStepModel({ op: 'relu', name: 'r', input: 'input', output: 'y' }, [1, 1, 2])
    const auto = await PackedSession.create(model)
    expect(auto.pathName).not.toBe('test-request-only')
    const named = await PackedSession.create(model, { path: 'test-request-only' })
    expect(named.pathName).toBe('test-request-only')
    expect([...(await named.run(new Float32Array([-1, 2]), 1))]).toEqual([0, 2])
  })
})

describe.skipIf(process.platform !== 'linux')('where no adapter exists (Vulkan drivers hidden)', () => {
  it('bnas predict --path webgpu fails with the reason, bench infer says why it did not time webgpu', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bnas-no-gpu-'))
    try {
      const model = singleStepModel({ op: 'relu', name: 'r', input: 'input', output: 'y' }, [2, 2, 3])
      model.meta.classes = 12
      model.summary = { bops: 0, flops: 0 } as PackedModel['summary']
      await writeFile(join(dir, 'm.bnpk'), encodePacked(model))
      await writeFile(join(dir, 'x.json'), JSON.stringify(Array.from({ length: 12 }, (_, i) => i * 20)))
      // VK_ICD_FILENAMES replaces the drivers the Vulkan loader finds (the private lavapipe is not added then).
      const env = { ...process.env, VK_ICD_FILENAMES: join(dir, 'none.json') }
      const bnas = (...args: string[]) =>
        promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main/cli/index.ts', ...args], {
          cwd: resolve(__dirname, '../..'),
          env
        })
      const predict = await bnas('predict', join(dir, 'm.bnpk'), join(dir, 'x.json'), '--path', 'webgpu').catch(
        (error: { stderr: string }) => error
      )
      expect('stderr' in predict ? predict.stderr : '').toMatch(
        /packed runtime path 'webgpu' cannot run here: Dawn found no Vulkan adapter .*scripts\/setup-lavapipe\.sh/
      )
      const bench = await bnas('bench', 'infer', join(dir, 'm.bnpk'), '--batch', '1', '--repeats', '1')
      expect(bench.stdout).toMatch(/packed webgpu +not timed: Dawn found no Vulkan adapter/)
      // The CPU paths are still timed, and the best is one of them (which one depends on the CPU and the model's size).
      expect(bench.stdout).toMatch(/packed wasm-simd +\d+\.\d+ ms/)
      expect(bench.stdout).toMatch(/packed \(best: (native|wasm-simd)\)/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

/** A model of one step on the input (for the session-level checks). */
function singleStepModel(step: PackedStep, shape: Shape3): PackedModel {
  return {
    meta: {
      genotype: ALL_OPS,
      cells: 1,
      channels: 1,
      classes: 1,
      macro: 'cifar',
      inputShape: shape,
      classNames: [],
      normalize: { mean: [], std: [] }
    },
    summary: {} as PackedModel['summary'],
    input: 'input',
    output: step.output,
    steps: [step]
  }
}

/** Output shape of one step from its input shapes (the graph's own shape inference where it takes one input). */
function outputShape(step: PackedStep, inputs: Shape3[]): Shape3 {
  if (step.op === 'add') return inputs[0]
  if (step.op === 'concat') return [inputs[0][0], inputs[0][1], inputs.reduce((sum, s) => sum + s[2], 0)]
  const graph = { meta: { inputShape: inputs[0] }, input: (step as { input: string }).input, steps: [step] }
  return inferShapes(graph as unknown as ExportGraph).get(step.output)!
}

/**
 * Runs one step on a backend directly: prepare, upload the inputs, fill the output with garbage first (every kernel
 * must write every value), execute, read.
 */
async function runStep(backend: PackedBackend, step: PackedStep, inputs: Float32Array[], dims: StepDims) {
  const prepared = backend.prepare(step, { inputs: dims.inputs, output: dims.output })
  const buffers = inputs.map((x) => {
    const buffer = backend.alloc(x.length)
    backend.write(buffer, x)
    return buffer
  })
  const length = dims.batch * dims.output[0] * dims.output[1] * dims.output[2]
  const out = backend.alloc(length)
  backend.write(out, new Float32Array(length).fill(7.25))
  backend.execute(step, prepared, buffers, out, dims)
  const got = await backend.read(out, length)
  for (const buffer of [...buffers, out]) backend.free(buffer)
  return got
}

function bn(c: number, seed: number, affine: boolean): BnParams {
  const rng = createRng(seed)
  return {
    mean: rng.normalArray(c, 0.3),
    variance: rng.uniformArray(c, 0.3, 2),
    ...(affine ? { gamma: rng.uniformArray(c, 0.5, 1.5), beta: rng.normalArray(c, 0.2) } : {})
  }
}

/** A binary conv step with latent weights (some exactly 0, so the mask plane is used) packed as the exporter does. */
function binconv(
  cin: number,
  cout: number,
  g: { kernel: number; stride: 1 | 2; padding: number; dilation: 1 | 2 },
  seed: number
): PackedStep {
  const rng = createRng(seed)
  const weight = rng.normalArray(g.kernel * g.kernel * cin * cout).map((v) => (Math.abs(v) < 0.15 ? 0 : v))
  const { sign, mask } = packConvWeight(weight, g.kernel, cin, cout)
  return {
    op: 'binconv',
    name: 'binconv',
    input: 'x',
    output: 'y',
    bn: bn(cin, seed + 1, true),
    alpha: rng.uniformArray(cout, 0.1, 1),
    cin,
    cout,
    ...g,
    sign,
    ...(mask ? { mask } : {})
  }
}

function conv(
  cin: number,
  cout: number,
  g: { kernel: number; stride: 1 | 2; padding: number; dilation: 1 | 2 },
  bias: boolean,
  seed: number
): PackedStep {
  const rng = createRng(seed)
  return {
    op: 'conv',
    name: 'conv',
    input: 'x',
    output: 'y',
    weight: rng.normalArray(g.kernel * g.kernel * cin * cout, 0.3),
    ...(bias ? { bias: rng.normalArray(cout, 0.5) } : {}),
    cin,
    cout,
    ...g
  }
}

const one = (op: PackedStep['op'], extra: object = {}): PackedStep =>
  ({ op, name: op, input: 'x', output: 'y', ...extra }) as PackedStep

/** Every step kind at the geometries the networks use, on odd sizes where padding matters. */
const STEP_CASES: Array<{ what: string; step: PackedStep; inputs: Shape3[]; shift?: number }> = [
  { what: 'bn, affine', step: one('bn', { bn: bn(5, 1, true) }), inputs: [[7, 5, 5]] },
  { what: 'bn, not affine, 37 channels', step: one('bn', { bn: bn(37, 2, false) }), inputs: [[3, 4, 37]] },
  {
    what: 'conv 3×3 stem (3 → 8)',
    step: conv(3, 8, { kernel: 3, stride: 1, padding: 1, dilation: 1 }, false, 3),
    inputs: [[7, 5, 3]]
  },
  {
    what: 'conv 1×1 preprocess (12 → 6)',
    step: conv(12, 6, { kernel: 1, stride: 1, padding: 0, dilation: 1 }, false, 4),
    inputs: [[6, 6, 12]]
  },
  {
    what: 'conv 2×2 stride 2 residual with bias (6 → 12)',
    step: conv(6, 12, { kernel: 2, stride: 2, padding: 0, dilation: 1 }, true, 5),
    inputs: [[8, 6, 6]]
  },
  {
    what: 'conv 3×3 stride 2 dilation 2 with bias',
    step: conv(5, 7, { kernel: 3, stride: 2, padding: 2, dilation: 2 }, true, 6),
    inputs: [[9, 7, 5]]
  },
  {
    what: 'conv 5×5 (33 → 4)',
    step: conv(33, 4, { kernel: 5, stride: 1, padding: 2, dilation: 1 }, false, 7),
    inputs: [[5, 6, 33]]
  },
  { what: 'relu', step: one('relu'), inputs: [[7, 5, 3]] },
  // Mostly negative inputs: a max pool padded with 0 instead of −∞ would give 0 at the border.
  { what: 'maxpool stride 1', step: one('maxpool', { stride: 1 }), inputs: [[7, 5, 4]], shift: -2 },
  { what: 'maxpool stride 2', step: one('maxpool', { stride: 2 }), inputs: [[7, 5, 4]], shift: -2 },
  // Nonzero mean: an average that counted the padding (count_include_pad=True) would differ at the border.
  { what: 'avgpool stride 1', step: one('avgpool', { stride: 1 }), inputs: [[7, 5, 4]], shift: 3 },
  { what: 'avgpool stride 2', step: one('avgpool', { stride: 2 }), inputs: [[7, 5, 4]], shift: 3 },
  { what: 'zero stride 1', step: one('zero', { stride: 1 }), inputs: [[7, 5, 4]] },
  { what: 'zero stride 2', step: one('zero', { stride: 2 }), inputs: [[7, 5, 4]] },
  {
    what: 'add',
    step: { op: 'add', name: 'add', inputs: ['a', 'b'], output: 'y' },
    inputs: [
      [4, 3, 6],
      [4, 3, 6]
    ]
  },
  {
    what: 'concat of 3 (5 + 3 + 40 channels)',
    step: { op: 'concat', name: 'concat', inputs: ['a', 'b', 'c'], output: 'y' },
    inputs: [
      [3, 5, 5],
      [3, 5, 3],
      [3, 5, 40]
    ]
  },
  { what: 'global average pool', step: one('gap'), inputs: [[7, 5, 9]], shift: 1 },
  {
    what: 'linear (9 → 4)',
    step: one('linear', {
      weight: createRng(8).normalArray(36),
      bias: createRng(9).normalArray(4),
      inFeatures: 9,
      outFeatures: 4
    }),
    inputs: [[1, 1, 9]]
  },
  {
    what: 'binconv 3×3 (37 → 9, mask plane)',
    step: binconv(37, 9, { kernel: 3, stride: 1, padding: 1, dilation: 1 }, 10),
    inputs: [[7, 6, 37]]
  },
  {
    what: 'binconv 5×5 stride 2',
    step: binconv(12, 8, { kernel: 5, stride: 2, padding: 2, dilation: 1 }, 11),
    inputs: [[7, 6, 12]]
  },
  {
    what: 'binconv 3×3 dilation 2',
    step: binconv(6, 6, { kernel: 3, stride: 1, padding: 2, dilation: 2 }, 12),
    inputs: [[7, 6, 6]]
  },
  {
    what: 'binconv 5×5 stride 2 dilation 2',
    step: binconv(40, 5, { kernel: 5, stride: 2, padding: 4, dilation: 2 }, 13),
    inputs: [[8, 8, 40]]
  }
]

const NETWORKS = [
  // 4 cells: normal, reduction, reduction, normal: every op at stride 1 and 2, both skip kinds, stem conv 3×3.
  { what: 'ALL_OPS, CIFAR macro, 4 cells, C = 6, 16×16×3', cells: 4, channels: 6, macro: 'cifar', shape: [16, 16, 3] },
  // Wider cells (up to 48 channels: two words per pixel) behind the ImageNet stems' stride-2 float convs.
  {
    what: 'ALL_OPS, ImageNet macro, 3 cells, C = 12, 32×32×3',
    cells: 3,
    channels: 12,
    macro: 'imagenet',
    shape: [32, 32, 3]
  }
] as const

describe.skipIf(!suite.available)(`packed runtime on WebGPU${suite.skipReason}`, () => {
  let gpu: WebGpuBackend
  const reference = new ReferenceBackend()

  beforeAll(async () => {
    await initBackend('cpu')
    gpu = await WebGpuBackend.create()
  })
  afterAll(() => gpu?.dispose())

  describe('each step kind equals the reference, batch 1 and 2', () => {
    for (const { what, step, inputs, shift } of STEP_CASES) {
      it(what, async () => {
        const output = outputShape(step, inputs)
        for (const batch of [1, 2]) {
          const rng = createRng(batch * 100 + what.length)
          const xs = inputs.map(([h, w, c]) => rng.normalArray(batch * h * w * c).map((v) => v + (shift ?? 0)))
          const dims = { batch, inputs, output }
          const want = await runStep(reference, step, xs, dims)
          const got = await runStep(gpu, step, xs, dims)
          // Binary convs: α times an exact integer dot on both sides; floats: sums in another order.
          expectClose(got, want, step.op === 'binconv' ? 1e-6 : 1e-5, `${what}, batch ${batch}`)
        }
      })
    }
  })

  describe('exported networks predict as the reference and wasm-simd paths and the engine', () => {
    for (const spec of NETWORKS) {
      it(spec.what, async () => {
        const shape = [...spec.shape] as Shape3
        const net: FinalNetwork = perturbedNetwork({
          cells: spec.cells,
          channels: spec.channels,
          macro: spec.macro,
          classes: 5,
          seed: 3
        })
        try {
          const meta: ModelMeta = {
            genotype: ALL_OPS,
            cells: spec.cells,
            channels: spec.channels,
            classes: 5,
            macro: spec.macro,
            inputShape: shape,
            classNames: [],
            normalize: { mean: [], std: [] }
          }
          // Through the file format, as a user's .bnpk reaches the runtime.
          const model = decodePacked(encodePacked(packNetwork(net, meta).model))
          const ops = new Set(model.steps.map((s) => s.op))
          for (const op of [
            'binconv',
            'conv',
            'bn',
            'relu',
            'maxpool',
            'avgpool',
            'zero',
            'add',
            'concat',
            'gap',
            'linear'
          ])
            expect(ops, op).toContain(op)
          const sessions = await Promise.all(
            ['webgpu', 'reference', 'wasm-simd'].map((path) => PackedSession.create(model, { path }))
          )
          try {
            for (const batch of [1, 3]) {
              const images = randomImages(batch, shape, 40 + batch)
              const [got, ref, wasm] = await Promise.all(sessions.map((s) => s.run(images, batch)))
              const engine = engineLogits(net, images, batch, shape)
              for (const [name, want] of [
                ['reference', ref],
                ['wasm-simd', wasm],
                ['engine', engine]
              ] as const) {
                expect(maxAbsDiff(got, want), `batch ${batch} vs ${name}`).toBeLessThan(1e-4)
                expect(argmaxRows(got, 5), `batch ${batch} vs ${name}`).toEqual(argmaxRows(want, 5))
              }
            }
          } finally {
            for (const s of sessions) s.dispose()
          }
        } finally {
          net.dispose()
        }
      })
    }
  })

  it('reuses its GPU buffers: repeated and concurrent runs create none and give the same logits', async () => {
    const net = perturbedNetwork({ cells: 3, channels: 4, classes: 5, seed: 5 })
    const meta: ModelMeta = {
      genotype: ALL_OPS,
      cells: 3,
      channels: 4,
      classes: 5,
      macro: 'cifar',
      inputShape: [8, 8, 3],
      classNames: [],
      normalize: { mean: [], std: [] }
    }
    const model = packNetwork(net, meta).model
    net.dispose()
    const session = await PackedSession.create(model, { path: 'webgpu' })
    try {
      const backend = session.backend as WebGpuBackend
      const images = randomImages(2, [8, 8, 3], 1)
      const first = await session.run(images, 2)
      const count = backend.bufferCount
      for (let i = 0; i < 3; i++) expect([...(await session.run(images, 2))]).toEqual([...first])
      expect(backend.bufferCount).toBe(count)
      const other = randomImages(2, [8, 8, 3], 2)
      const [a, b] = await Promise.all([session.run(images, 2), session.run(other, 2)])
      expect([...a]).toEqual([...first])
      expect([...b]).toEqual([...(await session.run(other, 2))])
      // Another batch size: new size classes at most, the earlier ones stay.
      expect((await session.run(images.subarray(0, 192), 1)).length).toBe(5)
      expect([...(await session.run(images, 2))]).toEqual([...first])
    } finally {
      session.dispose()
    }
  })

  it('the buffer pool hands each run the buffers of the run before (so bind groups stay valid), by size class', () => {
    const pool = new GpuBufferPool(gpu.device, GPUBufferUsage.STORAGE, 'test pool', 4096)
    try {
      expect([100, 256, 257, 1000, 1025, 3000].map(GpuBufferPool.sizeClass)).toEqual([256, 256, 320, 1024, 1280, 3072])
      const run = (freeOrder: number[]): GPUBuffer[] => {
        const taken = [1000, 1000, 900, 300].map((bytes) => pool.take(bytes))
        freeOrder.forEach((i) => pool.give(taken[i]))
        return taken
      }
      const first = run([3, 0, 2, 1])
      // By identity (toEqual would find any two buffers of one size equal).
      const same = (buffers: GPUBuffer[]): number[] => buffers.map((b) => first.indexOf(b))
      expect(new Set(first).size).toBe(4)
      expect(same(run([1, 2, 0, 3]))).toEqual([0, 1, 2, 3])
      expect(same(run([0, 1, 2, 3]))).toEqual([0, 1, 2, 3])
      expect(pool.count).toBe(4)
      // Past the idle limit (4 KiB here) given-back buffers are destroyed, not kept.
      const big = pool.take(4000)
      pool.give(big)
      expect(pool.count).toBe(4)
    } finally {
      pool.dispose()
    }
  })

  it('a step encoded twice before a read, at two batch sizes, sees each its own parameters', async () => {
    // The second execute rewrites the step's uniforms; the first (the larger batch, so stale parameters would leave
    // its second image unwritten) must already be submitted with its own.
    const step = one('avgpool', { stride: 2 })
    const shape: Shape3 = [5, 4, 3]
    const out: Shape3 = [3, 2, 3]
    const prepared = gpu.prepare(step, { inputs: [shape], output: out })
    const batches = [2, 1]
    const runs = batches.map((batch) => {
      const x = createRng(batch).normalArray(batch * 60)
      const [xt, yt] = [gpu.alloc(x.length), gpu.alloc(batch * 18)]
      gpu.write(xt, x)
      gpu.write(yt, new Float32Array(batch * 18).fill(7.25))
      return { batch, x, xt, yt }
    })
    for (const { batch, xt, yt } of runs) gpu.execute(step, prepared, [xt], yt, { batch, inputs: [shape], output: out })
    for (const { batch, x, yt } of runs) {
      const want = await runStep(reference, step, [x], { batch, inputs: [shape], output: out })
      expectClose(await gpu.read(yt, want.length), want, 1e-6, `batch ${batch}`)
    }
    for (const { xt, yt } of runs) [xt, yt].forEach((t) => gpu.free(t))
  })

  it('a software adapter runs only when named; a hardware one is chosen first', async () => {
    const model = singleStepModel({ op: 'relu', name: 'r', input: 'input', output: 'y' }, [2, 2, 1])
    const status = (await describePackedPaths()).find((p) => p.name === 'webgpu')!
    expect(status.ok).toBe(true)
    const auto = await PackedSession.create(model)
    if (software()) {
      expect(status).toMatchObject({ auto: false, reason: expect.stringMatching(/^software adapter: .*--path webgpu/) })
      expect(auto.pathName).not.toBe('webgpu')
    } else {
      expect(status.auto).toBe(true)
      expect(auto.pathName).toBe('webgpu')
    }
    const named = await PackedSession.create(model, { path: 'webgpu' })
    expect(named.pathName).toBe('webgpu')
    expect([...(await named.run(new Float32Array([-1, 2, -3, 4]), 1))]).toEqual([0, 2, 0, 4])
    named.dispose()
  })

  it('bnas predict --path webgpu runs it; bnas bench infer times it beside the others, with the adapter and its note', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bnas-webgpu-cli-'))
    const net = perturbedNetwork({ cells: 3, channels: 4, classes: 5, seed: 9 })
    try {
      const shape: Shape3 = [8, 8, 3]
      const meta: ModelMeta = {
        genotype: ALL_OPS,
        cells: 3,
        channels: 4,
        classes: 5,
        macro: 'cifar',
        inputShape: shape,
        classNames: ['a', 'b', 'c', 'd', 'e'],
        normalize: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }
      }
      const file = join(dir, 'm.bnpk')
      await writeFile(file, encodePacked(packNetwork(net, meta).model))
      await writeFile(join(dir, 'x.json'), JSON.stringify(Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 29) % 256)))
      const onGpu = await runPredict(file, join(dir, 'x.json'), { path: 'webgpu' })
      const byDefault = await runPredict(file, join(dir, 'x.json'))
      expect(onGpu.runtime).toBe('packed/webgpu')
      // On a software adapter the default is the best CPU path (native where the addon is built); on a GPU, webgpu.
      const cpuPath = nativeAddonStatus().available ? 'packed/native' : 'packed/wasm-simd'
      expect(byDefault.runtime).toBe(software() ? cpuPath : 'packed/webgpu')
      expect(maxAbsDiff(onGpu.logits as number[], byDefault.logits as number[])).toBeLessThan(1e-4)
      expect(onGpu.prediction).toMatchObject({ class: (byDefault.prediction as { class: number }).class })
      await expect(runPredict(dir, join(dir, 'x.json'), { path: 'webgpu' })).rejects.toThrow(
        /--path chooses a path of the packed runtime: the model must be a \.bnpk file/
      )

      const flags = { cells: '3', channels: '4', input: '8x8x3', classes: '5', macro: 'cifar', batch: '2' }
      const bench = await runBenchInfer(file, { ...flags, threads: '1', repeats: '2', json: true })
      expect(bench.paths.webgpu).toBeGreaterThan(0)
      expect(bench.webgpu).toMatchObject({ available: true, kind: suite.available ? suite.gpu.report.kind : '' })
      if (software()) {
        expect(bench.webgpu).toMatchObject({ note: expect.stringMatching(/correctness, not speed/) })
        expect(bench.packedPath).not.toBe('webgpu')
      }
      const text = await cli('bench', 'infer', file, '--batch', '1', '--repeats', '1')
      expect(text).toMatch(/packed webgpu +[\d.]+ ms \((software|discrete|integrated|unknown) adapter/)
      if (software())
        expect(text).toMatch(/\n +figures for correctness, not speed: a software adapter computes on the CPU\n/)
    } finally {
      net.dispose()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('errors are clear: input length, disposed session, oversized tensor, a wrong linear, work the GPU rejects', async () => {
    const model = singleStepModel({ op: 'relu', name: 'r', input: 'input', output: 'y' }, [2, 2, 3])
    const session = await PackedSession.create(model, { path: 'webgpu' })
    await expect(session.run(new Float32Array(5), 1)).rejects.toThrow(/expected 1×2×2×3 = 12 input values, got 5/)
    session.dispose()
    await expect(session.run(new Float32Array(12), 1)).rejects.toThrow(/webgpu.*session was disposed/)

    const backend = await WebGpuBackend.create()
    try {
      const limit = backend.device.limits.maxStorageBufferBindingSize
      expect(() => backend.alloc(limit / 4 + 1)).toThrow(
        /exceeds this adapter's largest storage binding .*smaller batch/
      )
      const linear = one('linear', {
        weight: new Float32Array(12),
        bias: new Float32Array(4),
        inFeatures: 3,
        outFeatures: 4
      })
      expect(() => backend.prepare(linear, { inputs: [[1, 1, 5]], output: [1, 1, 4] })).toThrow(
        /input has 5 features, the layer takes 3/
      )
      // An output buffer that cannot be bound as storage: the GPU's validation message comes back from read().
      const relu = one('relu')
      const prepared = backend.prepare(relu, { inputs: [[1, 1, 4]], output: [1, 1, 4] })
      const x = backend.alloc(4)
      expect(() => backend.write(x, new Float32Array(5))).toThrow(/writing 5 values into a tensor of 4/)
      await expect(backend.read(x, 5)).rejects.toThrow(/reading 5 values from a tensor of 4/)
      backend.write(x, new Float32Array(4))
      const bad = {
        buffer: backend.device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }),
        length: 4
      }
      backend.execute(relu, prepared, [x], bad, { batch: 1, inputs: [[1, 1, 4]], output: [1, 1, 4] })
      await expect(backend.read(x, 4)).rejects.toThrow(/webgpu\): the GPU rejected the work: /)
      bad.buffer.destroy()
    } finally {
      backend.dispose()
    }
  })
  // Last: it destroys the shared device (the suite's backend is not used after it).
  it('a lost device is reported, and the next session gets a new device from an adapter of its own', async () => {
    // Someone else (the engine, another test) takes a device from the adapter acquireNodeGpu() shares: an adapter
    // gives only one, so the path must not rely on it.
    if (suite.available) await suite.gpu.adapter.requestDevice().catch(() => undefined)
    const old = await WebGpuBackend.create()
    old.device.destroy()
    await old.device.lost
    expect(() => old.alloc(4)).toThrow(/webgpu\): the GPU device was lost .*open the model again/)
    const model = singleStepModel({ op: 'relu', name: 'r', input: 'input', output: 'y' }, [1, 1, 3])
    const session = await PackedSession.create(model, { path: 'webgpu' })
    expect((session.backend as WebGpuBackend).device).not.toBe(old.device)
    expect([...(await session.run(new Float32Array([1, -2, 3]), 1))]).toEqual([1, 0, 3])
    session.dispose()
    old.dispose()
  })
})
