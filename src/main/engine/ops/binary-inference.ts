import * as tf from '@tensorflow/tfjs-core'
import { BINARY_CONV2D, binaryConv2d, type BinaryConvOptions } from '../native/binary-conv'

/**
 * Inference forward of a binary conv block's conv → ReLU on bit-packed signs (XNOR/popcount: the native addon's kernel
 * or the WGSL one), instead of the float conv of the signs with sign(W)·α. Both give the same numbers up to float32
 * rounding (integer sums scaled by α vs sums of ±α). Where it pays, measured with
 * `npx tsx scripts/bench/binary-vs-float.ts BACKEND` (batch 32–64, one layer, 2 cores, 2026-11-26):
 * - webgpu (lavapipe): 2–15× faster on every layer shape of the method (16 ch 3×3 at 32×32: 18 vs 136 ms);
 * - native, 1 thread: faster from C_in·k² ≈ 512 up (64 ch 3×3: 3.6 vs 4.1 ms; 128 ch 5×5 dilation 2: 7.3 vs 20 ms),
 *   slower below, where oneDNN's float conv wins (16 ch 3×3: 3.7 vs 1.7 ms; 48 ch 1×1: 5.3 vs 3.9 ms).
 * The packed kernel has no gradient, so it is never used while a gradient tape records (the α step, training).
 * BNAS_BINARY_KERNELS=0 turns it off (to compare the two paths).
 */
const NATIVE_MIN_TAPS = 512

export function useBinaryInferenceKernel(inChannels: number, kernel: number): boolean {
  if (process.env.BNAS_BINARY_KERNELS === '0' || tf.engine().state.gradientDepth > 0) return false
  const backend = tf.getBackend()
  if (backend !== 'webgpu' && backend !== 'native') return false
  if (!tf.getKernel(BINARY_CONV2D, backend)) return false
  return backend === 'webgpu' || inChannels * kernel * kernel >= NATIVE_MIN_TAPS
}

/** relu(sign(x) ⊛ sign(W)·α) with α = mean |W| over kh, kw, C_in, as binarizeWeight's. */
export function binaryConvReluInference(x: tf.Tensor4D, latent: tf.Tensor4D, options: BinaryConvOptions): tf.Tensor4D {
  return tf.tidy(() => {
    const alpha = tf.mean(tf.abs(latent), [0, 1, 2]) as tf.Tensor1D
    return tf.relu(binaryConv2d(x, latent, alpha, options))
  })
}
