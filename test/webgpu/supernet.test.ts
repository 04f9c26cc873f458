import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import type { Batch } from '../../src/main/datasets'
import { archStep, weightStep } from '../../src/main/engine/jobs/search-job'
import { FinalNetwork, Supernet } from '../../src/main/engine/network'
import { centerAndClampLatent } from '../../src/main/engine/ops'
import { Adam, SgdMomentum } from '../../src/main/engine/train/optimizers'
import { publishedBnasGenotype } from '../../src/shared/genotype'
import {
  BATCH,
  batch,
  CONFIG,
  SIZE,
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

  it("runs the search job's steps (α then weights, read asynchronously) without leaking tensors", async () => {
    await tf.setBackend('webgpu')
    // 3 cells (reductions at 1 and 2) keep the two steps short on lavapipe, where each op is a dispatch on the CPU.
    const net = new Supernet({ ...CONFIG, cells: 3 })
    const weights = net.namedParameters().map(([name, variable]) => ({ name, variable }))
    const sgd = new SgdMomentum(weights, 0.025, 0.9, 3e-4)
    const adam = new Adam(
      [
        { name: 'alpha.normal', variable: net.alphaNormal as tf.Variable },
        { name: 'alpha.reduce', variable: net.alphaReduce as tf.Variable }
      ],
      3e-4,
      0.5,
      0.999,
      1e-3
    )
    const { x, labels } = batch()
    const data: Batch = {
      images: (await x.data()) as Float32Array,
      labels: Int32Array.from({ length: BATCH }, (_, i) => (i * 3) % CONFIG.classes),
      shape: [BATCH, SIZE, SIZE, 3],
      size: BATCH,
      indices: new Int32Array(BATCH)
    }
    tf.dispose([x, labels])
    const step = async (): Promise<{ loss: number; correct: number }> => {
      for (const weight of net.binaryWeights()) centerAndClampLatent(weight)
      archStep(net, adam, net.archParameters(), data, 1)
      return weightStep(net, sgd, net.weightParameters(), data)
    }
    try {
      await step() // creates the optimizer slots
      const before = tf.memory().numTensors
      const { loss, correct } = await step()
      expect(tf.memory().numTensors).toBe(before)
      expect(Number.isFinite(loss) && loss > 0).toBe(true)
      expect([0, 1, 2]).toContain(correct)
    } finally {
      sgd.dispose()
      adam.dispose()
      net.dispose()
    }
  })

  it('trains the final network of a genotype with the same loss and gradients as the cpu backend', async () => {
    const cpu = await finalOnBackend('cpu')
    const webgpu = await finalOnBackend('webgpu')
    expectSameLossAndGradients(cpu, webgpu, 'webgpu')
  })
})
