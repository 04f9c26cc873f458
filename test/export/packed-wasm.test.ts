// The wasm-simd path of the packed runtime, kernel by kernel against the pure-TS reference (reference.ts), on every
// geometry the method has and the edges the kernels special-case: odd channel counts (word and 4-lane tails), odd
// image sizes (pixel-block tails), batch 1 and 3, exact zeros in activations and weights (the two-plane path),
// out-of-image taps (the one-plane path's correction), streams longer than 31 words (the u8 lanes' widening), and BN
// → sign at the exact thresholds where the sign changes. Binary convs must give the same integer dots, hence the same
// floats; float steps agree to 1e-5 of the output's scale (the reference sums in float64).
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { createRng } from '../../src/main/engine/nn'
import type { BnParams } from '../../src/main/export/graph'
import { packConvWeight, wordsFor } from '../../src/main/export/packed/bits'
import type { PackedStep } from '../../src/main/export/packed/format'
import { inferShapes, stepInputs, type ExportGraph, type ModelMeta } from '../../src/main/export/steps'
import { PackedSession } from '../../src/main/export/packed/runtime'
import {
  bnInverse,
  bnSignPack,
  executeReference,
  prepareReference
} from '../../src/main/export/packed/runtime/reference'
import type { Shape3, StepDims } from '../../src/main/export/packed/runtime/types'
import { bnThresholds, timeWasmKernel, WasmBackend } from '../../src/main/export/packed/runtime/wasm'
import { packNetwork } from '../../src/main/export'
import { argmaxRows, engineLogits, maxAbsDiff, perturbedNetwork, randomImages } from './fixture'

beforeAll(async () => {
  await initBackend('cpu')
})

type Rng = ReturnType<typeof createRng>

function randomBn(rng: Rng, c: number, affine = true): BnParams {
  const bn: BnParams = { mean: rng.normalArray(c, 0.3), variance: rng.uniformArray(c, 0.3, 2) }
  if (affine) {
    // Negative and zero γ too: BN then decreases in x, or is constant.
    bn.gamma = rng.uniformArray(c, -1.5, 1.5).map((g, i) => (i % 7 === 3 ? 0 : g))
    bn.beta = rng.normalArray(c, 0.2)
  }
  return bn
}

/** Runs one step on a fresh wasm backend (output pre-filled with NaN, so an unwritten value shows) and on the reference. */
async function both(
  step: PackedStep,
  inputs: Float32Array[],
  dims: StepDims
): Promise<{ got: Float32Array; want: Float32Array }> {
  const [ho, wo, co] = dims.output
  const size = dims.batch * ho * wo * co
  const want = new Float32Array(size)
  executeReference(step, prepareReference(step), inputs, want, dims)
  const backend = await WasmBackend.create()
  try {
    const prepared = backend.prepare(step)
    const bufs = inputs.map((data) => {
      const b = backend.alloc(data.length)
      backend.write(b, data)
      return b
    })
    const y = backend.alloc(size)
    backend.write(y, new Float32Array(size).fill(NaN))
    backend.execute(step, prepared, bufs, y, dims)
    return { got: backend.read(y, size), want }
  } finally {
    backend.dispose()
  }
}

function outSize(n: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1
}

interface BinCase {
  k: number
  stride: 1 | 2
  pad: number
  dil: 1 | 2
  h: number
  w: number
  cin: number
  cout: number
  batch: number
  /** 'x': exact zeros after BN; 'w': zero weights (a weight mask); 'none': the one-plane path everywhere. */
  zeros: 'none' | 'x' | 'w'
}

const binCases: BinCase[] = [
  // The network's geometries: 1x1 preprocess, 3x3 and 5x5 convs, dilated 3x3 (5 taps wide) and 5x5 (9 wide), s1 / s2.
  { k: 1, stride: 1, pad: 0, dil: 1, h: 6, w: 5, cin: 36, cout: 36, batch: 1, zeros: 'none' },
  { k: 1, stride: 1, pad: 0, dil: 1, h: 5, w: 7, cin: 65, cout: 5, batch: 3, zeros: 'x' },
  { k: 3, stride: 1, pad: 1, dil: 1, h: 7, w: 9, cin: 36, cout: 36, batch: 1, zeros: 'none' },
  { k: 3, stride: 1, pad: 1, dil: 1, h: 8, w: 8, cin: 33, cout: 9, batch: 3, zeros: 'none' },
  { k: 3, stride: 2, pad: 1, dil: 1, h: 9, w: 7, cin: 5, cout: 13, batch: 3, zeros: 'none' },
  { k: 3, stride: 1, pad: 2, dil: 2, h: 8, w: 8, cin: 72, cout: 12, batch: 1, zeros: 'none' },
  { k: 3, stride: 2, pad: 2, dil: 2, h: 9, w: 9, cin: 3, cout: 7, batch: 3, zeros: 'x' },
  { k: 5, stride: 1, pad: 2, dil: 1, h: 6, w: 7, cin: 36, cout: 8, batch: 1, zeros: 'w' },
  { k: 5, stride: 2, pad: 2, dil: 1, h: 7, w: 6, cin: 65, cout: 6, batch: 3, zeros: 'none' },
  { k: 5, stride: 1, pad: 4, dil: 2, h: 9, w: 8, cin: 36, cout: 4, batch: 1, zeros: 'none' },
  { k: 5, stride: 2, pad: 4, dil: 2, h: 8, w: 9, cin: 33, cout: 5, batch: 3, zeros: 'x' },
  // 7 and 9 taps wide without dilation, streams of 46 and 51 words (> 31: the u8 lanes are widened mid-stream).
  { k: 7, stride: 1, pad: 3, dil: 1, h: 7, w: 7, cin: 36, cout: 5, batch: 1, zeros: 'none' },
  { k: 9, stride: 1, pad: 4, dil: 1, h: 9, w: 10, cin: 36, cout: 8, batch: 1, zeros: 'none' },
  { k: 5, stride: 1, pad: 2, dil: 1, h: 5, w: 6, cin: 130, cout: 4, batch: 3, zeros: 'none' },
  { k: 9, stride: 2, pad: 4, dil: 1, h: 8, w: 8, cin: 5, cout: 3, batch: 3, zeros: 'w' },
  // No padding (every pixel inside) and more padding than the kernel needs (whole rows of taps outside).
  { k: 3, stride: 1, pad: 0, dil: 1, h: 6, w: 9, cin: 36, cout: 16, batch: 1, zeros: 'none' },
  { k: 3, stride: 1, pad: 3, dil: 1, h: 4, w: 5, cin: 36, cout: 8, batch: 3, zeros: 'none' },
  // A 1x1 image with a 3x3 kernel: only the centre tap inside.
  { k: 3, stride: 1, pad: 1, dil: 1, h: 1, w: 1, cin: 33, cout: 5, batch: 3, zeros: 'none' }
]

describe('wasm-simd binary conv: the same integer dots as the reference', () => {
  for (const c of binCases) {
    const name = `k${c.k} s${c.stride} p${c.pad} d${c.dil}, ${c.h}x${c.w}x${c.cin} -> ${c.cout}, batch ${c.batch}, zeros: ${c.zeros}`
    it(name, async () => {
      const rng = createRng(c.k * 1000 + c.cin * 10 + c.cout + c.batch)
      const bn = randomBn(rng, c.cin)
      const inv = bnInverse(bn)
      const x = rng.normalArray(c.batch * c.h * c.w * c.cin)
      if (c.zeros === 'x') {
        // Exact zeros after BN: x = mean gives (x - mean) = 0, so BN gives β·0 + β... use β = 0 on those channels.
        bn.beta = bn.beta!.map((b, ch) => (ch % 3 === 0 ? 0 : b))
        for (let i = 0; i < x.length; i += 5) if ((i % c.cin) % 3 === 0) x[i] = bn.mean[i % c.cin]
      }
      const weight = rng
        .normalArray(c.k * c.k * c.cin * c.cout)
        .map((v) => (c.zeros === 'w' && Math.abs(v) < 0.3 ? 0 : v || 1))
      const { sign, mask } = packConvWeight(weight, c.k, c.cin, c.cout)
      expect(mask !== undefined).toBe(c.zeros === 'w')
      const step: PackedStep = {
        op: 'binconv',
        name: 'c',
        input: 'x',
        output: 'y',
        bn,
        alpha: rng.uniformArray(c.cout, 0.1, 1),
        sign,
        ...(mask ? { mask } : {}),
        kernel: c.k,
        stride: c.stride,
        padding: c.pad,
        dilation: c.dil,
        cin: c.cin,
        cout: c.cout
      }
      const dims: StepDims = {
        batch: c.batch,
        inputs: [[c.h, c.w, c.cin]],
        output: [outSize(c.h, c.k, c.stride, c.pad, c.dil), outSize(c.w, c.k, c.stride, c.pad, c.dil), c.cout]
      }
      const planes = bnSignPack(x, c.batch * c.h * c.w, c.cin, { ...bn, inv })
      const zerosAfterBn = [...planes.mask].reduce((n, m, i) => {
        const end = Math.min(32, c.cin - (i % wordsFor(c.cin)) * 32)
        return n + end - popcount(m)
      }, 0)
      expect(zerosAfterBn > 0).toBe(c.zeros === 'x')
      const { got, want } = await both(step, [x], dims)
      expect(got.length).toBe(want.length)
      expect([...got]).toEqual([...want])
      expect(want.some((v) => v > 0)).toBe(true)
    })
  }
})

describe('wasm-simd binary conv: the u8 popcount lanes do not overflow', () => {
  // Every bit differing: 8 per byte per word, so a lane not widened within 31 words overflows. Streams of 46 words
  // (9x9 taps x 36 channels) and 99 words (3x3 x 700 channels: three widenings).
  for (const [k, cin, h, w] of [
    [9, 36, 9, 9],
    [3, 700, 3, 4]
  ]) {
    it(`${k}x${k} taps x ${cin} channels`, async () => {
      const cout = 4
      // BN of x = −1 is negative on every channel; every weight is +1: each tap's bits all differ.
      const bn: BnParams = { mean: new Float32Array(cin), variance: new Float32Array(cin).fill(1 - 1e-5) }
      const { sign } = packConvWeight(new Float32Array(k * k * cin * cout).fill(1), k, cin, cout)
      const pad = (k - 1) / 2
      const step: PackedStep = {
        op: 'binconv',
        name: 'c',
        input: 'x',
        output: 'y',
        bn,
        alpha: new Float32Array(cout).fill(-1),
        sign,
        kernel: k,
        stride: 1,
        padding: pad,
        dilation: 1,
        cin,
        cout
      }
      const x = new Float32Array(h * w * cin).fill(-1)
      const { got, want } = await both(step, [x], { batch: 1, inputs: [[h, w, cin]], output: [h, w, cout] })
      // A pixel with every tap inside: dot = −k²·cin, y = ReLU(−1 · dot).
      expect(want[(pad * w + pad) * cout]).toBe(k * k * cin)
      expect([...got]).toEqual([...want])
    })
  }
})

describe('wasm-simd kernels on strided views (the compiled plan: concat slices, fused node adds)', () => {
  /** `data` [pixels][c] laid into a wider buffer [pixels][stride] at channel `offset`; the rest is `fill`. */
  const widen = (data: Float32Array, c: number, stride: number, offset: number, fill: number): Float32Array => {
    const pixels = data.length / c
    const out = new Float32Array(pixels * stride).fill(fill)
    for (let p = 0; p < pixels; p++) out.set(data.subarray(p * c, (p + 1) * c), p * stride + offset)
    return out
  }
  const slice = (data: Float32Array, c: number, stride: number, offset: number): Float32Array => {
    const pixels = data.length / stride
    const out = new Float32Array(pixels * c)
    for (let p = 0; p < pixels; p++) out.set(data.subarray(p * stride + offset, p * stride + offset + c), p * c)
    return out
  }

  it('binary conv: strided input, output into a channel slice, accumulate adds to what is there (bit for bit)', async () => {
    const [h, w, cin, cout, batch] = [7, 6, 33, 9, 3]
    const rng = createRng(77)
    const bn = randomBn(rng, cin)
    const { sign } = packConvWeight(
      rng.normalArray(9 * cin * cout).map((v) => v || 1),
      3,
      cin,
      cout
    )
    const step = {
      op: 'binconv' as const,
      name: 'c',
      input: 'x',
      output: 'y',
      bn,
      alpha: rng.uniformArray(cout, 0.1, 1),
      sign,
      kernel: 3,
      stride: 1 as const,
      padding: 1,
      dilation: 1 as const,
      cin,
      cout
    }
    const dims: StepDims = { batch, inputs: [[h, w, cin]], output: [h, w, cout] }
    const x = rng.normalArray(batch * h * w * cin)
    const base = rng.normalArray(batch * h * w * cout)
    const conv = new Float32Array(batch * h * w * cout)
    executeReference(step, prepareReference(step), [x], conv, dims)
    const backend = await WasmBackend.create()
    try {
      const prepared = backend.prepare(step)
      const [xs, xo, ys, yo] = [cin + 3, 2, cout + 7, 5]
      const xb = backend.alloc(batch * h * w * xs)
      backend.write(xb, widen(x, cin, xs, xo, NaN))
      for (const accumulate of [false, true]) {
        const yb = backend.alloc(batch * h * w * ys)
        backend.write(yb, widen(base, cout, ys, yo, -7))
        backend.run(
          step,
          prepared,
          [{ ptr: xb.ptr + xo * 4, stride: xs }],
          { ptr: yb.ptr + yo * 4, stride: ys },
          dims,
          {
            accumulate
          }
        )
        const out = backend.read(yb, batch * h * w * ys)
        const want = accumulate ? base.map((b, i) => Math.fround(b + conv[i])) : conv
        expect([...slice(out, cout, ys, yo)]).toEqual([...want])
        // Nothing outside the slice was written.
        expect([...slice(out, yo, ys, 0)].every((v) => v === -7)).toBe(true)
        expect([...slice(out, ys - yo - cout, ys, yo + cout)].every((v) => v === -7)).toBe(true)
      }
    } finally {
      backend.dispose()
    }
  })

  it('BN, ReLU, add, pools, zero and copy read and write strided views', async () => {
    const [h, w, c, batch] = [5, 7, 6, 3]
    const rng = createRng(78)
    const shape: Shape3 = [h, w, c]
    const x = rng.normalArray(batch * h * w * c)
    const z = rng.normalArray(batch * h * w * c)
    const steps: Array<[PackedStep, Float32Array[], Shape3]> = [
      [{ op: 'bn', name: 'b', input: 'x', output: 'y', bn: randomBn(rng, c) }, [x], shape],
      [{ op: 'relu', name: 'r', input: 'x', output: 'y' }, [x], shape],
      [{ op: 'add', name: 'a', inputs: ['x', 'z'], output: 'y' }, [x, z], shape],
      [{ op: 'maxpool', name: 'm', input: 'x', output: 'y', stride: 2 }, [x], [3, 4, c]],
      [{ op: 'avgpool', name: 'v', input: 'x', output: 'y', stride: 1 }, [x], shape],
      [{ op: 'zero', name: 'z', input: 'x', output: 'y', stride: 1 }, [x], shape]
    ]
    const backend = await WasmBackend.create()
    try {
      for (const [step, inputs, out] of steps) {
        const dims: StepDims = { batch, inputs: inputs.map(() => shape), output: out }
        const size = batch * out[0] * out[1] * c
        const want = new Float32Array(size)
        executeReference(step, prepareReference(step), inputs, want, dims)
        const views = inputs.map((data, i) => {
          const stride = c + 2 + i
          const b = backend.alloc((data.length / c) * stride)
          backend.write(b, widen(data, c, stride, 1 + i, NaN))
          return { ptr: b.ptr + (1 + i) * 4, stride }
        })
        const yb = backend.alloc((size / c) * (c + 4))
        backend.write(yb, new Float32Array((size / c) * (c + 4)).fill(-7))
        backend.run(step as never, backend.prepare(step), views, { ptr: yb.ptr + 3 * 4, stride: c + 4 }, dims)
        const got = slice(backend.read(yb, (size / c) * (c + 4)), c, c + 4, 3)
        expectClose(got, want)
      }
      // copy: a concat part into its slice
      const yb = backend.alloc(batch * h * w * (c + 4))
      const xb = backend.alloc(x.length)
      backend.write(xb, x)
      backend.copy({ ptr: xb.ptr, stride: c }, { ptr: yb.ptr + 4 * 4, stride: c + 4 }, batch * h * w, c)
      expect([...slice(backend.read(yb, batch * h * w * (c + 4)), c, c + 4, 4)]).toEqual([...x])
    } finally {
      backend.dispose()
    }
  })
})

function popcount(v: number): number {
  let n = 0
  for (let u = v >>> 0; u; u &= u - 1) n++
  return n
}

describe('wasm-simd BN → sign → pack by thresholds', () => {
  it('gives the reference planes bit for bit, at each threshold and the floats next to it, γ < 0, γ = 0, no affine', async () => {
    const rng = createRng(5)
    for (const [c, affine] of [
      [37, true],
      [5, false],
      [64, true],
      [4130, true] // past the 4096 channels whose direction bits the pack keeps in a table
    ] as const) {
      const bn = randomBn(rng, c, affine)
      const t = bnThresholds(bn)
      const near = (v: number, steps: number): number => {
        const f = new Float32Array([v])
        const u = new Int32Array(f.buffer)
        u[0] += steps * (v >= 0 ? 1 : -1)
        return f[0]
      }
      // Pixels: random values, then each channel at lo, hi and one and two floats either side, and at 0 and the mean.
      const rows: number[][] = [...Array(4)].map(() => [...rng.normalArray(c, 2)])
      for (const at of [(ch: number) => t.lo[ch], (ch: number) => t.hi[ch]])
        for (const s of [-2, -1, 0, 1, 2])
          rows.push([...Array(c)].map((_, ch) => (Number.isFinite(at(ch)) ? near(at(ch), s) : 0)))
      rows.push(new Array(c).fill(0), [...bn.mean])
      const x = new Float32Array(rows.flat())
      const pixels = rows.length
      const want = bnSignPack(x, pixels, c, { ...bn, inv: bnInverse(bn) })
      const backend = await WasmBackend.create()
      try {
        const k = backend.kernels
        const words = wordsFor(c)
        const at = (data: Float32Array | Uint32Array): number => backend.upload(data)
        const xp = at(x)
        const sp = backend.allocBytes(pixels * words * 4)
        const mp = backend.allocBytes(pixels * words * 4)
        const zeros = k.bn_sign_pack(xp, c, pixels, c, words, at(t.lo), at(t.hi), at(t.dir), sp, mp)
        const view = new Uint32Array(k.memory.buffer)
        expect([...view.slice(sp / 4, sp / 4 + pixels * words)]).toEqual([...want.sign])
        expect([...view.slice(mp / 4, mp / 4 + pixels * words)]).toEqual([...want.mask])
        let wantZeros = 0
        for (let p = 0; p < pixels; p++)
          for (let ch = 0; ch < c; ch++) if (!((want.mask[p * words + (ch >> 5)] >>> (ch & 31)) & 1)) wantZeros++
        expect(zeros).toBe(wantZeros)
        // The threshold rows do produce exact zeros and both signs, so the edges are exercised.
        if (affine) expect(wantZeros).toBeGreaterThan(0)
      } finally {
        backend.dispose()
      }
    }
  })
})

/** max |got − want| ≤ 1e-5 · max(1, max |want|), and no value left unwritten. */
function expectClose(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length)
  expect(got.some((v) => Number.isNaN(v))).toBe(false)
  const scale = Math.max(1, ...[...want].map(Math.abs))
  expect(maxAbsDiff(got, want) / scale).toBeLessThan(1e-5)
}

describe('wasm-simd float steps against the reference (1e-5 of the output scale)', () => {
  const convCases = [
    { k: 3, stride: 1, pad: 1, dil: 1, h: 9, w: 7, cin: 3, cout: 108, bias: false }, // the CIFAR stem
    { k: 2, stride: 2, pad: 0, dil: 1, h: 8, w: 8, cin: 36, cout: 72, bias: true }, // the residual 2x2/s2 conv
    // 92 KB of weights: past the 64 KB the kernel keeps across all blocks, so the block-outermost loop order
    { k: 2, stride: 2, pad: 0, dil: 1, h: 6, w: 10, cin: 72, cout: 76, bias: true },
    { k: 2, stride: 2, pad: 0, dil: 1, h: 9, w: 7, cin: 5, cout: 13, bias: true }, // odd: 8-lane tail, pixel tail
    { k: 3, stride: 2, pad: 1, dil: 1, h: 7, w: 10, cin: 33, cout: 5, bias: false },
    { k: 5, stride: 1, pad: 4, dil: 2, h: 6, w: 5, cin: 7, cout: 9, bias: true },
    { k: 1, stride: 1, pad: 0, dil: 1, h: 3, w: 5, cin: 65, cout: 3, bias: false }
  ] as const
  for (const c of convCases) {
    for (const batch of [1, 3]) {
      it(`conv k${c.k} s${c.stride} p${c.pad} d${c.dil} ${c.h}x${c.w}x${c.cin} -> ${c.cout}${c.bias ? ' + bias' : ''}, batch ${batch}`, async () => {
        const rng = createRng(c.k * 100 + c.cin + batch)
        const step: PackedStep = {
          op: 'conv',
          name: 'c',
          input: 'x',
          output: 'y',
          kernel: c.k,
          stride: c.stride,
          padding: c.pad,
          dilation: c.dil,
          cin: c.cin,
          cout: c.cout,
          weight: rng.normalArray(c.k * c.k * c.cin * c.cout, 0.3),
          ...(c.bias ? { bias: rng.normalArray(c.cout) } : {})
        }
        const dims: StepDims = {
          batch,
          inputs: [[c.h, c.w, c.cin]],
          output: [outSize(c.h, c.k, c.stride, c.pad, c.dil), outSize(c.w, c.k, c.stride, c.pad, c.dil), c.cout]
        }
        const { got, want } = await both(step, [rng.normalArray(batch * c.h * c.w * c.cin)], dims)
        expectClose(got, want)
      })
    }
  }

  for (const [h, w, c] of [
    [7, 5, 5],
    [8, 8, 36]
  ] as const) {
    for (const batch of [1, 3]) {
      const shape: Shape3 = [h, w, c]
      const pixels = batch * h * w
      const rng = createRng(h * w + c + batch)
      const x = rng.normalArray(pixels * c)
      const pool = (op: 'maxpool' | 'avgpool', stride: 1 | 2): [PackedStep, Shape3] => [
        { op, name: op, input: 'x', output: 'y', stride },
        [outSize(h, 3, stride, 1, 1), outSize(w, 3, stride, 1, 1), c]
      ]
      const cases: Array<[string, PackedStep, Float32Array[], Shape3[], Shape3]> = [
        ...(['maxpool', 'avgpool'] as const).flatMap((op) =>
          ([1, 2] as const).map((s): [string, PackedStep, Float32Array[], Shape3[], Shape3] => {
            const [step, out] = pool(op, s)
            return [`${op} s${s}`, step, [x], [shape], out]
          })
        ),
        ['bn (affine)', { op: 'bn', name: 'b', input: 'x', output: 'y', bn: randomBn(rng, c) }, [x], [shape], shape],
        ['bn', { op: 'bn', name: 'b', input: 'x', output: 'y', bn: randomBn(rng, c, false) }, [x], [shape], shape],
        ['relu', { op: 'relu', name: 'r', input: 'x', output: 'y' }, [x], [shape], shape],
        [
          'add',
          { op: 'add', name: 'a', inputs: ['x', 'z'], output: 'y' },
          [x, rng.normalArray(pixels * c)],
          [shape, shape],
          shape
        ],
        [
          'concat of 3, 1 and c channels',
          { op: 'concat', name: 'k', inputs: ['a', 'b', 'x'], output: 'y' },
          [rng.normalArray(pixels * 3), rng.normalArray(pixels), x],
          [[h, w, 3], [h, w, 1], shape],
          [h, w, c + 4]
        ],
        ['zero', { op: 'zero', name: 'z', input: 'x', output: 'y', stride: 1 }, [x], [shape], shape],
        ['gap', { op: 'gap', name: 'g', input: 'x', output: 'y' }, [x], [shape], [1, 1, c]],
        [
          'linear',
          {
            op: 'linear',
            name: 'l',
            input: 'x',
            output: 'y',
            inFeatures: h * w * c,
            outFeatures: 7,
            weight: rng.normalArray(h * w * c * 7, 0.1),
            bias: rng.normalArray(7)
          },
          [x],
          [shape],
          [1, 1, 7]
        ]
      ]
      for (const [name, step, inputs, inShapes, out] of cases) {
        it(`${name}, ${h}x${w}x${c}, batch ${batch}`, async () => {
          const { got, want } = await both(step, inputs, { batch, inputs: inShapes, output: out })
          expectClose(got, want)
        })
      }
    }
  }
})

describe('wasm-simd on an exported network', () => {
  it('every op of the space, odd channel counts (C = 5: 15, 10, 20 ...), batch 1 and 3: as the reference and the engine', async () => {
    const net = perturbedNetwork({ cells: 3, channels: 5, classes: 7, seed: 11 })
    const shape: [number, number, number] = [12, 8, 3]
    try {
      const meta: ModelMeta = {
        genotype: net.genotype,
        cells: 3,
        channels: 5,
        classes: 7,
        macro: 'cifar',
        inputShape: shape,
        classNames: [],
        normalize: { mean: [], std: [] }
      }
      const { model } = packNetwork(net, meta)
      // Sanity: the model has odd channel counts and both strides.
      const shapes = inferShapes(model as unknown as ExportGraph)
      expect(model.steps.some((s) => s.op === 'binconv' && s.stride === 2)).toBe(true)
      expect(model.steps.some((s) => s.op === 'binconv' && (shapes.get(stepInputs(s as never)[0])![2] & 1) === 1)).toBe(
        true
      )
      const wasm = await PackedSession.create(model, { path: 'wasm-simd' })
      const reference = await PackedSession.create(model, { path: 'reference' })
      for (const batch of [1, 3]) {
        const images = randomImages(batch, shape, 30 + batch)
        const got = await wasm.run(images, batch)
        const want = await reference.run(images, batch)
        const engine = engineLogits(net, images, batch, shape)
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-4)
        expect(maxAbsDiff(got, engine)).toBeLessThan(1e-4)
        expect(argmaxRows(got, 7)).toEqual(argmaxRows(engine, 7))
        // Again on the same session: buffers come back from the module's free list (reused, merged), same logits.
        expect([...(await wasm.run(images, batch))]).toEqual([...got])
      }
      wasm.dispose()
      reference.dispose()
    } finally {
      net.dispose()
    }
  })
})

describe("wasm-simd kernel probes (for bench infer's bound)", () => {
  it("time the runtime's binary and float conv kernels on a layer shape and count its MACs", async () => {
    const shape = { h: 8, w: 6, cin: 36, cout: 12, kernel: 3, stride: 1, padding: 1, dilation: 1 }
    const binary = await timeWasmKernel('binary', shape, { budgetMs: 20 })
    expect(binary.macs).toBe(8 * 6 * 9 * 36 * 12)
    expect(binary.ms).toBeGreaterThan(0)
    expect(binary.macsPerS).toBeCloseTo(binary.macs / (binary.ms / 1000))
    const float = await timeWasmKernel('float', { ...shape, kernel: 2, stride: 2, padding: 0 }, { budgetMs: 20 })
    expect(float.macs).toBe(4 * 3 * 4 * 36 * 12)
    expect(Number.isFinite(float.macsPerS) && float.macsPerS > 0).toBe(true)
  })
})

describe("wasm-simd popcount probes (bench infer's binary rate)", () => {
  // The probe times real arithmetic: both forms return counts that follow from the data, computed here bit by bit.
  const popcount64 = (x: bigint): number => popcount(Number(x & 0xffffffffn)) + popcount(Number(x >> 32n))
  it('the scalar loop and the dot block count what the data say', async () => {
    const backend = await WasmBackend.create()
    try {
      const len = 8
      const reps = 7
      const a = backend.allocBytes(5 * len * 8)
      const b = backend.allocBytes(4 * len * 8)
      const view = new BigUint64Array(backend.kernels.memory.buffer)
      const rng = createRng(5)
      const word = (): bigint => (BigInt((rng.next() * 2 ** 32) >>> 0) << 32n) | BigInt((rng.next() * 2 ** 32) >>> 0)
      const s = Array.from({ length: 5 * len }, word)
      const w = Array.from({ length: 4 * len }, word)
      view.set(s, a / 8)
      view.set(w, b / 8)
      let scalar = 0
      let block = 0
      for (let r = 0; r < reps; r++) {
        const at = (r & 1) * len
        for (let i = 0; i < len; i++) scalar += popcount64(s[at + i] ^ w[i])
        // simd_block_4 writes ReLU(64 len − 2 popcount) of pixel p, channel o at p·4 + o; the probe adds entry r & 15.
        const p = (r & 15) >> 2
        const o = r & 3
        let count = 0
        for (let i = 0; i < len; i++) count += popcount64(s[at + 4 * i + p] ^ w[4 * i + o]) // streams interleaved by 4
        block += Math.max(0, 64 * len - 2 * count)
      }
      expect(backend.kernels.probe_popcount(a, b, len, reps, 0)).toBe(scalar)
      expect(backend.kernels.probe_popcount(a, b, len, reps, 1)).toBe(block)
      expect(block).toBeGreaterThan(0)
    } finally {
      backend.dispose()
    }
  })
})
