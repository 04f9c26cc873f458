import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { Supernet } from '../../src/main/engine/network'
import {
  CONFIG,
  exactBinaryWeights,
  expectSameLossAndGradients,
  lossAndGradients,
  type LossAndGradients
} from '../engine/supernet-case'
import { webgpuSuite } from './adapter'

// A whole supernet forward and backward pass on webgpu (every op of the method, the α mixture, BN, the XNOR weight
// gradient) against the cpu backend, on the tiny case of test/engine/supernet.test.ts.
const gpu = await webgpuSuite('supernet step')

async function onBackend(backend: string): Promise<LossAndGradients> {
  await tf.setBackend(backend)
  const net = new Supernet(CONFIG)
  try {
    exactBinaryWeights(net)
    return await lossAndGradients(net)
  } finally {
    net.dispose()
  }
}

describe.skipIf(!gpu.available)(`Supernet on webgpu${gpu.skipReason}`, () => {
  beforeAll(async () => {
    await initBackend('cpu')
    await initBackend('webgpu')
    // Every op on its WGSL shader, none forwarded to tfjs' CPU kernels because its inputs are small and on the host.
    tf.env().set('WEBGPU_CPU_FORWARD', false)
  })

  it('gives the same loss and gradients (weights and alpha) as the cpu backend', async () => {
    const cpu = await onBackend('cpu')
    const webgpu = await onBackend('webgpu')
    expect(tf.getBackend()).toBe('webgpu')
    expectSameLossAndGradients(cpu, webgpu, 'webgpu')
  })
})
