import * as tf from '@tensorflow/tfjs-core'
import { expect } from 'vitest'
import { createRng } from '../../src/main/engine/nn'
import type { Module } from '../../src/main/engine/nn'
import type { Supernet } from '../../src/main/engine/network'

/**
 * The tiny supernet case the cross-backend checks share (test/engine/supernet.test.ts: cpu against wasm;
 * test/webgpu/supernet.test.ts: cpu against webgpu): 5 cells (reductions at 1 and 3), C = 4, batch 2, 16×16×3.
 */
export const CONFIG = { cells: 5, channels: 4, classes: 10, seed: 11 }
export const BATCH = 2
export const SIZE = 16

export function batch(): { x: tf.Tensor4D; labels: tf.Tensor2D } {
  const rng = createRng(99)
  const x = tf.tensor4d(rng.normalArray(BATCH * SIZE * SIZE * 3), [BATCH, SIZE, SIZE, 3])
  const labels = new Float32Array(BATCH * CONFIG.classes)
  labels[3] = 1
  labels[CONFIG.classes + 8] = 1
  return { x, labels: tf.tensor2d(labels, [BATCH, CONFIG.classes]) }
}

/**
 * Binary convs sum ±α terms: their outputs hit exact ties (0) often, and whether a tie comes out as 0 or as a rounding
 * residue depends on the backend's summation order, which flips ReLU's gradient there (measured: 12 of 512 outputs of
 * one 3×3 block). With every latent weight ±0.5, α = 0.5 and all partial sums are exact in float32 in any order, so
 * both backends see the same ties and the comparison tests the kernels, not the rounding.
 */
export function exactBinaryWeights(net: Module): void {
  const rng = createRng(123)
  for (const w of net.binaryWeights()) {
    const values = Float32Array.from({ length: w.size }, () => (rng.next() < 0.5 ? -0.5 : 0.5))
    const next = tf.tensor(values, w.shape)
    w.assign(next)
    next.dispose()
  }
}

export interface LossAndGradients {
  loss: number
  grads: Float32Array[]
  names: string[]
}

/**
 * One forward + backward of the training loss w.r.t. the weights and α, as plain arrays. Read asynchronously, so it
 * runs on every backend (webgpu in Node has no synchronous read).
 */
export async function lossAndGradients(net: Supernet): Promise<LossAndGradients> {
  return networkLossAndGradients(net, [
    ...net.namedParameters(),
    ['alphas_normal', net.alphaNormal as tf.Variable],
    ['alphas_reduce', net.alphaReduce as tf.Variable]
  ])
}

/** The same for any network and named variables (a final network's weights, say). */
export async function networkLossAndGradients(
  net: { logits(x: tf.Tensor4D, ctx: { training: boolean }): tf.Tensor2D },
  named: Array<[string, tf.Variable]>
): Promise<LossAndGradients> {
  const { x, labels } = batch()
  const variables = named.map(([, variable]) => variable)
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(labels, net.logits(x, { training: true })) as tf.Scalar,
    variables
  )
  const names = named.map(([name]) => name)
  const out = {
    loss: (await value.data())[0]!,
    grads: await Promise.all(variables.map(async (v) => (await grads[v.name]!.data()) as Float32Array)),
    names
  }
  tf.dispose([x, labels, value, grads])
  return out
}

/**
 * The loss to 4 decimals and every gradient tensor to `rtol` of its largest entry. Floor of 1e-3: some gradients are
 * 0 in exact arithmetic (a BN β whose shift the next training-mode BN removes) and only rounding noise (~1e-8) is
 * left to compare there.
 */
export function expectSameLossAndGradients(
  reference: LossAndGradients,
  other: LossAndGradients,
  what: string,
  rtol = 1e-4
): void {
  expect(Number.isFinite(reference.loss)).toBe(true)
  expect(other.loss).toBeCloseTo(reference.loss, 4)
  expect(other.grads).toHaveLength(reference.grads.length)
  reference.grads.forEach((grad, i) => {
    const theirs = other.grads[i]!
    const scale = Math.max(1e-3, ...Array.from(grad, Math.abs))
    const worst = grad.reduce((m, v, j) => Math.max(m, Math.abs(v - theirs[j]!)), 0)
    expect(worst / scale, `${reference.names[i]}: max |reference - ${what}| / max |reference|`).toBeLessThan(rtol)
  })
  // α gets a real gradient (through the softmax mixture).
  expect(reference.grads.at(-1)?.some((v) => v !== 0)).toBe(true)
}
