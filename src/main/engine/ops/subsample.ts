import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'

/**
 * x[:, ::2, ::2, :] (PyTorch slicing: rows and columns 0, 2, 4, ...; odd sizes keep ceil(H/2)).
 *
 * Built from rank-4 pad/reshape/slice (tfjs-core has no stridedSlice gradient) inside a custom gradient whose
 * backward is the exact adjoint, dy scattered back to the even positions with zeros elsewhere. Nothing is saved for
 * the backward pass: autodiff through the pieces would keep the padded copy alive until the gradient is done.
 */
export function subsample2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape
  const h2 = Math.ceil(h / 2)
  const w2 = Math.ceil(w / 2)
  const op = tf.customGrad((input) => {
    const t = input as tf.Tensor4D
    const padded =
      h % 2 === 0 && w % 2 === 0
        ? t
        : tf.pad(t, [
            [0, 0],
            [0, h % 2],
            [0, w % 2],
            [0, 0]
          ])
    // [N·H/2, 2, W/2, 2·C]: the even row is index 0 of axis 1, the even column the first C entries of the last axis.
    const view = tf.reshape(padded, [n * h2, 2, w2, 2 * c])
    return {
      value: tf.reshape(tf.slice(view, [0, 0, 0, 0], [n * h2, 1, w2, c]), [n, h2, w2, c]),
      gradFunc: (dy) => {
        const spread = tf.pad(tf.reshape(dy, [n * h2, 1, w2, c]), [
          [0, 0],
          [0, 1],
          [0, 0],
          [0, c]
        ])
        const full = tf.reshape(spread, [n, 2 * h2, 2 * w2, c])
        return full.shape[1] === h && full.shape[2] === w ? full : tf.slice(full, [0, 0, 0, 0], [n, h, w, c])
      }
    }
  })
  return op(x) as tf.Tensor4D
}
