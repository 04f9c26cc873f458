import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { FinalNetwork, Supernet } from '../../src/main/engine/network'
import { publishedBnasGenotype } from '../../src/shared/genotype'
import {
  CONFIG,
  exactBinaryWeights,
  expectSameLossAndGradients,
  lossAndGradients,
  networkLossAndGradients,
  type LossAndGradients
} from '../engine/supernet-case'
import { webgpuSuite } from './adapter'

// A whole supernet (and a final network) forward and backward pass on webgpu (every op of the method, the α mixture,
// BN, the XNOR weight gradient) against the cpu backend, on the tiny case of test/engine/supernet.test.ts.
const gpu = await webgpuSuite('supernet step')

/** BNAS-A's cell in a 3-cell final network (reductions at 1 and 2), drop-path off: the training path's network. */
async function finalOnBackend(backend: string): Promise<LossAndGradients> {
  await tf.setBackend(backend)
  const net = new FinalNetwork({
    genotype: publishedBnasGenotype('latest_cell_zeroise'),
    cells: 3,
    channels: CONFIG.channels,
    classes: CONFIG.classes,
    macro: 'cifar',
    seed: CONFIG.seed
  })
  try {
    exactBinaryWeights(net)
    return await networkLossAndGradients(net, net.namedParameters())
  } finally {
    net.dispose()
  }
}

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

  it('trains the final network of a genotype with the same loss and gradients as the cpu backend', async () => {
    const cpu = await finalOnBackend('cpu')
    const webgpu = await finalOnBackend('webgpu')
    expectSameLossAndGradients(cpu, webgpu, 'webgpu')
  })
})
