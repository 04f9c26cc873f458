import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import { maskGradient, useFusedKernels } from './fused'

/**
 * Binary activation of the authors' `BinActive`: forward sign(x) with sign(0) = 0 (torch.sign), backward the clipped
 * straight-through estimator: the gradient passes where -1 < x < 1 and is zeroed where x >= 1 or x <= -1, exactly
 * `grad_input[input.ge(1)] = 0; grad_input[input.le(-1)] = 0`.
 */
export function signSte<T extends tf.Tensor>(x: T): T {
  return (useFusedKernels() ? signSteHost(x) : signSteGrad(x)) as T
}

/**
 * The same STE on the native backend: the clipped gradient as one MASK_GRADIENT kernel writing one new tensor,
 * instead of abs, less, zerosLike and select (four full-size kernels and allocations).
 */
const signSteHost = tf.customGrad((x, save) => {
  const input = x as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([input])
  return {
    value: tf.sign(input),
    // dy where −1 < x < 1, +0 elsewhere (a blocked −dy gives +0, as the op-by-op where(…, dy, 0)).
    gradFunc: (dy, [kept]) => [maskGradient(dy as tf.Tensor, kept, 'insideUnit')]
  }
})

const signSteGrad = tf.customGrad((x, save) => {
  const input = x as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([input])
  return {
    value: tf.sign(input),
    gradFunc: (dy, saved) => {
      const [kept] = saved
      // |x| < 1 strictly: the PyTorch masks use ge(1) / le(-1), so |x| == 1 is blocked.
      const pass = tf.less(tf.abs(kept), 1)
      return [tf.where(pass, dy, tf.zerosLike(dy))]
    }
  }
})
