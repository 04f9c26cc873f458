import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import '../../src/main/engine/ops/register-gradients'
import { batchNormTraining, nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
import { batchNorm } from '../../src/main/engine/ops/batchnorm'
import { randomValues, relativeError, runOn, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('fused batch norm')

const EPS = 1e-5

/** The op-by-op definition (what the engine's batchNorm computes in training mode). */
function composed(x: tf.Tensor, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2])
  let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, EPS)))
  if (gamma) y = tf.mul(y, gamma)
  if (beta) y = tf.add(y, beta)
  return y
}

const SHAPES: [number, number, number, number][] = [
  [2, 8, 8, 8],
  [1, 7, 7, 16],
  [4, 9, 9, 3],
  [32, 4, 4, 24]
]

describe.skipIf(!status.available)(`fused batch norm on native${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  for (const shape of SHAPES) {
    for (const affine of [false, true]) {
      it(`[${shape}] ${affine ? 'affine' : 'affine = false'}: y, statistics and gradients equal the op-by-op cpu result`, async () => {
        const c = shape[3]
        // An offset and scale per channel, so the statistics are not trivially 0 and 1.
        const values = randomValues(tf.util.sizeFromShape(shape), 41).map((v, i) => 3 * v + (i % c) - 2)
        const inputs = [
          { values, shape },
          { values: randomValues(c, 42).map((v) => v + 1.5), shape: [c] },
          { values: randomValues(c, 43), shape: [c] },
          { values: randomValues(tf.util.sizeFromShape(shape), 44), shape }
        ]
        const run = (fused: boolean) => (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, w: tf.Tensor) => {
          const forward = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor): tf.Tensor =>
            fused
              ? batchNormTraining(
                  xi as tf.Tensor4D,
                  affine ? { gamma: gi as tf.Tensor1D, beta: bi as tf.Tensor1D } : {}
                ).y
              : composed(xi, affine ? gi : undefined, affine ? bi : undefined)
          const stats = fused ? batchNormTraining(x as tf.Tensor4D) : tf.moments(x, [0, 1, 2])
          const loss = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(forward(xi, gi, bi), w))
          const grads = affine ? tf.grads(loss)([x, g, b]) : [tf.grad((xi: tf.Tensor) => loss(xi, g, b))(x)]
          return [forward(x, g, b), stats.mean, stats.variance, grads[0], ...(affine ? [grads[1], grads[2]] : [])]
        }
        const expected = await runOn('cpu', inputs, run(false))
        const actual = await runOn('native', inputs, run(true))
        expected.forEach((e, i) => expect(relativeError(actual[i], e), `output ${i}`).toBeLessThan(1e-4))
      })
    }
  }

  for (const shape of SHAPES) {
    it(`[${shape}] the engine's affine-free BN, which keeps its output x̂ and differentiates from it: y and dx equal the op-by-op cpu result`, async () => {
      const c = shape[3]
      const values = randomValues(tf.util.sizeFromShape(shape), 51).map((v, i) => 2 * v + (i % c) - 1)
      const inputs = [
        { values, shape },
        { values: randomValues(tf.util.sizeFromShape(shape), 52), shape }
      ]
      const run = (x: tf.Tensor, w: tf.Tensor) => {
        const state = { runningMean: tf.variable(tf.zeros([c])), runningVar: tf.variable(tf.ones([c])) }
        const loss = (xi: tf.Tensor) => tf.sum(tf.mul(batchNorm(xi as tf.Tensor4D, state, true), w))
        const out = [batchNorm(x as tf.Tensor4D, state, true), tf.grad(loss)(x)]
        tf.dispose([state.runningMean, state.runningVar])
        return out
      }
      // On cpu the engine's batchNorm is the op-by-op path; on native the fused kernels with the mean-less backward.
      const expected = await runOn('cpu', inputs, run)
      const actual = await runOn('native', inputs, run)
      expected.forEach((e, i) => expect(relativeError(actual[i], e), `output ${i}`).toBeLessThan(1e-4))
    })
  }

  it('falls back to tf ops on other backends', async () => {
    await tf.setBackend('cpu')
    const x = tf.tensor4d(randomValues(2 * 4 * 4 * 3, 5), [2, 4, 4, 3])
    const { y, mean, variance } = batchNormTraining(x)
    expect(relativeError((await y.data()) as Float32Array, (await composed(x).data()) as Float32Array)).toBeLessThan(
      1e-6
    )
    expect(mean.shape).toEqual([3])
    tf.dispose([x, y, mean, variance])
  })
})
