import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'

/** PyTorch nn.BatchNorm2d defaults. */
export const BN_EPS = 1e-5
export const BN_MOMENTUM = 0.1

export interface BatchNormState {
  runningMean: tf.Variable
  runningVar: tf.Variable
  /** γ and β, present only when affine (any tensor: tests and frozen models pass plain tensors). */
  gamma?: tf.Tensor
  beta?: tf.Tensor
}

/**
 * Batch normalisation over N, H, W of an NHWC tensor, with PyTorch's semantics:
 * - training: normalise with the batch mean and the *biased* batch variance, and update the running statistics with
 *   momentum 0.1 using the *unbiased* variance (n/(n−1)), as torch.nn.functional.batch_norm does;
 * - eval: normalise with the running statistics.
 * The running-stat update happens inside the call (a side effect on the variables) and is not differentiated.
 */
export function batchNorm(x: tf.Tensor4D, state: BatchNormState, training: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    let mean: tf.Tensor
    let variance: tf.Tensor
    if (training) {
      const moments = tf.moments(x, [0, 1, 2])
      mean = moments.mean
      variance = moments.variance
      const [n, h, w] = x.shape
      const count = n * h * w
      const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance
      // assign() is not recorded on the gradient tape, so the update never feeds back into any gradient.
      state.runningMean.assign(tf.add(tf.mul(state.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)))
      state.runningVar.assign(tf.add(tf.mul(state.runningVar, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)))
    } else {
      mean = state.runningMean
      variance = state.runningVar
    }
    const inv = tf.rsqrt(tf.add(variance, BN_EPS))
    let y = tf.mul(tf.sub(x, mean), inv)
    if (state.gamma) y = tf.mul(y, state.gamma)
    if (state.beta) y = tf.add(y, state.beta)
    return y as tf.Tensor4D
  })
}
