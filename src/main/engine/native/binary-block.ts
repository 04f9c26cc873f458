import * as tf from '@tensorflow/tfjs-core'
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import type { NativeAddon } from './addon'
import { outputBytes, outputFloats } from './backend'

/**
 * Kernels for the elementwise halves of a binary op (BN → sign → binary conv → ReLU) on 'native', which the engine
 * ran as JS loops over the tensors' arrays:
 * - BATCH_NORM_SIGN: sign(batchNorm(x)) and the clipped STE's pass mask (bytes) from x and the batch statistics, in
 *   one pass without the normalised tensor;
 * - MASK_GRADIENT: dy·keep + 0 with keep from a byte mask, from ref > 0 (ReLU's gradient from its output) or from
 *   −1 < ref < 1 (the STE's gradient from its input).
 */
export const BATCH_NORM_SIGN = 'BnasBatchNormSign'
export const MASK_GRADIENT = 'BnasMaskGradient'

/** MASK_GRADIENT's `keep` attribute. */
export type MaskKind = 'bytes' | 'positive' | 'insideUnit'
const MASK_OPS: Record<MaskKind, 0 | 1 | 2> = { bytes: 0, positive: 1, insideUnit: 2 }

function values(backend: MathBackendCPU, t: tf.TensorInfo | undefined, name: string): Float32Array | Uint8Array {
  const v = t ? backend.data.get(t.dataId).values : undefined
  if (!(v instanceof Float32Array || v instanceof Uint8Array)) throw new Error(`${name} must be float32 or bool`)
  return v
}

function floats(backend: MathBackendCPU, t: tf.TensorInfo | undefined, name: string): Float32Array {
  const v = values(backend, t, name)
  if (!(v instanceof Float32Array)) throw new Error(`${name} must be float32`)
  return v
}

export function binaryBlockKernels(addon: NativeAddon): Map<string, tf.KernelFunc> {
  return new Map<string, tf.KernelFunc>([
    [
      BATCH_NORM_SIGN,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const { x, mean, variance, gamma, beta } = args.inputs as Record<string, tf.TensorInfo | undefined>
        const xs = floats(backend, x, 'x')
        const channels = x!.shape[x!.shape.length - 1]
        // Both written in full by the kernel.
        const signs = outputFloats(backend, xs.length, false)
        const pass = outputBytes(backend, xs.length, false)
        addon.batchNormSign(
          xs,
          channels,
          floats(backend, mean, 'mean'),
          floats(backend, variance, 'variance'),
          gamma ? floats(backend, gamma, 'gamma') : null,
          beta ? floats(backend, beta, 'beta') : null,
          (args.attrs as { eps: number }).eps,
          signs,
          pass
        )
        return [backend.makeTensorInfo(x!.shape, 'float32', signs), backend.makeTensorInfo(x!.shape, 'bool', pass)]
      }
    ],
    [
      MASK_GRADIENT,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const { dy, ref } = args.inputs as Record<string, tf.TensorInfo>
        const kind = (args.attrs as { keep: MaskKind }).keep
        if (!tf.util.arraysEqual(dy.shape, ref.shape)) throw new Error('maskGradient: dy and ref must have one shape')
        const g = floats(backend, dy, 'dy')
        const r = values(backend, ref, 'ref')
        if (kind === 'bytes' ? !(r instanceof Uint8Array) : !(r instanceof Float32Array))
          throw new Error(`maskGradient: ref of the wrong dtype for '${kind}'`)
        const out = outputFloats(backend, g.length, false) // written in full
        addon.maskGradient(MASK_OPS[kind], g, r, out)
        return backend.makeTensorInfo(dy.shape, 'float32', out)
      }
    ]
  ])
}
