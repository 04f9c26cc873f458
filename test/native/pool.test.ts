import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import { NativeBackend, nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
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
})
