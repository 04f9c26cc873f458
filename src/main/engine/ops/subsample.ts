import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'

/**
 * x[:, ::2, ::2, :] (PyTorch slicing, rows and columns 0, 2, 4, ...), built from pad/reshape/slice only: tfjs-core has
 * no gradient for stridedSlice, and these three differentiate on every backend. Odd sizes keep ceil(H/2) rows.
 */
export function subsample2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape
    const padded =
      h % 2 === 0 && w % 2 === 0
        ? x
        : tf.pad(x, [
            [0, 0],
            [0, h % 2],
            [0, w % 2],
            [0, 0]
          ])
    const h2 = (h + (h % 2)) / 2
    const w2 = (w + (w % 2)) / 2
    // Rank-4 views only: [N·H/2, 2, W/2, 2·C] keeps the even row as index 0 of axis 1 and the even column as the first
    // C entries of the last axis.
    const view = tf.reshape(padded, [n * h2, 2, w2, 2 * c])
    const even = tf.slice(view, [0, 0, 0, 0], [n * h2, 1, w2, c])
    return tf.reshape(even, [n, h2, w2, c])
  })
}
