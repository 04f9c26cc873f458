import * as tf from '@tensorflow/tfjs-core'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { conv2dTorch } from '../../src/main/engine/ops'
import type { BnParams } from '../../src/main/export/graph'
import { packConvWeight, packSigns, unpackSigns, wordsFor } from '../../src/main/export/packed/bits'
import type { PackedModel, PackedStep } from '../../src/main/export/packed/format'
import {
  describePackedPaths,
  packedPaths,
  packedWasmBytes,
  PackedSession,
  ReferenceBackend,
  registerPackedPath
} from '../../src/main/export/packed/runtime'
import { LATEST_CELL } from '../../src/shared/genotype'
import { createRng } from '../../src/main/engine/nn'

beforeAll(async () => {
  await initBackend('cpu')
})

describe('bit-packing convention', () => {
  it('32 values a word, LSB first; sign bit 1 = −1; mask bit 0 = the value 0; padding 0 in both planes', () => {
    const values = new Float32Array(40).fill(1)
    values[0] = -1
    values[5] = 0
    values[33] = -2.5
    const { sign, mask, zeros } = packSigns(values, 40)
    expect(wordsFor(40)).toBe(2)
    expect([...sign]).toEqual([0b1, 0b10])
    expect(mask[0]).toBe(0xffffffdf) // every bit but 5
    expect(mask[1]).toBe(0xff) // channels 32..39; 40..63 are padding
    expect(zeros).toBe(1)
    expect([...unpackSigns(sign, mask, 40)]).toEqual([...values].map(Math.sign))
  })

  it('weights are [C_out][kh][kw][words], with a mask plane only when a weight is exactly 0', () => {
    // [kh=1, kw=2, C_in=3, C_out=2]
    const w = new Float32Array([0.5, -0.1, -0.2, 0.3, 0.7, -0.4, /* tap 1 */ -1, 1, 1, -1, 1, 1])
    const packed = packConvWeight(w.slice(0, 6), 1, 3, 2)
    expect(packed.mask).toBeUndefined()
    const two = packConvWeight(
      new Float32Array([...w.slice(0, 6), ...w.slice(0, 6), ...w.slice(6), ...w.slice(6)]),
      2,
      3,
      2
    )
    // out 0, tap 0: channels (0.5, -0.2, 0.7) → bit 1; out 1, tap 0: (-0.1, 0.3, -0.4) → bits 0 and 2
    expect(two.sign[0]).toBe(0b010)
    expect(two.sign[4]).toBe(0b101)
    const withZero = packConvWeight(new Float32Array([0, 1, 1, 1, -1, 1]), 1, 3, 2)
    expect(withZero.mask).toBeDefined()
    expect(withZero.mask![0]).toBe(0b110)
  })
})

function bn(c: number, values: Partial<BnParams> = {}): BnParams {
  return { mean: new Float32Array(c), variance: new Float32Array(c).fill(1 - 1e-5), ...values }
}

/** One binary conv as a model of its own, so the runtime's result can be checked against a float computation. */
function singleConvModel(
  step: Omit<Extract<PackedStep, { op: 'binconv' }>, 'sign' | 'mask'>,
  weight: Float32Array,
  shape: [number, number, number]
): PackedModel {
  const { sign, mask } = packConvWeight(weight, step.kernel, step.cin, step.cout)
  return {
    meta: {
      genotype: LATEST_CELL,
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
    output: 'y',
    steps: [{ ...step, sign, ...(mask ? { mask } : {}) }]
  }
}

describe('binary conv exactness with ternary inputs (sign(0) = 0, zero padding, zero weights)', () => {
  const geometries = [
    { kernel: 3, stride: 1, padding: 1, dilation: 1 },
    { kernel: 5, stride: 2, padding: 2, dilation: 1 },
    { kernel: 3, stride: 1, padding: 2, dilation: 2 },
    { kernel: 5, stride: 2, padding: 4, dilation: 2 },
    { kernel: 1, stride: 1, padding: 0, dilation: 1 }
  ] as const
  for (const g of geometries) {
    for (const zeros of [true, false]) {
      it(`k${g.kernel} s${g.stride} d${g.dilation}, ${zeros ? 'zeros in x and W' : 'x without zeros (one-plane path inside the image)'}: every path equals ReLU(conv(sign x, sign W)·α)`, async () => {
        const [h, w, cin, cout, batch] = [7, 6, 37, 9, 2]
        const rng = createRng(g.kernel * 10 + g.stride + g.dilation)
        // Inputs with many exact zeros: BN (mean 0, var+eps = 1) keeps them 0, so sign(0) = 0 inside the image.
        const x = rng.normalArray(batch * h * w * cin).map((v) => (zeros && Math.abs(v) < 0.5 ? 0 : v || 1))
        const weight = rng
          .normalArray(g.kernel * g.kernel * cin * cout)
          .map((v) => (zeros && Math.abs(v) < 0.2 ? 0 : v || 1))
        const alpha = rng.uniformArray(cout, 0.1, 1)
        const model = singleConvModel(
          { op: 'binconv', name: 'conv', input: 'input', output: 'y', bn: bn(cin), alpha, cin, cout, ...g },
          weight,
          [h, w, cin]
        )
        const expected = tf.tidy(() => {
          const signs = tf.sign(tf.tensor4d(x, [batch, h, w, cin]))
          const wb = tf.mul(tf.sign(tf.tensor4d(weight, [g.kernel, g.kernel, cin, cout])), tf.tensor1d(alpha))
          return tf.relu(conv2dTorch(signs, wb as tf.Tensor4D, g)).dataSync()
        })
        for (const path of ['reference', 'wasm-simd']) {
          const session = await PackedSession.create(model, { path })
          const got = await session.run(x, batch)
          expect(got.length).toBe(expected.length)
          let max = 0
          for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - expected[i]))
          // α·(integer dot) exactly vs the float sum of ±α terms: float32 rounding only.
          expect(max, path).toBeLessThan(1e-4)
        }
      })
    }
  }
})

describe('runtime paths', () => {
  it('registers extra paths (native, WebGPU hooks), prefers the highest priority that is available, says why not', async () => {
    registerPackedPath({
      name: 'test-unavailable',
      priority: 100,
      available: async () => ({ ok: false, reason: 'no such device' }),
      createBackend: async () => new ReferenceBackend()
    })
    registerPackedPath({
      name: 'test-fast',
      priority: 50,
      available: async () => ({ ok: true }),
      createBackend: async () => Object.assign(new ReferenceBackend(), { name: 'test-fast' })
    })
    const order = packedPaths().map((p) => p.name)
    expect(order.slice(0, 2)).toEqual(['test-unavailable', 'test-fast'])
    // The built-in paths by priority: webgpu (used automatically on a hardware adapter only), wasm-simd, reference.
    expect(order.filter((name) => ['webgpu', 'wasm-simd', 'reference'].includes(name))).toEqual([
      'webgpu',
      'wasm-simd',
      'reference'
    ])
    const described = await describePackedPaths()
    expect(described.find((p) => p.name === 'test-unavailable')).toMatchObject({ ok: false, reason: 'no such device' })
    const model = singleConvModel(
      {
        op: 'binconv',
        name: 'c',
        input: 'input',
        output: 'y',
        bn: bn(4),
        alpha: new Float32Array([1]),
        cin: 4,
        cout: 1,
        kernel: 1,
        stride: 1,
        padding: 0,
        dilation: 1
      },
      new Float32Array([1, -1, 1, 1]),
      [1, 1, 4]
    )
    const session = await PackedSession.create(model)
    expect(session.pathName).toBe('test-fast')
    expect([...(await session.run(new Float32Array([1, 1, 1, -1]), 1))]).toEqual([0]) // 1 − 1 + 1 − 1 = 0
    expect([...(await session.run(new Float32Array([1, -1, 1, 1]), 1))]).toEqual([4])
    await expect(PackedSession.create(model, { path: 'test-unavailable' })).rejects.toThrow(
      /cannot run here: no such device/
    )
    await expect(PackedSession.create(model, { path: 'nope' })).rejects.toThrow(/no packed runtime path 'nope'/)
  })
})

describe('the committed WebAssembly', () => {
  const dir = join(__dirname, '../../src/main/export/packed/runtime')
  it('packed-wasm.ts holds the bytes of packed.wasm', async () => {
    expect(Buffer.from(packedWasmBytes()).equals(await readFile(join(dir, 'packed.wasm')))).toBe(true)
  })

  const clang = spawnSync('clang', ['--version']).status === 0 && spawnSync('wasm-ld', ['--version']).status === 0
  it.skipIf(!clang)(
    'matches a rebuild from kernels.c (skipped without clang + wasm-ld: apt-get install clang lld)',
    async () => {
      const out = await mkdtemp(join(tmpdir(), 'bnas-wasm-'))
      try {
        execFileSync(join(__dirname, '../../scripts/build-packed-wasm.sh'), [out], { stdio: 'pipe' })
        expect((await readFile(join(out, 'packed.wasm'))).equals(await readFile(join(dir, 'packed.wasm')))).toBe(true)
      } finally {
        await rm(out, { recursive: true, force: true })
      }
    }
  )
  if (!clang) console.warn('skipped: the .wasm rebuild check needs clang and wasm-ld (Debian: clang, lld)')
})
