import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import { mergePhases2, splitPhases2 } from './phases'
import { subsample2 } from './subsample'

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
const EXPLICIT_PADDING_BACKENDS = new Set(['cpu', 'wasm'])

type Pad4 = [[number, number], [number, number], [number, number], [number, number]]

/**
 * A 2-D convolution with PyTorch's geometry in NHWC: x [N,H,W,C_in], w [kh,kw,C_in,C_out], symmetric explicit zero
 * padding (TF 'same' would pad bottom/right only at stride 2), any stride 1|2 with any dilation 1|2.
 *
 * Dilation is never handed to tf.conv2d, because tfjs-core refuses gradients of dilated convs and refuses dilation
 * with stride > 1. Instead, with d = 2:
 * - stride 1: the classic atrous decomposition (spaceToBatchND / batchToSpaceND, here built from slices and concats,
 *   see phases.ts): the padded input is split into its 4 row/column parity phases, each phase is convolved densely
 *   with the undilated kernel, and the results are interleaved back. Same FLOPs as the dilated conv and every piece
 *   has a gradient on every backend.
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
    const [, h, wd] = x.shape
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
    // Extra bottom/right zero row/column when the padded size is odd; the one surplus output row/column it creates is
    // cropped at the end.
    const extraH = (h + 2 * p) % 2
    const extraW = (wd + 2 * p) % 2
    const padded = tf.pad(x, [
      [0, 0],
      [p, p + extraH],
      [p, p + extraW],
      [0, 0]
    ])
    const y = mergePhases2(tf.conv2d(splitPhases2(padded), w, 1, 'valid', 'NHWC'))
    if (extraH === 0 && extraW === 0) return y
    const [n, yh, yw, c] = y.shape
    return tf.slice(y, [0, 0, 0, 0], [n, yh - extraH, yw - extraW, c])
  })
}

/** Output size of a PyTorch conv/pool along one axis. */
export function torchOutSize(size: number, kernel: number, stride: number, padding: number, dilation = 1): number {
  return Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1
}
