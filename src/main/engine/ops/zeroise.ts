import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import { subsample2 } from './subsample'

/**
 * The authors' `Zero` op: x·0, after x[:, ::2, ::2] at stride 2. Multiplying (rather than creating fresh zeros)
 * keeps the op in the graph with a zero gradient and propagates NaN/Inf like x.mul(0.) does.
 */
export function zeroise(x: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  return tf.tidy(() => tf.mul(stride === 2 ? subsample2(x) : x, tf.scalar(0)))
}
