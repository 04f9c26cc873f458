import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import { hostOutput, hostValues, useFusedKernels } from './fused'

/**
 * Binary activation of the authors' `BinActive`: forward sign(x) with sign(0) = 0 (torch.sign), backward the clipped
 * straight-through estimator: the gradient passes where -1 < x < 1 and is zeroed where x >= 1 or x <= -1, exactly
 * `grad_input[input.ge(1)] = 0; grad_input[input.le(-1)] = 0`.
 */
export function signSte<T extends tf.Tensor>(x: T): T {
  return (useFusedKernels() ? signSteHost(x) : signSteGrad(x)) as T
}

/**
 * The same STE on the native backend (typed-array storage): the clipped gradient as one host loop writing one new
 * tensor, instead of abs, less, zerosLike and select (four full-size kernels and allocations).
 */
const signSteHost = tf.customGrad((x, save) => {
  const input = x as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([input])
  return {
    value: tf.sign(input),
    gradFunc: (dy, saved) => {
      const [kept] = saved
      const xs = hostValues(kept) as Float32Array
      const g = hostValues(dy as tf.Tensor) as Float32Array
      const out = hostOutput(xs.length)
      for (let i = 0; i < xs.length; i++) out[i] = g[i] * +(xs[i] < 1 && xs[i] > -1) + 0 // + 0: a blocked −g gives +0, not −0
      return [tf.tensor(out, kept.shape, 'float32')]
    }
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
