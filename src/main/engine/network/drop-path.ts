import * as tf from '@tensorflow/tfjs-core'
import type { Rng } from '../nn'

/**
 * The authors' `drop_path` (utils.py): each sample of the batch keeps the whole tensor with probability
 * keep = 1 − p, scaled by 1/keep so the expectation is unchanged, or is zeroed. The mask comes from the network's
 * seeded Rng, so a seed reproduces a training run on every backend.
 */
export function dropPath(x: tf.Tensor4D, dropProb: number, rng: Rng): tf.Tensor4D {
  if (dropProb <= 0) return x
  if (dropProb >= 1) throw new Error(`drop-path probability must be below 1, got ${dropProb}`)
  const keep = 1 - dropProb
  const n = x.shape[0]
  const mask = new Float32Array(n)
  for (let i = 0; i < n; i++) mask[i] = rng.next() < keep ? 1 / keep : 0
  return tf.tidy(() => tf.mul(x, tf.tensor4d(mask, [n, 1, 1, 1])))
}
