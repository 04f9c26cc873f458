import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import { nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
import { randomValues, relativeError, runOn, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('native elementwise kernels')

const TOLERANCE = 1e-4

function input(shape: number[], seed: number, zeroFraction = 0) {
  return { values: randomValues(tf.util.sizeFromShape(shape), seed, zeroFraction), shape }
}

/** Runs `compute` on cpu and native and checks every output's shape and values. */
async function expectSameAsCpu(
  inputs: { values: Float32Array; shape: number[] }[],
  compute: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
  tolerance = TOLERANCE
): Promise<void> {
  const shapes = (backend: string) =>
    runOn(backend, inputs, (...t) => {
      const r = compute(...t)
      return (Array.isArray(r) ? r : [r]).map((o) => tf.tensor1d(o.shape.length ? o.shape : [0], 'float32'))
    })
  expect(await shapes('native')).toEqual(await shapes('cpu'))
  const expected = await runOn('cpu', inputs, compute)
  const actual = await runOn('native', inputs, compute)
  expected.forEach((e, i) => expect(relativeError(actual[i], e), `output ${i}`).toBeLessThan(tolerance))
}

describe.skipIf(!status.available)(`native elementwise, data movement and reductions${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  it('Slice: inner boxes, the even-rows view of subsample2, a column, odd sizes', async () => {
    await expectSameAsCpu([input([3, 7, 9, 5], 1)], (x) => [
      tf.slice(x, [1, 2, 3, 1], [2, 4, 5, 3]),
      tf.slice(tf.reshape(x, [3 * 7, 1, 9, 5]), [0, 0, 0, 0], [21, 1, 9, 2]),
      tf.slice(x, [0, 0, 4, 0], [3, 7, 1, 5]),
      tf.slice(x, [2, 6, 8, 4], [1, 1, 1, 1]),
      tf.slice(x, [1], [1])
    ])
  })

  it('SplitV (split and the gradient of concat)', async () => {
    await expectSameAsCpu([input([2, 5, 5, 12], 2)], (x) => [...tf.split(x, [4, 3, 5], 3), ...tf.split(x, [2, 3], 1)])
  })

  it("Concat along every axis (a cell's channel concat), of unequal parts, one part, and an empty one", async () => {
    await expectSameAsCpu([input([2, 5, 5, 3], 11), input([2, 5, 5, 4], 12), input([2, 5, 5, 0], 13)], (a, b, e) => [
      tf.concat([a, b, a, b], 3),
      tf.concat([a, e, b], 3),
      tf.concat([a, tf.slice(b, [0, 0, 0, 0], [2, 5, 5, 3])], 0),
      tf.concat([tf.slice(a, [0, 0, 0, 0], [2, 2, 5, 3]), a], 1),
      tf.concat([a, a], 2),
      tf.concat([a], 3)
    ])
  })

  it('PadV2 with zeros, a constant and −∞ (max pool padding)', async () => {
    await expectSameAsCpu([input([2, 7, 7, 3], 3)], (x) => [
      tf.pad(x, [
        [0, 0],
        [1, 1],
        [2, 0],
        [0, 0]
      ]),
      tf.pad(
        x,
        [
          [1, 0],
          [0, 3],
          [1, 1],
          [0, 2]
        ],
        0.5
      ),
      tf.maximum(
        tf.pad(
          x,
          [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0]
          ],
          -Infinity
        ),
        -10
      )
    ])
  })

  it('Transpose (every permutation the engine uses) and Reverse', async () => {
    await expectSameAsCpu([input([2, 5, 7, 3], 4)], (x) => [
      tf.transpose(x, [3, 1, 2, 0]),
      tf.transpose(x, [1, 2, 0, 3]),
      tf.transpose(x, [0, 1, 3, 2]),
      tf.transpose(tf.reshape(x, [10, 21])),
      tf.reverse(x, [0, 1]),
      tf.reverse(x, [3]),
      tf.reverse(x, [1, 2])
    ])
  })

  const BROADCASTS: [number[], number[]][] = [
    [
      [2, 6, 6, 8],
      [2, 6, 6, 8]
    ],
    [[2, 6, 6, 8], [8]],
    [
      [2, 6, 6, 8],
      [1, 1, 1, 8]
    ],
    [
      [2, 6, 6, 8],
      [2, 1, 1, 1]
    ],
    [
      [1, 5, 5, 1],
      [2, 5, 5, 8]
    ],
    [[2, 6, 6, 8], []],
    [
      [14, 7],
      [14, 1]
    ],
    [
      [3, 1, 4],
      [5, 1]
    ]
  ]
  for (const [aShape, bShape] of BROADCASTS) {
    it(`binary ops broadcasting [${aShape}] with [${bShape}]`, async () => {
      const a = input(aShape, 5)
      const b = { ...input(bShape, 6), values: input(bShape, 6).values.map((v) => v + 2) } // no division by ~0
      await expectSameAsCpu([a, b], (x, y) => [
        tf.add(x, y),
        tf.sub(x, y),
        tf.sub(y, x),
        tf.mul(x, y),
        tf.div(x, y),
        tf.squaredDifference(x, y),
        tf.maximum(x, y),
        tf.minimum(y, x),
        tf.cast(tf.less(x, y), 'float32'),
        tf.cast(tf.lessEqual(y, x), 'float32'),
        tf.cast(tf.greater(x, y), 'float32'),
        tf.cast(tf.greaterEqual(x, y), 'float32'),
        tf.cast(tf.equal(x, x), 'float32')
      ])
    })
  }

  it('unary ops, with exact zeros (sign(0) = 0)', async () => {
    await expectSameAsCpu([input([2, 5, 5, 8], 7, 0.2)], (x) => [
      tf.sign(x),
      tf.abs(x),
      tf.relu(x),
      tf.neg(x),
      tf.square(x),
      tf.rsqrt(tf.add(tf.abs(x), 0.1)),
      tf.sqrt(tf.abs(x)),
      tf.step(x),
      tf.step(x, 0.25),
      // The STE's mask and selection: where(|x| < 1, dy, 0), and exact ties at 0 in the comparisons.
      tf.where(tf.less(tf.abs(x), 0.5), x, tf.zerosLike(x)),
      tf.cast(tf.lessEqual(x, 0), 'float32')
    ])
  })

  it('Sum and Mean over contiguous axes (batch-norm moments, global pooling, rows) and others through the cpu', async () => {
    await expectSameAsCpu([input([4, 6, 6, 8], 8)], (x) => [
      tf.mean(x, [0, 1, 2]),
      tf.mean(x, [0, 1, 2], true),
      tf.sum(x, [1, 2]),
      tf.mean(x, [1, 2], true),
      tf.sum(x, 3),
      tf.sum(x, [0]),
      tf.sum(x),
      tf.mean(x, [0, 2]),
      tf.moments(x, [0, 1, 2]).variance
    ])
  })

  it('int32 tensors keep the cpu kernels', async () => {
    await tf.setBackend('native')
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32')
    const b = tf.tensor1d([10, 20], 'int32')
    const sum = tf.add(a, b)
    expect(sum.dtype).toBe('int32')
    expect(Array.from(await sum.data())).toEqual([11, 22, 13, 24])
    expect(Array.from(await tf.sum(a, 0).data())).toEqual([4, 6])
    tf.dispose([a, b, sum])
  })
})
