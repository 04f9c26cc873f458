import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import { subsample2 } from './subsample'
import { useFusedKernels } from './fused'
import { lazyConvGradients } from '../native/conv-relu'

export interface TorchConvOptions {
  stride?: 1 | 2
  /** Symmetric zero padding on every side, as PyTorch's `padding=p`. */
  padding?: number
  dilation?: 1 | 2
  /**
   * Hand the padding to the conv kernel (true) or zero-pad the input first (false). Default: true on the backends in
   * EXPLICIT_PADDING_BACKENDS. Both give the same numbers; the option exists so both paths are tested everywhere.
   */
  explicitPadding?: boolean
}

/**
 * Backends whose Conv2D *and* its gradient kernels accept explicit padding (checked by the tests against PyTorch). The
 * padding is then free; elsewhere the input is zero-padded first, because tfjs-node's Conv2DBackpropFilter accepts
 * only 'valid' and 'same'.
 */
const EXPLICIT_PADDING_BACKENDS = new Set(['cpu', 'wasm', 'native', 'webgpu'])

type Pad4 = [[number, number], [number, number], [number, number], [number, number]]

/**
 * A 2-D convolution with PyTorch's geometry in NHWC: x [N,H,W,C_in], w [kh,kw,C_in,C_out], symmetric explicit zero
 * padding (TF 'same' would pad bottom/right only at stride 2), any stride 1|2 with any dilation 1|2.
 *
 * Dilation is never handed to tf.conv2d, because tfjs-core refuses gradients of dilated convs and refuses dilation
 * with stride > 1. Instead, with d = 2:
 * - stride 1: tf.conv2d's own dilation in the forward pass, with a custom gradient made of two more forward convs
 *   (see dilatedConv2d).
 * - stride 2: the wanted outputs (every 2nd of the stride-1 dilated result, from 0) read only the even rows and
 *   columns of the padded input, so they are exactly a dense stride-1 conv of padded[::2, ::2].
 */
export function conv2dTorch(x: tf.Tensor4D, w: tf.Tensor4D, options: TorchConvOptions = {}): tf.Tensor4D {
  const stride = options.stride ?? 1
  const p = options.padding ?? 0
  const dilation = options.dilation ?? 1
  return tf.tidy(() => {
    if (dilation === 1) {
      if (p === 0) return tf.conv2d(x, w, stride, 'valid', 'NHWC')
      const pad: Pad4 = [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0]
      ]
      const explicit = options.explicitPadding ?? EXPLICIT_PADDING_BACKENDS.has(tf.getBackend())
      if (explicit) return tf.conv2d(x, w, stride, pad, 'NHWC')
      return tf.conv2d(tf.pad(x, pad), w, stride, 'valid', 'NHWC')
    }
    if (dilation !== 2) throw new Error(`conv2dTorch: dilation ${dilation} is not supported (1 or 2)`)
    if (useFusedKernels()) return dilatedConv2dNative(x, w, p, dilation, stride)
    if (stride === 2) {
      const padded =
        p === 0
          ? x
          : tf.pad(x, [
              [0, 0],
              [p, p],
              [p, p],
              [0, 0]
            ])
      return tf.conv2d(subsample2(padded), w, 1, 'valid', 'NHWC')
    }
    return dilatedConv2d(x, w, p, dilation)
  })
}

/**
 * Dilated conv at stride 1 or 2 on the native backend, straight through its kernels: oneDNN takes any stride with any
 * dilation and explicit symmetric padding (PyTorch's geometry; at stride 2 exactly every second output of the
 * stride-1 result), so there is no padded or subsampled copy, and both gradients come from the backprop kernels'
 * extra `dilations` attribute (tf's have none). runKernel is used because tf.conv2d refuses stride > 1 with dilation.
 */
function dilatedConv2dNative(x: tf.Tensor4D, w: tf.Tensor4D, p: number, d: number, stride: 1 | 2): tf.Tensor4D {
  registerDilatedConvKernel()
  const pad: Pad4 = [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0]
  ]
  const attrs = { strides: [stride, stride], pad, dataFormat: 'NHWC', dilations: [d, d] }
  return tf.engine().runKernel(DILATED_CONV2D, { x, filter: w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D
}

/**
 * The native Conv2D under a name of its own, with a registered gradient (tf's Conv2D gradient refuses dilations). A
 * registered gradient is one lazy function per input, so the α step, which needs no weight gradients, never computes
 * the filter gradient (a custom gradient computes all of them).
 */
const DILATED_CONV2D = 'BnasDilatedConv2D'

function registerDilatedConvKernel(): void {
  if (tf.getKernel(DILATED_CONV2D, 'native')) return
  const conv = tf.getKernel(tf.Conv2D, 'native')
  if (!conv) throw new Error('the native backend has no Conv2D kernel')
  tf.registerKernel({ kernelName: DILATED_CONV2D, backendName: 'native', kernelFunc: conv.kernelFunc })
  if (tf.getGradient(DILATED_CONV2D)) return
  tf.registerGradient({
    kernelName: DILATED_CONV2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved
      return lazyConvGradients(x, filter, dy as tf.Tensor, attrs)
    }
  })
}

/**
 * Stride-1 dilated conv with its own gradient (tfjs-core has none for dilation > 1). Forward and both gradients are
 * plain forward convolutions, which every backend runs natively (XNNPACK on wasm), and only x and w are kept for the
 * backward pass. With x_pad = pad(x, p), Ho = Hp − d(k−1):
 * - dx = conv(pad(dy, d(k−1) − p), W flipped in kh/kw with C_in/C_out swapped, dilation d), which is already H×W;
 * - dW = conv(x_pad as [C_in, Hp, Wp, N], dy as a filter [Ho, Wo, N, C_out], stride d), as [C_in, kh, kw, C_out].
 */
function dilatedConv2d(x: tf.Tensor4D, w: tf.Tensor4D, p: number, d: number): tf.Tensor4D {
  const [kh] = w.shape
  const pad = (t: tf.Tensor4D, q: number): tf.Tensor4D =>
    q === 0
      ? t
      : tf.pad(t, [
          [0, 0],
          [q, q],
          [q, q],
          [0, 0]
        ])
  const op = tf.customGrad((input, filter, save) => {
    const keep = save as tf.GradSaveFunc
    keep([input as tf.Tensor, filter as tf.Tensor])
    return {
      value: tf.conv2d(pad(input as tf.Tensor4D, p), filter as tf.Tensor4D, 1, 'valid', 'NHWC', d),
      gradFunc: (dy, [xs, ws]) => {
        const g = dy as tf.Tensor4D
        const flipped = tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D
        const dx = tf.conv2d(pad(g, d * (kh - 1) - p), flipped, 1, 'valid', 'NHWC', d)
        const channelsFirst = tf.transpose(pad(xs as tf.Tensor4D, p), [3, 1, 2, 0]) as tf.Tensor4D
        const dyFilter = tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D
        const dw = tf.transpose(tf.conv2d(channelsFirst, dyFilter, d, 'valid', 'NHWC'), [1, 2, 0, 3])
        return [dx, dw]
      }
    }
  })
  return op(x, w) as tf.Tensor4D
}

/** Output size of a PyTorch conv/pool along one axis. */
export function torchOutSize(size: number, kernel: number, stride: number, padding: number, dilation = 1): number {
  return Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1
}
