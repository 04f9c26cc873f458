import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import { batchNormSignSte, reluKeepingOutput, signSte, type BatchNormState } from '../../src/main/engine/ops'
import {
  BATCH_NORM_BACKWARD,
  BATCH_NORM_FORWARD,
  BATCH_NORM_STATS,
  nativeAddonStatus,
  registerNativeBackend
} from '../../src/main/engine/native'
import { randomValues, relativeError, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('binary-op kernels (BN → sign, masked gradients)')

const EPS = 1e-5

/**
 * Every channel count the binary ops see (C = 8, 16, 32 in the benchmark, 16 to 64 in the paper's search, 36/72/144
 * in BNAS-A) and ones that leave a tail block or none (3, 12, 24), at batch 1 and odd sizes.
 */
const SHAPES: [number, number, number, number][] = [
  [1, 3, 3, 8],
  [2, 5, 7, 16],
  [3, 9, 9, 12],
  [1, 7, 5, 24],
  [2, 4, 4, 36],
  [4, 8, 8, 32],
  [1, 1, 1, 3]
]

/** Inputs with an offset per channel and exact zeros; [1, 1, 1, C] normalises to exactly 0 (sign(0) = 0). */
function inputValues(shape: number[], seed: number): Float32Array {
  const c = shape[3]
  return randomValues(tf.util.sizeFromShape(shape), seed, 0.05).map((v, i) => 2 * v + (i % c) * 0.25)
}

function state(c: number, affine: boolean): BatchNormState {
  return {
    // In a tidy: tf.variable shares the initial tensor's data, and the initial tensor would stay behind.
    runningMean: tf.tidy(() => tf.variable(tf.zeros([c]))),
    runningVar: tf.tidy(() => tf.variable(tf.ones([c]))),
    ...(affine
      ? { gamma: tf.tensor1d(randomValues(c, 7).map((v) => v + 1.5)), beta: tf.tensor1d(randomValues(c, 8)) }
      : {})
  }
}

/**
 * The path BATCH_NORM_SIGN and the masked backward replaced, from the same native kernels: y from BATCH_NORM_FORWARD,
 * sign and the STE mask by JS loops, then the backward of dy·mask.
 */
function reference(
  x: tf.Tensor4D,
  s: BatchNormState,
  dy: tf.Tensor
): { signs: Float32Array; dx: Float32Array; dgamma?: Float32Array; dbeta?: Float32Array } {
  const [mean, variance] = tf.engine().runKernel(BATCH_NORM_STATS, { x }, {}) as tf.Tensor[]
  const inputs: tf.NamedTensorMap = { x, mean, variance }
  if (s.gamma) Object.assign(inputs, { gamma: s.gamma, beta: s.beta })
  const y = tf.engine().runKernel(BATCH_NORM_FORWARD, inputs, { eps: EPS }) as tf.Tensor
  const ys = y.dataSync()
  const g = dy.dataSync()
  const signs = new Float32Array(ys.length)
  const masked = new Float32Array(ys.length)
  for (let i = 0; i < ys.length; i++) {
    signs[i] = +(ys[i] > 0) - +(ys[i] < 0)
    masked[i] = g[i] * +(ys[i] < 1 && ys[i] > -1) + 0
  }
  const maskedDy = tf.tensor(masked, x.shape)
  const gradInputs: tf.NamedTensorMap = { dy: maskedDy, x, mean, variance }
  if (s.gamma) gradInputs.gamma = s.gamma
  const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_BACKWARD, gradInputs, { eps: EPS }) as tf.Tensor[]
  const out = {
    signs,
    dx: dx.dataSync() as Float32Array,
    ...(s.gamma ? { dgamma: dgamma.dataSync() as Float32Array, dbeta: dbeta.dataSync() as Float32Array } : {})
  }
  tf.dispose([mean, variance, y, maskedDy, dx, dgamma, dbeta])
  return out
}

describe.skipIf(!status.available)(`binary-op kernels on native${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
    await tf.setBackend('native')
  })

  for (const shape of SHAPES) {
    for (const affine of [false, true]) {
      it(`BN → sign [${shape}] ${affine ? 'affine' : 'affine = false'}: signs, dx, dγ, dβ bit-identical to BN forward + JS loops`, () => {
        const x = tf.tensor4d(inputValues(shape, 3), shape)
        const dy = tf.tensor(randomValues(x.size, 4), shape)
        const s = state(shape[3], affine)
        const expected = reference(x, s, dy)
        const forward = (input: tf.Tensor, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor =>
          batchNormSignSte(input as tf.Tensor4D, { ...s, gamma, beta }, true)
        const loss = (...args: tf.Tensor[]) => tf.sum(tf.mul(forward(args[0], args[1], args[2]), dy))
        const signs = forward(x, s.gamma, s.beta)
        const grads = affine ? tf.grads(loss)([x, s.gamma!, s.beta!]) : [tf.grad((t: tf.Tensor) => loss(t))(x)]
        expect(Array.from(signs.dataSync())).toEqual(Array.from(expected.signs))
        expect(Array.from(grads[0].dataSync())).toEqual(Array.from(expected.dx))
        if (affine) {
          expect(Array.from(grads[1].dataSync())).toEqual(Array.from(expected.dgamma!))
          expect(Array.from(grads[2].dataSync())).toEqual(Array.from(expected.dbeta!))
        }
        tf.dispose(
          [x, dy, signs, ...grads, s.runningMean, s.runningVar, s.gamma, s.beta].filter((t) => t) as tf.Tensor[]
        )
      })
    }
  }

  /** Values at and around the STE's and ReLU's boundaries: 0, ±1, just inside and outside, and ordinary values. */
  const BOUNDARY = [0, 1, -1, 0.9999999, -0.9999999, 1.0000001, -1.0000001, 0.5, -0.5, 3, -3, 1e-30, -1e-30]

  it.each([
    [
      'ReLU from its output',
      (x: tf.Tensor) => reluKeepingOutput(tf.sub(x, 0) as tf.Tensor4D),
      (x: tf.Tensor) => tf.relu(x)
    ],
    ['the clipped STE from its input', (x: tf.Tensor) => signSte(x), null]
  ] as const)(
    'masked gradient of %s equals the cpu backend’s op-by-op gradient, +0 where blocked',
    async (_, fn, cpuFn) => {
      for (const shape of [
        [1, 3, 5, 8],
        [2, 16, 16, 8],
        [1, 1, 1, 13]
      ] as const) {
        const size = tf.util.sizeFromShape([...shape])
        const xs = randomValues(size, 5).map((v, i) => (i < BOUNDARY.length ? BOUNDARY[i] : 2 * v))
        const dys = randomValues(size, 6)
        const gradOn = async (backend: string): Promise<Float32Array> => {
          await tf.setBackend(backend)
          const x = tf.tensor4d(xs, [...shape])
          const dy = tf.tensor4d(dys, [...shape])
          const f = backend === 'native' || cpuFn === null ? fn : cpuFn
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(x)
          const values = (await g.data()) as Float32Array
          tf.dispose([x, dy, g])
          return values
        }
        const expected = await gradOn('cpu')
        const actual = await gradOn('native')
        expect(Array.from(actual)).toEqual(Array.from(expected).map((v) => v + 0))
        // Blocked entries are +0, never −0 (dy is negative at some of them).
        actual.forEach((v, i) => {
          if (v === 0) expect(Object.is(v, 0), `element ${i}`).toBe(true)
        })
      }
      await tf.setBackend('native')
    }
  )
})

describe.skipIf(!status.available)(`one sign(BN(x)) shared by the binary ops of a search edge${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  const shape: [number, number, number, number] = [2, 6, 6, 8]

  /** Two BN(affine = false) → sign ops on one input, each weighted differently: dx and both BNs' running stats. */
  async function twoOpsOn(backend: string): Promise<{ dx: Float32Array; stats: Float32Array[]; same: boolean }> {
    await tf.setBackend(backend)
    const x = tf.tensor4d(inputValues(shape, 9), shape)
    const w1 = tf.tensor(randomValues(x.size, 10), shape)
    const w2 = tf.tensor(randomValues(x.size, 11), shape)
    const states = [state(8, false), state(8, false)]
    let same = false
    const dx = tf.grad((t: tf.Tensor) => {
      const a = batchNormSignSte(t as tf.Tensor4D, states[0], true)
      const b = batchNormSignSte(t as tf.Tensor4D, states[1], true)
      same = a === b
      return tf.add(tf.sum(tf.mul(a, w1)), tf.sum(tf.mul(b, w2)))
    })(x)
    const out = {
      dx: dx.dataSync() as Float32Array,
      stats: states.flatMap((s) => [s.runningMean.dataSync() as Float32Array, s.runningVar.dataSync() as Float32Array]),
      same
    }
    tf.dispose([x, w1, w2, dx, ...states.flatMap((s) => [s.runningMean, s.runningVar])])
    return out
  }

  it('computes it once on native, with the gradient and every BN’s running statistics of computing it per op', async () => {
    const before = tf.memory().numTensors
    const cpu = await twoOpsOn('cpu')
    const native = await twoOpsOn('native')
    expect(native.same).toBe(true)
    expect(cpu.same).toBe(false)
    expect(relativeError(native.dx, cpu.dx)).toBeLessThan(1e-4)
    native.stats.forEach((s, i) => expect(relativeError(s, cpu.stats[i]), `statistic ${i}`).toBeLessThan(1e-6))
    expect(Array.from(native.stats[0])).toEqual(Array.from(native.stats[2]))
    // Nothing outlives the gradient computation.
    expect(tf.memory().numTensors).toBe(before)
  })

  it('shares nothing, and keeps nothing, outside a gradient computation', async () => {
    await tf.setBackend('native')
    const x = tf.tensor4d(inputValues(shape, 12), shape)
    const states = [state(8, false), state(8, false)]
    const before = tf.memory().numTensors
    const a = batchNormSignSte(x, states[0], true)
    const b = batchNormSignSte(x, states[1], true)
    expect(a).not.toBe(b)
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()))
    tf.dispose([a, b])
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([x, ...states.flatMap((s) => [s.runningMean, s.runningVar])])
  })
})
