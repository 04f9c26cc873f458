import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import { torchOutSize } from './conv'
import { useFusedKernels } from './fused'

/**
 * nn.MaxPool2d(3, stride, padding=1): the padding never wins a max, as PyTorch pads with −∞. Padded explicitly with
 * −∞ and pooled 'valid' rather than with a numeric pad, because tfjs-node's MaxPool kernel accepts only 'valid' and
 * 'same'; the output size floor((H + 2 − 3)/s) + 1 is PyTorch's.
 */
export function maxPool3x3Torch(x: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  // The native MaxPool/MaxPoolGrad skip out-of-image taps (= −∞ padding) and take a numeric pad: no padded copy.
  if (useFusedKernels()) return maxPoolNative(x, stride)
  return tf.tidy(() => {
    const padded = tf.pad(
      x,
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0]
      ],
      -Infinity
    )
    return tf.maxPool(padded, 3, stride, 'valid')
  })
}

/**
 * tf.maxPool with a gradient that keeps only the input. tf's own MaxPool gradient also keeps the output, which its
 * MaxPoolGrad kernels (native and cpu) never read: in the search that output (the pool op's, normalised by the BN
 * after it) would stay alive until the backward pass for nothing.
 */
function maxPoolNative(x: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  const op = tf.customGrad((input, save) => {
    ;(save as tf.GradSaveFunc)([input as tf.Tensor])
    return {
      value: tf.maxPool(input as tf.Tensor4D, 3, stride, 1),
      gradFunc: (dy, [kept]) => [
        tf.engine().runKernel(
          tf.MaxPoolGrad,
          { dy: dy as tf.Tensor, input: kept },
          {
            filterSize: 3,
            strides: stride,
            pad: 1
          }
        ) as tf.Tensor
      ]
    }
  })
  return op(x) as tf.Tensor4D
}

/**
 * nn.AvgPool2d(3, stride, padding=1, count_include_pad=False). Computed as the zero-padded window sum divided by the
 * number of in-image taps of each window (a constant map), so forward and gradient use the same divisor on every
 * backend: tfjs' own avgPool gradient divides by the full 9 even where its forward divides by the valid count.
 */
export function avgPool3x3Torch(x: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  if (useFusedKernels()) return avgPoolNative(x, stride)
  return tf.tidy(() => {
    const [, h, w] = x.shape
    const padded = tf.pad(x, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0]
    ])
    const meanOf9 = tf.avgPool(padded, 3, stride, 'valid')
    return tf.mul(meanOf9, validCountScale(h, w, stride))
  })
}

/** 9 / (number of in-image taps) for each output position of a 3×3 pad-1 window, shape [1, Ho, Wo, 1]. */
function validCountScale(h: number, w: number, stride: number): tf.Tensor4D {
  const ho = torchOutSize(h, 3, stride, 1)
  const wo = torchOutSize(w, 3, stride, 1)
  const taps = (start: number, size: number): number => Math.min(start + 1, size - 1) - Math.max(start - 1, 0) + 1
  const scale = new Float32Array(ho * wo)
  for (let i = 0; i < ho; i++) {
    for (let j = 0; j < wo; j++) scale[i * wo + j] = 9 / (taps(i * stride, h) * taps(j * stride, w))
  }
  return tf.tensor4d(scale, [1, ho, wo, 1])
}

/**
 * The same pool on the native backend without the padded copy: its AvgPool skips out-of-image taps and divides by
 * the valid count (PyTorch's count_include_pad=False forward), and its AvgPoolGrad spreads dy/9 over the in-image
 * taps, so the backward pass is AvgPoolGrad(dy · 9/valid count): dy/valid count on every valid tap, as PyTorch.
 */
function avgPoolNative(x: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  const [, h, w] = x.shape
  const op = tf.customGrad((input, save) => {
    ;(save as tf.GradSaveFunc)([input as tf.Tensor])
    return {
      value: tf.avgPool(input as tf.Tensor4D, 3, stride, 1),
      gradFunc: (dy, [kept]) =>
        tf.tidy(() => {
          const scaled = tf.mul(dy as tf.Tensor, validCountScale(h, w, stride))
          return [
            tf.engine().runKernel(
              tf.AvgPoolGrad,
              { dy: scaled, input: kept },
              {
                filterSize: 3,
                strides: stride,
                pad: 1
              }
            ) as tf.Tensor
          ]
        })
    }
  })
  return op(x) as tf.Tensor4D
}
