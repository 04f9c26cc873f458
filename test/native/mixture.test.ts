import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import '../../src/main/engine/ops/register-gradients'
import { nativeAddonStatus, registerNativeBackend, weightedSum } from '../../src/main/engine/native'
import { nativeSuite, randomValues, relativeError, runOn } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('weighted sum')

describe.skipIf(!status.available)(`native weighted sum (the α mixture of an edge)${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  it('falls back to tf ops on other backends, with gradients', async () => {
    await tf.setBackend('cpu')
    const a = tf.tensor1d([1, 2])
    const b = tf.tensor1d([3, 5])
    const w = tf.tensor1d([0.5, 2])
    expect(Array.from(await weightedSum([a, b], w).data())).toEqual([6.5, 11])
    const [, dw] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(weightedSum([x], y as tf.Tensor1D)))([
      a,
      tf.tensor1d([3])
    ])
    expect(Array.from(await dw.data())).toEqual([3])
  })

  it.each([
    [2, [2, 16, 16, 8]],
    [3, [1, 7, 5, 3]],
    [5, [32, 8, 8, 32]]
  ])('AddN of %i terms of [%s] equals the cpu backend’s, bit for bit', async (count, shape) => {
    const inputs = Array.from({ length: count }, (_, k) => ({
      values: randomValues(tf.util.sizeFromShape(shape), 60 + k),
      shape
    }))
    const expected = await runOn('cpu', inputs, (...t) => tf.addN(t))
    const actual = await runOn('native', inputs, (...t) => tf.addN(t))
    expect(Array.from(actual[0])).toEqual(Array.from(expected[0]))
  })

  for (const count of [1, 6, 7]) {
    it(`${count} terms: value and gradients of every term and weight equal the mul/add version on cpu`, async () => {
      const shape = [2, 5, 5, 8]
      const size = tf.util.sizeFromShape(shape)
      const inputs = [
        ...Array.from({ length: count }, (_, k) => ({ values: randomValues(size, 60 + k), shape })),
        { values: randomValues(count, 70).map((v) => (v + 1) / 2), shape: [count] },
        { values: randomValues(size, 71), shape }
      ]
      const run =
        (fused: boolean) =>
        (...t: tf.Tensor[]): tf.Tensor[] => {
          const terms = t.slice(0, count)
          const w = t[count] as tf.Tensor1D
          const upstream = t[count + 1]
          const mix = (...a: tf.Tensor[]) => {
            const ws = a[count] as tf.Tensor1D
            return fused
              ? weightedSum(a.slice(0, count), ws)
              : tf.addN(a.slice(0, count).map((t, k) => tf.mul(t, tf.reshape(tf.slice(ws, [k], [1]), []))))
          }
          const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(mix(...a), upstream)))([...terms, w])
          return [mix(...terms, w), ...grads]
        }
      const expected = await runOn('cpu', inputs, run(false))
      const actual = await runOn('native', inputs, run(true))
      expect(actual.length).toBe(count + 2)
      expected.forEach((e, i) => expect(relativeError(actual[i], e), `output ${i}`).toBeLessThan(1e-4))
    })
  }
})
