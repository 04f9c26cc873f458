import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { nativeAddonStatus } from '../../src/main/engine/native/addon'
import { createRng } from '../../src/main/engine/nn'
import { packNetwork } from '../../src/main/export'
import type { BnParams, ConvGeometry, ModelMeta } from '../../src/main/export/steps'
import { packConvWeight } from '../../src/main/export/packed/bits'
import type { PackedModel, PackedStep } from '../../src/main/export/packed/format'
import { PackedSession } from '../../src/main/export/packed/runtime'
import { compileNative, type NativeCompiledModel } from '../../src/main/export/packed/runtime/native'
import { planNative } from '../../src/main/export/packed/runtime/native-plan'
import { LATEST_CELL } from '../../src/shared/genotype'
import { engineLogits, maxAbsDiff, perturbedNetwork, randomImages } from '../export/fixture'
import { nativeSuite } from './compare'

// The native packed session (native/src/packed) against the pure-TS reference path: binary convs are integer dots
// scaled once by α on both, so every binary result must be *equal*, on every kernel the CPU has (AVX-512 VPOPCNTDQ,
// AVX-512BW vpshufb, AVX2 vpshufb, scalar), every geometry of the method, odd sizes and channel counts, batch 1 and 3,
// one and two threads.

const { available, skipReason } = nativeSuite('packed session')
beforeAll(async () => {
  await initBackend('cpu')
})

function geometry(kernel: number, stride: 1 | 2, padding: number, dilation: 1 | 2): Omit<ConvGeometry, 'cin' | 'cout'> {
  return { kernel, stride, padding, dilation }
}

const META: Omit<ModelMeta, 'inputShape'> = {
  genotype: LATEST_CELL,
  cells: 1,
  channels: 1,
  classes: 1,
  macro: 'cifar',
  classNames: [],
  normalize: { mean: [], std: [] }
}

/**
 * An affine BN whose signs are interesting: some γ < 0 (the thresholds' negated side), some β = 0 (so an input equal
 * to the mean gives exactly 0, sign(0) = 0), one γ = 0 when asked (the layer must fall back to the arithmetic).
 */
function randomBn(c: number, seed: number, opts: { zeroGamma?: boolean; affine?: boolean } = {}): BnParams {
  const rng = createRng(seed)
  const mean = rng.normalArray(c, 0.3)
  const variance = rng.uniformArray(c, 0.3, 2)
  if (opts.affine === false) return { mean, variance }
  const gamma = rng.uniformArray(c, 0.5, 1.5).map((g, i) => (i % 5 === 3 ? -g : g))
  const beta = rng.normalArray(c, 0.2).map((b, i) => (i % 3 === 0 ? 0 : b))
  if (opts.zeroGamma) gamma[c - 1] = 0
  return { mean, variance, gamma, beta }
}

function binconvModel(
  g: Omit<ConvGeometry, 'cin' | 'cout'>,
  cin: number,
  cout: number,
  shape: [number, number, number],
  opts: { seed: number; weightZeros?: boolean; zeroGamma?: boolean; affine?: boolean }
): PackedModel {
  const rng = createRng(opts.seed)
  const weight = rng
    .normalArray(g.kernel * g.kernel * cin * cout)
    .map((v) => (opts.weightZeros && Math.abs(v) < 0.3 ? 0 : v || 1))
  const { sign, mask } = packConvWeight(weight, g.kernel, cin, cout)
  const step: PackedStep = {
    op: 'binconv',
    name: 'conv',
    input: 'input',
    output: 'y',
    bn: randomBn(cin, opts.seed + 1, opts),
    alpha: rng.uniformArray(cout, 0.1, 1),
    cin,
    cout,
    ...g,
    sign,
    ...(mask ? { mask } : {})
  }
  return {
    meta: { ...META, inputShape: shape },
    summary: {} as PackedModel['summary'],
    input: 'input',
    output: 'y',
    steps: [step]
  }
}

/** The float32 next to v towards +inf (up) or −inf. */
function nextFloat(v: number, up: boolean): number {
  const bits = new Uint32Array(Float32Array.of(v === 0 ? (up ? 0 : -0) : v).buffer)
  if (v === 0) return new Float32Array(Uint32Array.of(up ? 1 : 0x80000001).buffer)[0]
  bits[0] += v > 0 === up ? 1 : -1
  return new Float32Array(bits.buffer)[0]
}

/**
 * Inputs with exact ties: values equal to their channel's BN mean (BN then gives exactly β, often 0) and the floats
 * right next to it (BN's sign changes there: the packing's thresholds sit on these values).
 */
function inputsFor(model: PackedModel, batch: number, seed: number, ties = true): Float32Array {
  const [h, w, c] = model.meta.inputShape
  const first = model.steps[0] as Extract<PackedStep, { op: 'binconv' | 'bn' }>
  const x = createRng(seed).normalArray(batch * h * w * c)
  for (let i = 0; i < x.length && ties; i++) {
    const mean = first.bn.mean[i % c]
    if (i % 3 === 0) x[i] = mean
    else if (i % 7 === 0) x[i] = nextFloat(mean, true)
    else if (i % 11 === 0) x[i] = nextFloat(mean, false)
  }
  return x
}

async function referenceOf(model: PackedModel, x: Float32Array, batch: number): Promise<Float32Array> {
  const session = await PackedSession.create(model, { path: 'reference' })
  return session.run(x, batch)
}

async function runEachKernel(model: PackedModel, x: Float32Array, batch: number, threads = 1) {
  const compiled = await compileNative(model, { threads })
  const out: Array<[string, Float32Array]> = []
  for (const kernel of kernels) {
    compiled.setKernel(kernel)
    out.push([kernel, await compiled.run(x, batch)])
  }
  compiled.dispose()
  return out
}

// The method's binary ops (spec: 3×3 and 5×5, dilated 3×3 and 5×5 at dilation 2, each at stride 1 in normal cells and
// stride 2 in reduction cells), the cells' 1×1 preprocess and the 3×3 stride-2 preprocess after a reduction, and the
// 7×7 / 9×9 taps of wider kernels.
const GEOMETRIES = [
  ['1×1', geometry(1, 1, 0, 1)],
  ['3×3', geometry(3, 1, 1, 1)],
  ['3×3 s2', geometry(3, 2, 1, 1)],
  ['5×5', geometry(5, 1, 2, 1)],
  ['5×5 s2', geometry(5, 2, 2, 1)],
  ['dil 3×3', geometry(3, 1, 2, 2)],
  ['dil 3×3 s2', geometry(3, 2, 2, 2)],
  ['dil 5×5', geometry(5, 1, 4, 2)],
  ['dil 5×5 s2', geometry(5, 2, 4, 2)],
  ['7×7', geometry(7, 1, 3, 1)],
  ['9×9 s2', geometry(9, 2, 4, 1)]
] as const

const kernels: string[] = []
if (available) {
  const best = nativeAddonStatus()
  if (best.available) {
    const order = ['scalar', 'avx2-vpshufb', 'avx512bw-vpshufb', 'avx512-vpopcntdq', 'amx-int8']
    const probe = await compileNative(binconvModel(geometry(1, 1, 0, 1), 4, 1, [1, 1, 4], { seed: 1 }))
    kernels.push(...order.slice(0, order.indexOf(probe.info().bestBinaryKernel) + 1))
    probe.dispose()
    if (kernels.length < order.length)
      console.warn(`packed session: only ${kernels.join(', ')} tested: this CPU has no faster kernel`)
  }
}

describe.skipIf(!available)(`native packed session: binary convs equal the reference exactly${skipReason}`, () => {
  // Channel counts across word boundaries (3, 36: one word; 65: two; 144: three; 290: five, which the AVX-512 packer
  // takes in two passes of 12 and 7 chunks of 16), outputs across vector boundaries.
  const SIZES: Array<[number, number, [number, number]]> = [
    [3, 9, [7, 9]],
    [36, 36, [8, 8]],
    [65, 41, [5, 7]],
    [144, 17, [4, 4]],
    [290, 19, [3, 5]]
  ]
  for (const [name, g] of GEOMETRIES) {
    for (const [cin, cout, [h, w]] of SIZES) {
      it(`${name}, C ${cin} → ${cout}, ${h}×${w}, batch 1 and 3, with and without exact zeros, every kernel`, async () => {
        const model = binconvModel(g, cin, cout, [h, w, cin], { seed: cin * 31 + g.kernel * 7 + g.stride })
        // Without ties the input has no exact zero after BN: the sign-only streams with geometry masks run.
        for (const [batch, ties] of [
          [1, true],
          [3, true],
          [2, false]
        ] as const) {
          const x = inputsFor(model, batch, batch + cin, ties)
          const want = await referenceOf(model, x, batch)
          for (const [kernel, got] of await runEachKernel(model, x, batch)) {
            expect(Array.from(got), `${kernel}, batch ${batch}, ties ${ties}`).toEqual(Array.from(want))
          }
        }
      })
    }
  }

  // Where the CPU has AMX the session's own choice must be the tiles on the layers they suit (a silent fallback to
  // the popcount kernel would pass every exactness test above): 3×3 and dilated 3×3 at stride 1 on the tiles; 1×1,
  // stride 2 and γ = 0 (no thresholds) on VPOPCNTDQ.
  it.skipIf(!kernels.includes('amx-int8'))(
    `the AMX tiles take the stride-1 k×k layers where the CPU has them${kernels.includes('amx-int8') ? '' : ' (skipped: this CPU or OS has no AMX)'}`,
    async () => {
      const cases: Array<[PackedModel, string]> = [
        [binconvModel(geometry(3, 1, 1, 1), 36, 36, [8, 8, 36], { seed: 21 }), 'amx-int8'],
        [binconvModel(geometry(3, 1, 2, 2), 72, 72, [8, 8, 72], { seed: 22 }), 'amx-int8'],
        [binconvModel(geometry(1, 1, 0, 1), 144, 36, [8, 8, 144], { seed: 23 }), 'avx512-vpopcntdq'],
        [binconvModel(geometry(3, 2, 1, 1), 36, 36, [8, 8, 36], { seed: 24 }), 'avx512-vpopcntdq'],
        [binconvModel(geometry(3, 1, 1, 1), 36, 8, [8, 8, 36], { seed: 25, zeroGamma: true }), 'avx512-vpopcntdq']
      ]
      for (const [model, want] of cases) {
        const compiled = await compileNative(model, { threads: 1 })
        expect(compiled.info().binaryKernel).toBe('amx-int8')
        expect(compiled.probe(1).binary.map((b) => b.kernel)).toEqual([want])
        compiled.dispose()
      }
    }
  )

  it('binary weights that are exactly 0 (the weight mask), a BN without affine parameters, and γ = 0', async () => {
    const cases = [
      binconvModel(geometry(3, 1, 1, 1), 37, 12, [6, 5, 37], { seed: 5, weightZeros: true }),
      binconvModel(geometry(5, 2, 4, 2), 20, 9, [9, 9, 20], { seed: 6, affine: false }),
      // No γ < 0 anywhere: the packers without the xor, one pass and two.
      binconvModel(geometry(3, 1, 1, 1), 150, 10, [4, 6, 150], { seed: 8, affine: false }),
      binconvModel(geometry(1, 1, 0, 1), 290, 19, [3, 5, 290], { seed: 10, affine: false }),
      binconvModel(geometry(3, 1, 1, 1), 70, 8, [5, 5, 70], { seed: 7, zeroGamma: true })
    ]
    for (const model of cases) {
      const x = inputsFor(model, 2, 11)
      const want = await referenceOf(model, x, 2)
      for (const [kernel, got] of await runEachKernel(model, x, 2))
        expect(Array.from(got), kernel).toEqual(Array.from(want))
    }
  })

  it('a run on the worker pool (large runs) equals one on the calling thread (small runs)', async () => {
    const model = binconvModel(geometry(3, 1, 1, 1), 36, 36, [8, 8, 36], { seed: 12 })
    const x = inputsFor(model, 3, 5)
    const compiled = await compileNative(model, { threads: 1 })
    expect(compiled.macsPerImage).toBe(8 * 8 * 36 * 9 * 36)
    const onThread = await compiled.run(x, 3)
    compiled.syncRunMaxMacs = 0
    const onPool = await compiled.run(x, 3)
    expect(Array.from(onPool)).toEqual(Array.from(onThread))
    compiled.dispose()
  })

  it('two threads give the same outputs as one (rows and packing split between them)', async () => {
    const model = binconvModel(geometry(3, 1, 2, 2), 72, 72, [16, 16, 72], { seed: 9 })
    const x = inputsFor(model, 3, 4)
    const [one] = await runEachKernel(model, x, 3, 1)
    const [two] = await runEachKernel(model, x, 3, 2)
    expect(Array.from(two[1])).toEqual(Array.from(one[1]))
  })
})

/**
 * A cell-shaped graph of binary and cheap float steps only (no float conv), so the whole graph must equal the
 * reference exactly: concat by placement, node adds fused into the second binary conv, adds in place, Zeroise, pools.
 */
function cellModel(c: number, shape: [number, number, number]): PackedModel {
  const cin = shape[2]
  let seed = 100
  const bin = (
    name: string,
    input: string,
    from: number,
    to: number,
    g: Omit<ConvGeometry, 'cin' | 'cout'>
  ): PackedStep => {
    const m = binconvModel(g, from, to, [1, 1, from], { seed: seed++ })
    return { ...(m.steps[0] as PackedStep), name, input, output: name } as PackedStep
  }
  const steps: PackedStep[] = [
    { op: 'bn', name: 'bn', input: 'input', output: 'bn', bn: randomBn(cin, 3) },
    bin('p0', 'bn', cin, c, geometry(1, 1, 0, 1)),
    bin('p1', 'input', cin, c, geometry(3, 1, 1, 1)),
    bin('e0', 'p1', c, c, geometry(3, 1, 1, 1)),
    { op: 'maxpool', name: 'e1', input: 'p0', output: 'e1', stride: 1 },
    { op: 'add', name: 'n0', inputs: ['e0', 'e1'], output: 'n0' },
    bin('e2', 'p0', c, c, geometry(3, 1, 2, 2)),
    bin('e3', 'n0', c, c, geometry(5, 1, 2, 1)),
    { op: 'add', name: 'n1', inputs: ['e2', 'e3'], output: 'n1' },
    { op: 'zero', name: 'e4', input: 'p1', output: 'e4', stride: 1 },
    { op: 'avgpool', name: 'e5', input: 'n1', output: 'e5', stride: 1 },
    { op: 'add', name: 'n2', inputs: ['e4', 'e5'], output: 'n2' },
    { op: 'zero', name: 'e6', input: 'n0', output: 'e6', stride: 1 },
    bin('e7', 'n2', c, c, geometry(3, 1, 1, 1)),
    { op: 'add', name: 'n3', inputs: ['e6', 'e7'], output: 'n3' },
    { op: 'concat', name: 'cat', inputs: ['n0', 'n1', 'n2', 'n3'], output: 'cat' },
    { op: 'relu', name: 'r', input: 'n0', output: 'r' },
    bin('skip', 'r', c, 4 * c, geometry(1, 1, 0, 1)),
    { op: 'add', name: 'out', inputs: ['cat', 'skip'], output: 'out' },
    { op: 'maxpool', name: 'down', input: 'out', output: 'down', stride: 2 },
    { op: 'gap', name: 'gap', input: 'down', output: 'gap' },
    {
      op: 'linear',
      name: 'fc',
      input: 'gap',
      output: 'fc',
      inFeatures: 4 * c,
      outFeatures: 3,
      weight: createRng(1).normalArray(12 * c),
      bias: createRng(2).normalArray(3)
    }
  ]
  return {
    meta: { ...META, inputShape: shape },
    summary: {} as PackedModel['summary'],
    input: 'input',
    output: 'fc',
    steps
  }
}

describe.skipIf(!available)(`native packed session: graphs${skipReason}`, () => {
  it('a cell-shaped graph equals the reference exactly, with its concat placed and its adds fused', async () => {
    for (const [c, shape] of [
      [5, [7, 9, 3]],
      [36, [8, 8, 36]]
    ] as Array<[number, [number, number, number]]>) {
      const model = cellModel(c, shape)
      const plan = planNative(model)
      expect(plan.fused).toMatchObject({ concatsPlaced: 1, copies: 0 })
      expect(plan.fused.addsIntoBinconv).toBeGreaterThanOrEqual(2)
      expect(plan.fused.addsInPlace).toBeGreaterThanOrEqual(1)
      // n2 = Zeroise + avg pool of binary conv outputs, n3 = Zeroise + binary conv: neither Zeroise nor add runs.
      expect(plan.fused.zeroAddsFolded).toBe(2)
      for (const batch of [1, 3]) {
        const x = createRng(c + batch).normalArray(batch * shape[0] * shape[1] * shape[2])
        const want = await referenceOf(model, x, batch)
        for (const [kernel, got] of await runEachKernel(model, x, batch)) {
          expect(Array.from(got), `C ${c}, ${kernel}, batch ${batch}`).toEqual(Array.from(want))
        }
      }
    }
  })

  it('x + Zeroise is folded only where x cannot hold −0 (a BN output can: −0 + 0 is +0)', async () => {
    const shape: [number, number, number] = [3, 3, 4]
    const model: PackedModel = {
      meta: { ...META, inputShape: shape },
      summary: {} as PackedModel['summary'],
      input: 'input',
      output: 'sum',
      steps: [
        {
          op: 'bn',
          name: 'bn',
          input: 'input',
          output: 'bn',
          bn: { mean: new Float32Array(4), variance: new Float32Array(4).fill(1 - 1e-5) }
        },
        { op: 'zero', name: 'z', input: 'input', output: 'z', stride: 1 },
        { op: 'add', name: 'sum', inputs: ['bn', 'z'], output: 'sum' }
      ]
    }
    expect(planNative(model).fused.zeroAddsFolded).toBe(0)
    const x = new Float32Array(36).fill(-0)
    const [[, got]] = await runEachKernel(model, x, 1)
    expect(Object.is(got[0], 0)).toBe(true) // +0, as the reference's −0 + 0
    expect(Array.from(got)).toEqual(Array.from(await referenceOf(model, x, 1)))
  })

  it('two threads on one image (rows of each binary conv, pixels of each element-wise step, rows of the pools) equal the reference', async () => {
    const model = cellModel(36, [32, 32, 36])
    const x = createRng(5).normalArray(32 * 32 * 36)
    const want = await referenceOf(model, x, 1)
    for (const [kernel, got] of await runEachKernel(model, x, 1, 2))
      expect(Array.from(got), kernel).toEqual(Array.from(want))
  })

  it('the arena holds the live set, not every tensor: far below the sum of all values', () => {
    const model = cellModel(36, [8, 8, 36])
    const plan = planNative(model)
    const all = model.steps.length * 8 * 8 * 144
    expect(plan.arenaPerImage).toBeLessThan(all / 3)
  })

  it('whole networks (CIFAR and ImageNet macros, every op) predict as the engine at 1e-4, batch 1 and 3', async () => {
    for (const [macro, shape] of [
      ['cifar', [16, 16, 3]],
      ['imagenet', [32, 32, 3]]
    ] as Array<['cifar' | 'imagenet', [number, number, number]]>) {
      const net = perturbedNetwork({ cells: 4, channels: 6, classes: 5, macro })
      try {
        const meta: ModelMeta = {
          ...META,
          genotype: net.genotype,
          cells: 4,
          channels: 6,
          classes: 5,
          macro,
          inputShape: shape
        }
        const { model } = packNetwork(net, meta)
        const compiled = await compileNative(model)
        for (const batch of [1, 3]) {
          const images = randomImages(batch, shape, 40 + batch)
          const want = engineLogits(net, images, batch, shape)
          expect(maxAbsDiff(await compiled.run(images, batch), want), `${macro}, batch ${batch}`).toBeLessThan(1e-4)
        }
        // Packed: 1 bit a binary weight; the float parameters stay float32.
        expect(compiled.info().weightBytes).toBeLessThan(model.summary.float32Bytes)
        compiled.dispose()
      } finally {
        net.dispose()
      }
    }
  })
})

describe.skipIf(!available)(`native packed session: bad input${skipReason}`, () => {
  it('a plan whose regions leave the arena, a wrong input length, a disposed session and an unknown kernel are errors', async () => {
    const model = binconvModel(geometry(3, 1, 1, 1), 8, 4, [4, 4, 8], { seed: 3 })
    const plan = planNative(model)
    const status = nativeAddonStatus()
    if (!status.available) throw new Error(status.reason)
    const addon = status.addon
    expect(() =>
      addon.packedSessionCreate(
        plan.instructions,
        8,
        plan.inputRegion,
        plan.inputPerImage,
        plan.outputRegion,
        plan.outputPerImage
      )
    ).toThrow(/outside the arena/)
    const broken = plan.instructions.map((ins) => ({ ...ins, sign: new Uint32Array(3) }))
    expect(() =>
      addon.packedSessionCreate(
        broken,
        plan.arenaPerImage,
        plan.inputRegion,
        plan.inputPerImage,
        plan.outputRegion,
        plan.outputPerImage
      )
    ).toThrow(/conv.*sign has 3 values, expected 36/)
    const compiled: NativeCompiledModel = await compileNative(model)
    await expect(compiled.run(new Float32Array(5), 1)).rejects.toThrow(/expected 128 input values, got 5/)
    expect(() => compiled.setKernel('avx9000')).toThrow(/unknown binary kernel 'avx9000'/)
    compiled.dispose()
    await expect(compiled.run(new Float32Array(128), 1)).rejects.toThrow(/disposed/)
  })
})
