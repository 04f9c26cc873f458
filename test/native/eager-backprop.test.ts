import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
import { Supernet } from '../../src/main/engine/network/supernet'
import { crossEntropy } from '../../src/main/engine/train/loss'
import { randomValues, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('eager backprop on native')

/** Runs `run` with tf's own engine.gradients (BNAS_EAGER_BACKPROP=0) or with the eager one. */
function withEager<T>(eager: boolean, run: () => T): T {
  const before = process.env.BNAS_EAGER_BACKPROP
  process.env.BNAS_EAGER_BACKPROP = eager ? '1' : '0'
  try {
    return run()
  } finally {
    if (before === undefined) delete process.env.BNAS_EAGER_BACKPROP
    else process.env.BNAS_EAGER_BACKPROP = before
  }
}

/** Gradient values by variable name of one training-mode supernet pass, and the peak tensor bytes while taking them. */
async function supernetGradients(
  eager: boolean,
  which: 'weights' | 'alpha'
): Promise<{ grads: Float32Array[]; peakBytes: number; leaked: number }> {
  const net = new Supernet({ cells: 3, channels: 4, classes: 10, seed: 11 })
  const x = tf.tensor4d(randomValues(2 * 16 * 16 * 3, 5), [2, 16, 16, 3])
  const y = tf.tensor1d([1, 6], 'int32')
  const variables = which === 'weights' ? net.weightParameters() : net.archParameters()
  const before = tf.memory().numTensors
  let grads: tf.NamedTensorMap = {}
  let value: tf.Scalar | undefined
  const info = await tf.profile(() => {
    withEager(eager, () => {
      ;({ value, grads } = tf.variableGrads(() => crossEntropy(net.logits(x, { training: true }), y), variables))
    })
  })
  const leaked = tf.memory().numTensors - before - Object.keys(grads).length - 1
  const values = variables.map((v) => grads[v.name].dataSync() as Float32Array)
  tf.dispose([x, y, value!, ...Object.values(grads)])
  net.dispose()
  return { grads: values, peakBytes: info.peakBytes, leaked }
}

describe.skipIf(!status.available)(`eager backprop on the native backend${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })
  afterEach(async () => {
    await tf.setBackend('native')
  })

  it.each(['weights', 'alpha'] as const)(
    'gives bit-identical supernet gradients (%s) to tf’s own backprop, with a lower peak and no leaked tensor',
    async (which) => {
      await tf.setBackend('native')
      const reference = await supernetGradients(false, which)
      const eager = await supernetGradients(true, which)
      expect(eager.grads.length).toBe(reference.grads.length)
      eager.grads.forEach((g, i) => expect(Array.from(g), `variable ${i}`).toEqual(Array.from(reference.grads[i])))
      expect(eager.leaked).toBe(0)
      expect(reference.leaked).toBe(0)
      expect(eager.peakBytes).toBeLessThan(0.8 * reference.peakBytes)
    }
  )

  it('accumulates several uses of a tensor, leaves the caller’s dy and the inputs intact, and leaks nothing', async () => {
    await tf.setBackend('native')
    // 2^15 elements: large enough for recycled arrays, so the in-place accumulation path runs.
    const n = 1 << 15
    const xValues = randomValues(n, 3)
    const dyValues = randomValues(n, 4)
    const x = tf.tensor1d(xValues)
    const dy = tf.tensor1d(dyValues)
    // x used five times, once through an op whose gradient returns dy unchanged (identity via add of a constant).
    const f = (t: tf.Tensor): tf.Tensor => tf.add(tf.add(tf.mul(t, t), tf.mul(t, 3)), tf.add(tf.add(t, 1), tf.relu(t)))
    const compute = (eager: boolean): Float32Array =>
      withEager(eager, () => {
        const g = tf.grad(f)(x, dy)
        const values = g.dataSync().slice() as Float32Array
        g.dispose()
        return values
      })
    const before = tf.memory().numTensors
    const reference = compute(false)
    const eager = compute(true)
    expect(tf.memory().numTensors).toBe(before)
    expect(Array.from(eager)).toEqual(Array.from(reference))
    // d/dx = 2x + 3 + 1 + step(x), times dy.
    for (const i of [0, 1, 77, n - 1]) {
      const expected = (2 * xValues[i] + 4 + (xValues[i] > 0 ? 1 : 0)) * dyValues[i]
      expect(eager[i]).toBeCloseTo(expected, 4)
    }
    expect(Array.from(dy.dataSync())).toEqual(Array.from(dyValues))
    expect(Array.from(x.dataSync())).toEqual(Array.from(xValues))
    tf.dispose([x, dy])
  })

  it('leaves higher-order gradients to tf’s own code (they need the tape kept)', async () => {
    await tf.setBackend('native')
    const x = tf.tensor1d([0.5, -2, 3])
    const second = tf.grad((t: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.mul(tf.mul(u, u), u))(t))(x)
    expect(Array.from(second.dataSync())).toEqual([3, -12, 18]) // d²(x³)/dx² = 6x
    tf.dispose([x, second])
  })

  it('is not used on other backends', async () => {
    await tf.setBackend('cpu')
    const x = tf.tensor1d([1, 2])
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(t)))(x)
    expect(Array.from(g.dataSync())).toEqual([2, 4])
    tf.dispose([x, g])
  })
})
