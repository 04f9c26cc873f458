import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import '../../src/main/engine/ops/register-gradients'
import { maxPoolFused } from '../../src/main/engine/ops/fused'
import { maxPool3x3Torch } from '../../src/main/engine/ops'
import { nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
import { randomValues, relativeError, runOn, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('max pool with argmax')

/** Every max pool of the method (3×3, pad 1, stride 1 and 2) at odd sizes, batch 1 and a single pixel. */
const CASES: [[number, number, number, number], 1 | 2][] = [
  [[2, 8, 8, 8], 1],
  [[2, 8, 8, 8], 2],
  [[1, 7, 7, 16], 2],
  [[3, 5, 9, 3], 1],
  [[1, 9, 9, 32], 2],
  [[1, 1, 1, 4], 1]
]

/** ReLU'd values rounded to a coarse grid: many exact ties (zeros and repeats), where the tie rule matters. */
function tiedValues(size: number, seed: number): Float32Array {
  return randomValues(size, seed).map((v) => Math.max(0, Math.round(v * 4) / 4))
}

describe.skipIf(!status.available)(`max pool with argmax on native${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  for (const [shape, stride] of CASES) {
    it(`[${shape}] stride ${stride}: values and gradient bit-identical to MaxPool + MaxPoolGrad, cpu’s within 1e-4`, async () => {
      const x = { values: tiedValues(tf.util.sizeFromShape(shape), 5), shape }
      const run = (fused: boolean) => (input: tf.Tensor) => {
        const f = (t: tf.Tensor): tf.Tensor =>
          fused ? maxPoolFused(t as tf.Tensor4D, 3, stride, 1) : tf.maxPool(t as tf.Tensor4D, 3, stride, 1)
        const y = f(input)
        const dy = tf.tensor(randomValues(y.size, 6), y.shape)
        return [y, tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(input)]
      }
      const expected = await runOn('native', [x], run(false))
      const actual = await runOn('native', [x], run(true))
      actual.forEach((a, i) => expect(Array.from(a), `output ${i}`).toEqual(Array.from(expected[i])))
      // And the PyTorch-geometry op on the cpu backend (−∞ padding, tf's own kernels).
      const cpu = await runOn('cpu', [x], (input) => {
        const y = maxPool3x3Torch(input as tf.Tensor4D, stride)
        const dy = tf.tensor(randomValues(y.size, 6), y.shape)
        return [y, tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxPool3x3Torch(t as tf.Tensor4D, stride), dy)))(input)]
      })
      cpu.forEach((c, i) => expect(relativeError(actual[i], c), `cpu output ${i}`).toBeLessThan(1e-4))
    })
  }

  it('takes its gradient from the positions (no MaxPoolGrad search over the input)', async () => {
    await tf.setBackend('native')
    const x = tf.tensor4d(tiedValues(2 * 8 * 8 * 8, 7), [2, 8, 8, 8])
    const info = await tf.profile(() => {
      const g = tf.grad((t: tf.Tensor) => tf.sum(maxPoolFused(t as tf.Tensor4D, 3, 1, 1)))(x)
      g.dispose()
    })
    const names = info.kernels.map((k) => k.name)
    expect(names).not.toContain(tf.MaxPoolGrad)
    expect(names).toContain('BnasMaxPoolGradArgmax')
    x.dispose()
  })
})
