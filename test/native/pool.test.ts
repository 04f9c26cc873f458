import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import { NativeBackend, nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
import { loadNativeAddon } from '../../src/main/engine/native/addon'
import { nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('the native backend’s buffer pool')

/** 2^16 floats: above the pool's 64 KiB minimum. */
const N = 1 << 16

describe.skipIf(!status.available)(`the native backend’s buffer pool${skipReason}`, () => {
  let backend: NativeBackend
  beforeAll(async () => {
    await registerNativeBackend()
    await tf.setBackend('native')
    backend = tf.backend() as NativeBackend
  })

  /** A tensor stored on a recycled buffer, filled with 7s. */
  function pooledTensor(): { t: tf.Tensor; values: Float32Array } {
    const values = backend.takeFloats(N)
    values.fill(7)
    return { t: tf.tensor1d(values), values }
  }

  it('hands a disposed tensor’s buffer out again, zeroed unless asked not to be', () => {
    const a = pooledTensor()
    a.t.dispose()
    const again = backend.takeFloats(N)
    expect(again.buffer).toBe(a.values.buffer)
    expect(again.every((v) => v === 0)).toBe(true)
    const b = tf.tensor1d(again.fill(5))
    b.dispose()
    const raw = backend.takeFloats(N, false)
    expect(raw.buffer).toBe(again.buffer)
    expect(raw[0]).toBe(5)
    tf.tensor1d(raw).dispose()
  })

  it('recycles bool masks as byte arrays, and buffers across types of one byte length', () => {
    const bytes = backend.takeBytes(4 * N, false)
    const mask = tf.tensor1d(bytes, 'bool')
    mask.dispose()
    const floats = backend.takeFloats(N)
    expect(floats.buffer).toBe(bytes.buffer)
    tf.tensor1d(floats).dispose()
  })

  it('never recycles a buffer that was read out (the caller may keep the array)', () => {
    const a = pooledTensor()
    const read = a.t.dataSync()
    a.t.dispose()
    const next = backend.takeFloats(N)
    expect(next.buffer).not.toBe(a.values.buffer)
    expect(read[0]).toBe(7)
    tf.tensor1d(next).dispose()
  })

  it('shares a buffer until the last tensor on it is disposed, and calls it exclusive only when alone', () => {
    const a = pooledTensor()
    const b = tf.clone(a.t)
    expect(backend.exclusiveFloats(a.t.dataId)).toBeNull()
    a.t.dispose()
    expect(backend.exclusiveFloats(b.dataId)).toBe(a.values)
    const other = backend.takeFloats(N)
    expect(other.buffer).not.toBe(a.values.buffer)
    b.dispose()
    const last = backend.takeFloats(N)
    expect(last.buffer).toBe(a.values.buffer)
    tf.dispose([tf.tensor1d(other), tf.tensor1d(last)])
  })

  it.each([
    [[4, 16, 16, 8], 3, 1, 1],
    [[4, 16, 16, 8], 3, 2, 1],
    [[3, 7, 5, 3], 3, 2, 1],
    [[2, 9, 9, 40], 3, 1, 1],
    [[2, 8, 8, 32], 2, 2, 0]
  ])(
    'max pool gradient [%s] %i×%i s%i: the first-tap kernel equals the scatter kernel bit for bit (ties, −∞, NaN)',
    (shape, k, s, p) => {
      const addon = loadNativeAddon() as unknown as Record<string, (...a: unknown[]) => void>
      const [n, h, w, c] = shape as number[]
      const oh = Math.floor((h + 2 * p - k) / s) + 1
      const ow = Math.floor((w + 2 * p - k) / s) + 1
      const geometry = Int32Array.of(n, h, w, c, oh, ow, k, k, s, s, p, p)
      const x = new Float32Array(n * h * w * c)
      const dy = new Float32Array(n * oh * ow * c)
      let state = 11
      const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1
      for (let i = 0; i < x.length; i++) x[i] = Math.round(next() * 4) / 4 // many ties
      for (let i = 0; i < x.length; i += 7) x[i] = -Infinity
      for (let i = 3; i < x.length; i += 13) x[i] = NaN
      for (let i = 0; i < dy.length; i++) dy[i] = next()
      const scatter = new Float32Array(x.length).fill(NaN)
      const firstTap = new Float32Array(x.length).fill(NaN) // both must write every element
      addon.maxPoolGradScatter(x, dy, scatter, geometry)
      addon.maxPoolGrad(x, dy, firstTap, geometry)
      expect(Array.from(firstTap).map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual(
        Array.from(scatter).map((v) => (Object.is(v, -0) ? '-0' : v))
      )
      expect(scatter.some((v) => v !== 0 && !Number.isNaN(v))).toBe(true)
    }
  )
})
