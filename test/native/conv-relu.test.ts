import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import { conv2dTorch } from '../../src/main/engine/ops'
import { conv2dReluFused } from '../../src/main/engine/ops/fused'
import { nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
import { randomValues, relativeError, runOn, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('fused conv + ReLU')

interface Case {
  x: [number, number, number, number]
  k: number
  cout: number
  stride: 1 | 2
  padding: number
  dilation: 1 | 2
}

/** Every conv the blocks fuse with a ReLU: the four binary candidates at stride 1 and 2, 1×1 and 3×3/s2 preprocess. */
const CASES: Case[] = [
  { x: [2, 8, 8, 8], k: 3, cout: 8, stride: 1, padding: 1, dilation: 1 },
  { x: [2, 8, 8, 8], k: 3, cout: 8, stride: 2, padding: 1, dilation: 1 },
  { x: [1, 9, 7, 16], k: 5, cout: 16, stride: 1, padding: 2, dilation: 1 },
  { x: [2, 9, 9, 8], k: 5, cout: 8, stride: 2, padding: 2, dilation: 1 },
  { x: [2, 8, 8, 8], k: 3, cout: 8, stride: 1, padding: 2, dilation: 2 },
  { x: [1, 7, 7, 8], k: 3, cout: 8, stride: 2, padding: 2, dilation: 2 },
  { x: [2, 11, 11, 4], k: 5, cout: 4, stride: 1, padding: 4, dilation: 2 },
  { x: [2, 8, 8, 8], k: 5, cout: 8, stride: 1, padding: 4, dilation: 2 },
  { x: [1, 6, 10, 16], k: 5, cout: 16, stride: 1, padding: 4, dilation: 2 },
  { x: [2, 8, 8, 8], k: 5, cout: 8, stride: 2, padding: 4, dilation: 2 },
  { x: [1, 5, 5, 24], k: 1, cout: 8, stride: 1, padding: 0, dilation: 1 },
  { x: [3, 16, 16, 3], k: 3, cout: 24, stride: 1, padding: 1, dilation: 1 }
]

describe.skipIf(!status.available)(`fused conv + ReLU on native${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  for (const c of CASES) {
    const name = `[${c.x}] ${c.k}×${c.k} s${c.stride} p${c.padding} d${c.dilation} → ${c.cout}`
    it(`${name}: value and both gradients equal relu(conv) on the cpu backend`, async () => {
      const filterShape = [c.k, c.k, c.x[3], c.cout]
      const inputs = [
        { values: randomValues(tf.util.sizeFromShape(c.x), 1, 0.1), shape: c.x },
        { values: randomValues(tf.util.sizeFromShape(filterShape), 2), shape: filterShape }
      ]
      const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation }
      const run = (fused: boolean) => (x: tf.Tensor, w: tf.Tensor) => {
        const f = (xi: tf.Tensor, wi: tf.Tensor): tf.Tensor =>
          fused
            ? conv2dReluFused(xi as tf.Tensor4D, wi as tf.Tensor4D, opts)
            : tf.relu(conv2dTorch(xi as tf.Tensor4D, wi as tf.Tensor4D, opts))
        const y = f(x, w)
        const dy = tf.tensor(randomValues(y.size, 3), y.shape)
        const [dx, dw] = tf.grads((xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.mul(f(xi, wi), dy)))([x, w])
        return [y, dx, dw]
      }
      const expected = await runOn('cpu', inputs, run(false))
      const actual = await runOn('native', inputs, run(true))
      expect(actual[0].some((v) => v === 0) && actual[0].some((v) => v > 0)).toBe(true)
      expected.forEach((e, i) => expect(relativeError(actual[i], e), `output ${i}`).toBeLessThan(1e-4))
    })
  }

  it('computes no filter gradient when only the input’s gradient is taken (the α step)', async () => {
    await tf.setBackend('native')
    const x = tf.tensor4d(randomValues(2 * 8 * 8 * 8, 4), [2, 8, 8, 8])
    const w = tf.tensor4d(randomValues(3 * 3 * 8 * 8, 5), [3, 3, 8, 8])
    let dx: tf.Tensor | undefined
    const info = await tf.profile(() => {
      dx = tf.grad((t: tf.Tensor) =>
        tf.sum(conv2dReluFused(t as tf.Tensor4D, w, { stride: 1, padding: 1, dilation: 1 }))
      )(x)
    })
    const kernels = info.kernels.map((k) => k.name)
    expect(kernels).toContain(tf.Conv2DBackpropInput)
    expect(kernels).not.toContain(tf.Conv2DBackpropFilter)
    tf.dispose([x, w, dx!])
  })
})
