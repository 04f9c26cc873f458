import * as tf from '@tensorflow/tfjs-core'
import { BATCH_NORM_BACKWARD, BATCH_NORM_FORWARD, BATCH_NORM_STATS } from '../native/batchnorm'
import { WEIGHTED_SUM } from '../native/mixture'
import { BATCH_NORM_SIGN, MASK_GRADIENT } from '../native/binary-block'
import { CONV2D_RELU, lazyConvGradients } from '../native/conv-relu'
import { subsample2 } from './subsample'

/**
 * The one place that decides whether the engine takes the native backend's fused kernels (training batch norm, the
 * α-weighted mixture, dilated conv gradients through the `dilations` attribute, host-side weight binarization) or the
 * op-by-op path every backend runs. True only while the current backend is 'native' and its fused kernels are
 * registered; every other backend (cpu, wasm, tfjs-node) keeps the op-by-op path unchanged.
 *
 * Only the kernel-name modules of ../native are imported here (plain tfjs-core code), never the addon loader.
 */
export function useFusedKernels(): boolean {
  if (tf.getBackend() !== 'native' || fusedDisabled) return false
  return (
    tf.getKernel(BATCH_NORM_FORWARD, 'native') !== undefined &&
    tf.getKernel(BATCH_NORM_STATS, 'native') !== undefined &&
    tf.getKernel(BATCH_NORM_BACKWARD, 'native') !== undefined &&
    tf.getKernel(WEIGHTED_SUM, 'native') !== undefined &&
    tf.getKernel(BATCH_NORM_SIGN, 'native') !== undefined &&
    tf.getKernel(MASK_GRADIENT, 'native') !== undefined &&
    tf.getKernel(CONV2D_RELU, 'native') !== undefined
  )
}

/**
 * A tensor's stored values on the native backend (typed-array storage), for host loops that only read them during
 * the call. Unlike dataSync it does not mark the array as handed out, so the backend can still recycle it once the
 * tensor is disposed. Never keep the array or write to it.
 */
export function hostValues(t: tf.Tensor): Float32Array | Uint8Array {
  const storage = (
    tf.backend() as unknown as { data?: { has(id: object): boolean; get(id: object): { values: unknown } } }
  ).data
  if (storage?.has(t.dataId)) {
    const values = storage.get(t.dataId).values
    if (values instanceof Float32Array || values instanceof Uint8Array) return values
  }
  return t.dataSync() as Float32Array | Uint8Array
}

/** dy·keep + 0 on the native backend (MASK_GRADIENT): keep from a bool mask, ref > 0 or −1 < ref < 1. */
export function maskGradient(dy: tf.Tensor, ref: tf.Tensor, keep: 'bytes' | 'positive' | 'insideUnit'): tf.Tensor {
  return tf.engine().runKernel(MASK_GRADIENT, { dy, ref }, { keep }) as tf.Tensor
}

/**
 * relu(conv(x, w)) with PyTorch's geometry (symmetric zero padding, any stride 1|2 with any dilation 1|2) as the
 * native CONV2D_RELU kernel: the ReLU inside the conv, and gradients of dy·(y > 0) lazily per input. Only on 'native'
 * (check useFusedKernels first). `differentiate` (ForwardContext's) lets it keep less: see conv2dReluKeepingLess.
 */
export function conv2dReluFused(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  { stride, padding, dilation }: { stride: number; padding: number; dilation: number },
  differentiate?: 'weights' | 'arch'
): tf.Tensor4D {
  if (stride === 2 && dilation === 2 && padding % 2 === 0) {
    // A dilation-2 stride-2 conv reads only the even rows and columns of the padded input (p even: the even ones of
    // x), so it is a dense stride-1 conv of x[:, ::2, ::2] padded by p/2: the same sums, on a quarter of the input,
    // through oneDNN's fast dense kernels (its dilated stride-2 gradients fall back to gemm, ~5× slower here).
    return tf.tidy(() =>
      conv2dReluFused(subsample2(x), w, { stride: 1, padding: padding / 2, dilation: 1 }, differentiate)
    )
  }
  const [n, h, wd, c] = x.shape
  const smallPlane = h * wd <= 64
  if (
    stride === 1 &&
    dilation === 2 &&
    padding % 2 === 0 &&
    w.shape[0] === 5 &&
    smallPlane &&
    h % 2 === 0 &&
    wd % 2 === 0
  ) {
    // A dilation-2 stride-1 conv maps each of the four phases of x (rows r::2, columns s::2) to the same phase of y
    // by a dense conv with the same taps and padding p/2: the phases as a batch of 4N make it one dense 5×5 conv. On
    // planes of 8×8 and less oneDNN's filter gradient of the dilated 5×5 conv falls back to gemm (forward + both
    // gradients at batch 32, 8×8×32: 4.9-5.4 ms direct, 2.9 ms this way); on larger planes its dilated kernels win
    // (32×32×8: 7.2-8.2 ms direct, 9.5-10.1 ms this way), so they are used there.
    return tf.tidy(() => {
      const phases = tf.reshape(tf.transpose(tf.reshape(x, [n, h / 2, 2, wd / 2, 2, c]), [2, 4, 0, 1, 3, 5]), [
        4 * n,
        h / 2,
        wd / 2,
        c
      ]) as tf.Tensor4D
      const y = conv2dReluFused(phases, w, { stride: 1, padding: padding / 2, dilation: 1 }, differentiate)
      const cout = y.shape[3]
      const merged = tf.transpose(tf.reshape(y, [2, 2, n, h / 2, wd / 2, cout]), [2, 3, 0, 4, 1, 5])
      return tf.reshape(merged, [n, h, wd, cout]) as tf.Tensor4D
    })
  }
  const pad = [
    [0, 0],
    [padding, padding],
    [padding, padding],
    [0, 0]
  ]
  const attrs = { strides: [stride, stride], pad, dataFormat: 'NHWC', dilations: [dilation, dilation] }
  if (differentiate) return conv2dReluKeepingLess(x, w, attrs as unknown as tf.NamedAttrMap, differentiate)
  return tf.engine().runKernel(CONV2D_RELU, { x, filter: w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D
}

/**
 * CONV2D_RELU for a pass whose gradients are known (a search step), keeping only what they need:
 * - 'arch' (no weight gradient): the filter and the output, not the input, so a binary op's input signs are freed
 *   with the edge; only the input gradient is computed.
 * - 'weights' (α constant, so the mixture keeps no term): the input, the filter and the ReLU mask as bytes instead of
 *   the output (a quarter of its size), so the output is freed once the mixture has summed it.
 * Same values and the same gradients as the kernel's own (dy·(y > 0), then oneDNN's or the own backprop kernels).
 */
function conv2dReluKeepingLess(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  attrs: tf.NamedAttrMap,
  differentiate: 'weights' | 'arch'
): tf.Tensor4D {
  const inputShape = x.shape
  const op = tf.customGrad((input, filter, save) => {
    const y = tf.engine().runKernel(CONV2D_RELU, { x: input as tf.Tensor, filter: filter as tf.Tensor }, attrs)
    const keep = save as tf.GradSaveFunc
    if (differentiate === 'arch') {
      keep([filter as tf.Tensor, y as tf.Tensor])
      return {
        value: y as tf.Tensor,
        gradFunc: (dy, [keptFilter, keptY]) => {
          const g = maskGradient(dy as tf.Tensor, keptY, 'positive')
          const dx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: g, filter: keptFilter }, {
            ...attrs,
            inputShape
          } as unknown as tf.NamedAttrMap) as tf.Tensor
          // The filter is not differentiated in this pass (the tape never reads this zero).
          return [dx, tf.zerosLike(keptFilter)]
        }
      }
    }
    keep([input as tf.Tensor, filter as tf.Tensor, tf.greater(y as tf.Tensor, 0)])
    return {
      value: y as tf.Tensor,
      gradFunc: (dy, [keptX, keptFilter, positive]) => {
        const grads = lazyConvGradients(keptX, keptFilter, maskGradient(dy as tf.Tensor, positive, 'bytes'), attrs)
        return [grads.x(), grads.filter()]
      }
    }
  })
  return op(x, w) as tf.Tensor4D
}

/**
 * A zeroed float array for a host op's output: recycled from disposed tensors on the native backend (its
 * takeFloats), fresh elsewhere. Hand it to tf.tensor, which stores it without a copy.
 */
export function hostOutput(length: number): Float32Array {
  const backend = tf.backend() as unknown as { takeFloats?: (length: number) => Float32Array }
  return backend.takeFloats ? backend.takeFloats(length) : new Float32Array(length)
}

/** The addon functions that work on weight-sized typed arrays directly (ops/binarize.ts). */
export interface NativeHostKernels {
  binarizeWeight(w: Float32Array, cout: number, out: Float32Array): void
  binarizeWeightGrad(w: Float32Array, g: Float32Array, cin: number, cout: number, out: Float32Array): void
  centerAndClamp(w: Float32Array, cin: number, cout: number, out: Float32Array): void
}

/** The native backend's addon while it is the backend (and its fused kernels are on), else null. */
export function nativeHostKernels(): NativeHostKernels | null {
  if (!useFusedKernels()) return null
  return (tf.backend() as unknown as { addon?: NativeHostKernels }).addon ?? null
}

/** BNAS_NATIVE_FUSED=0 keeps the op-by-op path on 'native' too (to bisect a numeric difference). */
const fusedDisabled = typeof process !== 'undefined' && process.env?.BNAS_NATIVE_FUSED === '0'

export { BATCH_NORM_BACKWARD, BATCH_NORM_FORWARD, BATCH_NORM_SIGN, BATCH_NORM_STATS, MASK_GRADIENT, WEIGHTED_SUM }
