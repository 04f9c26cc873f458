import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'

/** How the gradient reaches the latent weight of a binarized conv. */
export type WeightGradientMode = 'xnor' | 'ste'

export interface BinarizeOptions {
  /**
   * 'xnor' (default, spec section 0): the authors' `updateBinaryGradWeight` transform, including its n·(1 − 1/C_in)
   * factor that the published learning rates depend on. 'ste': the plain straight-through gradient of sign(W)·α with α
   * treated as a constant and the gradient passed where |W| ≤ 1 (a documented deviation, not the paper's).
   */
  gradient?: WeightGradientMode
}

/** Axes of a [kh, kw, C_in, C_out] weight that one output channel's scaling factor averages over. */
const PER_OUTPUT_AXES = [0, 1, 2]

/**
 * XNOR-Net weight binarization (BinOp.binarizeConvParams): sign(W)·α_o with α_o = mean |W| over kh, kw, C_in, one
 * factor per output channel. W is the latent weight, already centred and clamped by {@link centerAndClampLatent}.
 *
 * The gradient replaces the gradient g with respect to the binarized weight by BinOp.updateBinaryGradWeight:
 *   n·(1 − 1/C_in)·[ α_o·1(|W| ≤ 1)·g + sign(W)·(1/n)·Σ_{kh,kw,C_in}(sign(W) ⊙ g) ],  n = kh·kw·C_in.
 */
export function binarizeWeight(latent: tf.Tensor4D, options: BinarizeOptions = {}): tf.Tensor4D {
  return (options.gradient === 'ste' ? binarizeSte : binarizeXnor)(latent) as tf.Tensor4D
}

function scaledSign(w: tf.Tensor): { sign: tf.Tensor; alpha: tf.Tensor } {
  const alpha = tf.mean(tf.abs(w), PER_OUTPUT_AXES, true)
  return { sign: tf.sign(w), alpha }
}

const binarizeXnor = tf.customGrad((latent, save) => {
  const w = latent as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([w])
  const { sign, alpha } = scaledSign(w)
  return {
    value: tf.mul(sign, alpha),
    gradFunc: (dy, saved) => {
      const [kept] = saved
      const [kh, kw, cin] = kept.shape
      const n = kh * kw * cin
      const { sign: s, alpha: a } = scaledSign(kept)
      // α_o · 1(|W| ≤ 1) · g, with the indicator as a 0/1 mask (no broadcast copy of α).
      const inRange = tf.cast(tf.lessEqual(tf.abs(kept), 1), 'float32')
      const direct = tf.mul(tf.mul(dy, a), inRange)
      const viaAlpha = tf.mul(s, tf.div(tf.sum(tf.mul(s, dy), PER_OUTPUT_AXES, true), n))
      return [tf.mul(tf.add(direct, viaAlpha), n * (1 - 1 / cin))]
    }
  }
})

const binarizeSte = tf.customGrad((latent, save) => {
  const w = latent as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([w])
  const { sign, alpha } = scaledSign(w)
  return {
    value: tf.mul(sign, alpha),
    gradFunc: (dy, saved) => {
      const [kept] = saved
      return [tf.where(tf.lessEqual(tf.abs(kept), 1), dy, tf.zerosLike(dy))]
    }
  }
})

/**
 * BinOp steps a–c, run on every latent weight before each forward pass in training: subtract the mean over the
 * input-channel axis (axis 2 of [kh, kw, C_in, C_out]) and clamp to [−1, 1]. Mutates the variable in place.
 */
export function centerAndClampLatent(w: tf.Variable): void {
  tf.tidy(() => {
    const centred = tf.sub(w, tf.mean(w, 2, true))
    w.assign(tf.clipByValue(centred, -1, 1))
  })
}
