import * as tf from '@tensorflow/tfjs-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { centerAndClampLatent } from '../../src/main/engine/nn'
import { Supernet } from '../../src/main/engine/network'
import { summarizeNetwork } from '../../src/main/engine/summary'
import { deriveGenotype, meanEdgeEntropy } from '../../src/shared/genotype'
import { batch, CONFIG, exactBinaryWeights, expectSameLossAndGradients, lossAndGradients, SIZE } from './supernet-case'

beforeAll(async () => {
  await initBackend('cpu')
  await initBackend('wasm')
})

afterAll(async () => {
  await tf.setBackend('cpu')
})

describe('Supernet', () => {
  it('keeps alpha apart from the weights, initialised 1e-3·N(0, 1), and derives its genotype from it', async () => {
    await tf.setBackend('cpu')
    const net = new Supernet(CONFIG)
    try {
      expect(net.alphaNormal.shape).toEqual([14, 7])
      expect(net.alphaReduce.shape).toEqual([14, 7])
      const weights = new Set(net.weightParameters())
      expect(net.archParameters().some((alpha) => weights.has(alpha))).toBe(false)
      const { normal, reduce } = net.alphas()
      const all = [...normal.flat(), ...reduce.flat()]
      const std = Math.sqrt(all.reduce((s, v) => s + v * v, 0) / all.length)
      expect(std).toBeGreaterThan(5e-4)
      expect(std).toBeLessThan(2e-3)
      expect(net.genotype({ gamma: 3 })).toEqual(deriveGenotype(normal, reduce, { gamma: 3 }))
      const entropy = net.meanEdgeEntropy()
      expect(entropy.dataSync()[0]).toBeCloseTo(meanEdgeEntropy(normal, reduce), 5)
      entropy.dispose()
      // Search-phase preprocessing is float; binary convs are only the cells' candidate ops (4 per edge).
      expect(net.binaryWeights()).toHaveLength(CONFIG.cells * 14 * 4)
      expect(net.namedParameters().some(([name]) => name.includes('preprocess0.bn.weight'))).toBe(false)
      expect(net.namedParameters().some(([name]) => name === 'cells.1.preprocess_res.0.weight')).toBe(true)
      const same = new Supernet(CONFIG)
      expect(same.alphas()).toEqual(net.alphas())
      same.dispose()
    } finally {
      net.dispose()
    }
  })

  it('is walked completely by the summary (every parameter, with shapes a real forward pass gives)', async () => {
    await tf.setBackend('cpu')
    const net = new Supernet(CONFIG)
    const summary = summarizeNetwork(net, [SIZE, SIZE, 3])
    expect(summary.trainableParams).toBe(net.parameterCount())
    expect(summary.output).toEqual([1, 1, CONFIG.classes])
    expect(summary.blocks.find((block) => block.name === 'cells.3')?.output).toEqual([4, 4, 4 * 4 * CONFIG.channels])
    // Per edge: 4 binary candidates (dil 3×3, dil 5×5, 3×3, 5×5) of C×C at the edge's output resolution.
    const edge = summary.layers.filter((layer) => layer.name.startsWith('cells.0._ops.0.'))
    expect(edge.reduce((sum, layer) => sum + layer.bops, 0)).toBe(SIZE * SIZE * 4 * 4 * (9 + 25 + 9 + 25))
    net.dispose()
  })

  it('gives the same loss and gradients (weights and alpha) on the cpu and wasm backends', async () => {
    const results = []
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend)
      const net = new Supernet(CONFIG)
      exactBinaryWeights(net)
      results.push(await lossAndGradients(net))
      net.dispose()
    }
    const [cpu, wasm] = results
    expectSameLossAndGradients(cpu!, wasm!, 'wasm')
  })

  it('leaks no tensors over repeated search steps (wasm)', async () => {
    await tf.setBackend('wasm')
    const net = new Supernet(CONFIG)
    const { x, labels } = batch()
    const step = () => {
      for (const w of net.binaryWeights()) centerAndClampLatent(w)
      tf.tidy(() => {
        const variables = [...net.weightParameters(), ...net.archParameters()]
        const { grads } = tf.variableGrads(() => {
          const ce = tf.losses.softmaxCrossEntropy(labels, net.logits(x, { training: true }))
          return tf.sub(ce, net.meanEdgeEntropy()) as tf.Scalar
        }, variables)
        for (const v of variables) v.assign(tf.sub(v, tf.mul(grads[v.name], 1e-3)))
      })
    }
    step()
    const tensors = tf.memory().numTensors
    const bytes = tf.memory().numBytes
    for (let i = 0; i < 3; i++) step()
    expect(tf.memory().numTensors).toBe(tensors)
    expect(tf.memory().numBytes).toBe(bytes)
    const before = net.genotype()
    expect(before.normal).toHaveLength(8)
    tf.dispose([x, labels])
    net.dispose()
  })
})
