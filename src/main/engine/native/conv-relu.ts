import * as tf from '@tensorflow/tfjs-core'
import type { NativeAddon } from './addon'
import { conv2D } from './backend'
import { MASK_GRADIENT } from './binary-block'

/**
 * relu(conv2d(x, w)) as one native kernel: oneDNN applies the ReLU as a post-op while each output is in registers,
 * so a conv block (BN → [sign →] conv → ReLU) writes one full-size tensor instead of two and makes one pass instead of
 * two. Attributes as Conv2D's, plus `dilations` with any stride (runKernel only).
 *
 * The gradient keeps the output (y > 0 is exactly where the conv output was positive) and, lazily per input, gives
 * Conv2DBackpropInput and Conv2DBackpropFilter of dy·(y > 0): the α step, which needs no weight gradients, never
 * computes the filter gradient.
 */
export const CONV2D_RELU = 'BnasConv2DRelu'

/**
 * Conv2D's gradients for x and for the filter, each computed only when the tape asks for it (the α step asks for
 * none of the filters'). `attrs` are the conv's own: strides, pad, dilations.
 */
export function lazyConvGradients(
  x: tf.Tensor,
  filter: tf.Tensor,
  dy: tf.Tensor,
  attrs: tf.NamedAttrMap
): { x: () => tf.Tensor; filter: () => tf.Tensor } {
  return {
    x: () =>
      tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
        ...attrs,
        inputShape: x.shape
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    filter: () =>
      tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
        ...attrs,
        filterShape: filter.shape
      } as unknown as tf.NamedAttrMap) as tf.Tensor
  }
}

export function convReluKernels(addon: NativeAddon, fallback: tf.KernelFunc): Map<string, tf.KernelFunc> {
  return new Map([[CONV2D_RELU, conv2D(addon, fallback, true) as tf.KernelFunc]])
}

export function registerConvReluGradient(): void {
  if (tf.getGradient(CONV2D_RELU)) return
  tf.registerGradient({
    kernelName: CONV2D_RELU,
    inputsToSave: ['x', 'filter'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved
      // Computed once for both inputs, outside their closures: each closure may run in its own tidy scope.
      const masked = tf.engine().runKernel(MASK_GRADIENT, { dy: dy as tf.Tensor, ref: y }, { keep: 'positive' })
      const g = masked as tf.Tensor
      return lazyConvGradients(x, filter, g, attrs)
    }
  })
}
