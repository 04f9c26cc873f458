import * as tf from '@tensorflow/tfjs-core'
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import type { NativeAddon } from './addon'
import { convGeometry } from './backend'

/** The kernel name of the bit-packed binary convolution (forward only). */
export const BINARY_CONV2D = 'BnasBinaryConv2D'

export interface BinaryConvOptions {
  stride?: 1 | 2
  /** Symmetric zero padding on every side, as PyTorch's `padding=p`. */
  padding?: number
  dilation?: 1 | 2
}

interface BinaryConvAttrs {
  strides: [number, number]
  dilations: [number, number]
  pad: number
}

/**
 * sign(x) ⊛ (sign(w)·α) for x [N,H,W,C_in], w [kh,kw,C_in,C_out] (only its signs are used: the latent weight or the
 * binarized one give the same result), α [C_out] > 0, with PyTorch's geometry (symmetric zero padding, stride 1|2,
 * dilation 1|2 in any combination). sign(0) = 0 and the padding is zero, so border taps are ternary; the result is
 * the float computation's (integer sums scaled by α) within float32 rounding.
 *
 * On the 'native' and 'webgpu' backends it runs XNOR/popcount on bit-packed signs (README: packing convention);
 * elsewhere it is computed with float ops. Forward only: it has no gradient (for evaluation and inference).
 */
export function binaryConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  alpha: tf.Tensor1D,
  options: BinaryConvOptions = {}
): tf.Tensor4D {
  const stride = options.stride ?? 1
  const pad = options.padding ?? 0
  const dilation = options.dilation ?? 1
  // The packed kernels: the native backend's (XNOR/popcount in C++) and the webgpu backend's (WGSL,
  // src/main/engine/webgpu/binary-conv-kernel.ts), each registered by its backend's setup.
  const backend = tf.getBackend()
  if ((backend === 'native' || backend === 'webgpu') && tf.getKernel(BINARY_CONV2D, backend)) {
    const attrs: BinaryConvAttrs = { strides: [stride, stride], dilations: [dilation, dilation], pad }
    return tf
      .engine()
      .runKernel(BINARY_CONV2D, { x, filter: w, alpha }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D
  }
  return binaryConv2dReference(x, w, alpha, options)
}

/**
 * The float computation the packed kernel must equal: conv(sign(x), sign(w)·α). Dilation with stride 2 is the
 * stride-1 dilated conv sampled at every second row and column (tf refuses the combination directly).
 */
export function binaryConv2dReference(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  alpha: tf.Tensor1D,
  options: BinaryConvOptions = {}
): tf.Tensor4D {
  const stride = options.stride ?? 1
  const p = options.padding ?? 0
  const dilation = options.dilation ?? 1
  return tf.tidy(() => {
    const weights = tf.mul(tf.sign(w), tf.reshape(alpha, [1, 1, 1, -1])) as tf.Tensor4D
    const padded = tf.pad(tf.sign(x), [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0]
    ]) as tf.Tensor4D
    if (dilation === 1 || stride === 1) return tf.conv2d(padded, weights, stride, 'valid', 'NHWC', dilation)
    const dense = tf.conv2d(padded, weights, 1, 'valid', 'NHWC', dilation)
    const [n, h, wd, c] = dense.shape
    return tf.stridedSlice(dense, [0, 0, 0, 0], [n, h, wd, c], [1, stride, stride, 1]) as tf.Tensor4D
  })
}

export function binaryConvKernel(addon: NativeAddon): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as MathBackendCPU
    const { x, filter, alpha } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; alpha: tf.TensorInfo }
    const { strides, dilations, pad } = args.attrs as unknown as BinaryConvAttrs
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      strides,
      dilations,
      pad
    )
    const geometry = convGeometry(info)
    if (!geometry) throw new Error(`${BINARY_CONV2D}: unsupported geometry`)
    const read = (t: tf.TensorInfo): Float32Array => {
      const values = backend.data.get(t.dataId).values
      if (!(values instanceof Float32Array)) throw new Error(`${BINARY_CONV2D}: inputs must be float32`)
      return values
    }
    const y = new Float32Array(tf.util.sizeFromShape(info.outShape))
    addon.binaryConv2d(read(x), read(filter), read(alpha), y, geometry)
    return backend.makeTensorInfo(info.outShape, 'float32', y)
  }
}

export interface PackedSigns {
  /** Bit 1 = the value is negative (−1). */
  signs: Uint32Array
  /** Bit 1 = the value is not zero (0 for sign(0) = 0 and for the channel bits past C). */
  nonzero: Uint32Array
  /** ceil(C / 32): channel c is bit c % 32 of word c / 32 of its pixel. */
  wordsPerPixel: number
}

/** Packs the signs of a [..., C] float array, 32 channels a word per pixel (README: packing convention). */
export function packSigns(addon: NativeAddon, values: Float32Array, channels: number): PackedSigns {
  const wordsPerPixel = Math.ceil(channels / 32)
  const words = (values.length / channels) * wordsPerPixel
  const signs = new Uint32Array(words)
  const nonzero = new Uint32Array(words)
  addon.packSigns(values, channels, signs, nonzero)
  return { signs, nonzero, wordsPerPixel }
}
