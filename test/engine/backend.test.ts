import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  BACKEND_CANDIDATES,
  describeBackends,
  initBackend,
  type BackendPreference
} from '../../src/main/engine/backend'
import { nativeAddonStatus } from '../../src/main/engine/native'
import { expectTensorsClose, loadTestBackends } from './ops-fixtures'

// The native addon is built by `npm install` where a compiler and oneDNN exist (CI installs both); these tests
// check whichever case this machine is in, and say which.
const native = nativeAddonStatus()

describe('backend selection', () => {
  it(`auto tries the fastest first and reports why each faster one was passed over (native addon ${native.available ? 'built' : 'not built'} here)`, async () => {
    const report = await initBackend('auto')
    const [gpu, webgpu, node, nativeAttempt, wasm] = report.tried
    // WebGPU comes right after CUDA but only on a hardware adapter: a software one (lavapipe here) or none at all is
    // passed over with the reason (test/webgpu/backend.test.ts checks the adapter cases).
    expect(webgpu?.backend).toBe('webgpu')
    if (webgpu?.available) {
      expect(report.name).toBe('webgpu') // a machine with a GPU: nothing below applies
      return
    }
    expect(webgpu?.reason).toMatch(/^software adapter \(.+\): only on request|^Dawn found no|webgpu package/)
    // tfjs-node(-gpu) cannot be installed on the build machines (DESIGN.md 3); where it is, this test says so.
    expect(gpu).toMatchObject({ available: false, reason: '@tensorflow/tfjs-node-gpu is not installed' })
    expect(node).toMatchObject({ available: false, reason: '@tensorflow/tfjs-node is not installed' })
    expect(report.detail).toContain('not used: tensorflow-gpu: @tensorflow/tfjs-node-gpu is not installed')
    if (native.available) {
      expect(report.tried.map((t) => t.backend)).toEqual(['tensorflow-gpu', 'webgpu', 'tensorflow', 'native'])
      expect(nativeAttempt).toEqual({ backend: 'native', available: true })
      expect(report.name).toBe('native')
      expect(tf.getBackend()).toBe('native')
      return
    }
    expect(report.tried.map((t) => t.backend)).toEqual(['tensorflow-gpu', 'webgpu', 'tensorflow', 'native', 'wasm'])
    expect(nativeAttempt).toMatchObject({ available: false, reason: native.reason })
    expect(wasm).toEqual({ backend: 'wasm', available: true })
    expect(report.name).toBe('wasm')
    expect(report.backend).toBe('wasm')
    expect(tf.getBackend()).toBe('wasm')
    // Node has no wasm worker threads here; SIMD depends on the Node build (on for Node 20).
    expect(report.detail).toMatch(/SIMD (on|off), 1 thread/)
  })

  it('a named backend is used as asked, or fails with its reason', async () => {
    expect((await initBackend('cpu')).name).toBe('cpu')
    expect(tf.getBackend()).toBe('cpu')
    if (native.available) expect((await initBackend('native')).name).toBe('native')
    else await expect(initBackend('native')).rejects.toThrow(`native: ${native.reason}`)
    await expect(initBackend('bogus' as BackendPreference)).rejects.toThrow("unknown backend 'bogus'")
  })

  it('describeBackends lists every candidate with its availability', async () => {
    const list = await describeBackends()
    expect(list.map((b) => b.name)).toEqual(BACKEND_CANDIDATES.map((c) => c.name))
    expect(list.find((b) => b.name === 'wasm')).toMatchObject({ available: true })
    expect(list.find((b) => b.name === 'cpu')).toMatchObject({ available: true })
    expect(list.find((b) => b.name === 'native')).toMatchObject({ available: native.available })
  })
})

describe('wasm training kernels agree with the cpu backend', () => {
  beforeAll(loadTestBackends)

  /** Runs f on both backends with the same inputs and compares every output. */
  async function compare(what: string, f: () => tf.Tensor[]): Promise<void> {
    await tf.setBackend('cpu')
    const expected = tf.tidy(f)
    await tf.setBackend('wasm')
    const actual = tf.tidy(f)
    expected.forEach((e, i) => expectTensorsClose(actual[i], e, `${what} [${i}]`))
    tf.dispose([...expected, ...actual])
  }

  type Shape4 = [number, number, number, number]
  type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding
  const filterCases: Array<{ x: Shape4; k: [number, number]; co: number; s: 1 | 2; pad: Pad }> = [
    { x: [2, 9, 7, 5], k: [3, 2], co: 6, s: 1, pad: 'same' },
    { x: [1, 9, 9, 4], k: [3, 3], co: 3, s: 2, pad: 'same' },
    { x: [2, 8, 8, 3], k: [5, 5], co: 4, s: 2, pad: 'valid' },
    { x: [1, 7, 9, 3], k: [2, 2], co: 8, s: 2, pad: 'valid' },
    { x: [1, 6, 6, 16], k: [1, 1], co: 16, s: 1, pad: 'valid' },
    {
      x: [2, 7, 7, 3],
      k: [3, 3],
      co: 2,
      s: 2,
      pad: [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0]
      ]
    }
  ]

  it.each(filterCases.map((c) => [JSON.stringify(c), c] as const))('Conv2DBackpropFilter %s', async (_, c) => {
    const x = tf.randomNormal(c.x, 0, 1, 'float32', 1) as tf.Tensor4D
    const w = tf.randomNormal([c.k[0], c.k[1], c.x[3], c.co], 0, 1, 'float32', 2) as tf.Tensor4D
    const pad = c.pad
    const dy = tf.randomNormal(tf.conv2d(x, w, c.s, pad).shape, 0, 1, 'float32', 3)
    await compare('conv2d grads', () =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, pad), dy))
      )([x, w])
    )
    tf.dispose([x, w, dy])
  })

  const poolCases: Array<{ x: Shape4; s: 1 | 2; pad: 1 | 'same' | 'valid' }> = [
    { x: [2, 7, 7, 3], s: 1, pad: 1 },
    { x: [1, 8, 6, 5], s: 2, pad: 1 },
    { x: [2, 9, 9, 4], s: 2, pad: 'same' },
    { x: [1, 6, 7, 2], s: 1, pad: 'valid' }
  ]

  it.each(poolCases.map((c) => [JSON.stringify(c), c] as const))('MaxPoolGrad %s', async (_, c) => {
    // Rounded values make ties likely, which is where a wrong tie rule would show.
    const x = tf.round(tf.mul(tf.randomNormal(c.x, 0, 1, 'float32', 4), 2)) as tf.Tensor4D
    const dy = tf.randomNormal(tf.maxPool(x, 3, c.s, c.pad).shape, 0, 1, 'float32', 5)
    await compare('max pool grad', () => [
      tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 3, c.s, c.pad), dy)))(x)
    ])
    tf.dispose([x, dy])
  })
})
