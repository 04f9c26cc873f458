import { availableParallelism } from 'node:os'
import * as tf from '@tensorflow/tfjs-core'
import { loadNativeAddon, nativeAddonStatus } from './addon'
import { NATIVE_BACKEND_NAME, NativeBackend, nativeKernels } from './backend'
import { BINARY_CONV2D, binaryConvKernel } from './binary-conv'
import { elementwiseKernels } from './elementwise'
import { installEagerBackprop } from './eager-backprop'
import { BATCH_NORM_SIGN, MASK_GRADIENT, binaryBlockKernels } from './binary-block'
import { CONV2D_RELU, convReluKernels, registerConvReluGradient } from './conv-relu'
import { WEIGHTED_SUM, WEIGHTED_SUM_GRAD, weightedSumKernels } from './mixture'
import {
  BATCH_NORM_BACKWARD as BATCH_NORM_BACKWARD_KERNEL,
  BATCH_NORM_FORWARD as BATCH_NORM_FORWARD_KERNEL,
  BATCH_NORM_STATS as BATCH_NORM_STATS_KERNEL,
  batchNormKernels,
  registerBatchNormGradient
} from './batchnorm'

export { NATIVE_BACKEND_NAME, NativeBackend, convGeometry, poolGeometry } from './backend'
export { nativeAddonStatus, loadNativeAddon, type NativeAddon, type NativeAddonInfo } from './addon'
export {
  batchNormTraining,
  type BatchNormTrainingOptions,
  type BatchNormTrainingResult,
  BATCH_NORM_STATS,
  BATCH_NORM_FORWARD,
  BATCH_NORM_BACKWARD
} from './batchnorm'
export { weightedSum, WEIGHTED_SUM, WEIGHTED_SUM_GRAD } from './mixture'
export { BATCH_NORM_SIGN, MASK_GRADIENT, type MaskKind } from './binary-block'
export { CONV2D_RELU } from './conv-relu'
export { BINARY_CONV2D, binaryConv2d, binaryConv2dReference, packSigns, type BinaryConvOptions } from './binary-conv'

/** Kernels the native backend runs natively (the rest are the cpu backend's). */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  tf.Conv2D,
  tf.Conv2DBackpropInput,
  tf.Conv2DBackpropFilter,
  tf.MaxPool,
  tf.AvgPool,
  tf.MaxPoolGrad,
  tf.AvgPoolGrad,
  BINARY_CONV2D,
  BATCH_NORM_STATS_KERNEL,
  BATCH_NORM_FORWARD_KERNEL,
  BATCH_NORM_BACKWARD_KERNEL,
  WEIGHTED_SUM,
  WEIGHTED_SUM_GRAD,
  BATCH_NORM_SIGN,
  MASK_GRADIENT,
  CONV2D_RELU,
  tf.Slice,
  tf.SplitV,
  tf.PadV2,
  tf.Transpose,
  tf.Reverse,
  tf.Sum,
  tf.Mean,
  tf.Add,
  tf.AddN,
  tf.Sub,
  tf.Multiply,
  tf.RealDiv,
  tf.SquaredDifference,
  tf.Maximum,
  tf.Minimum,
  tf.Sign,
  tf.Abs,
  tf.Relu,
  tf.Neg,
  tf.Square,
  tf.Rsqrt,
  tf.Sqrt,
  tf.Step,
  tf.Less,
  tf.LessEqual,
  tf.Greater,
  tf.GreaterEqual,
  tf.Equal,
  tf.Select
]

/**
 * Registers the TF.js backend 'native': the cpu backend's storage and kernels, with convolutions (oneDNN, or the addon's own kernels in a build without it), pooling
 * and the bit-packed binary conv running in the native addon on all cores. Idempotent. Throws an Error whose message
 * says why when the addon is unavailable (not built, failed to load); nothing is registered then.
 */
export async function registerNativeBackend(): Promise<void> {
  const addon = loadNativeAddon()
  if (!registered) {
    registered = true
    setNativeThreads(defaultThreads())
  }
  // Registers the 'cpu' backend and its kernels, which 'native' inherits.
  await import('@tensorflow/tfjs-backend-cpu')
  if (tf.findBackendFactory(NATIVE_BACKEND_NAME) === null) {
    tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeBackend(addon), 3)
  }
  const overrides = nativeKernels(addon)
  for (const [name, kernel] of elementwiseKernels(addon)) overrides.set(name, kernel)
  for (const [name, kernel] of batchNormKernels(addon)) overrides.set(name, kernel)
  for (const [name, kernel] of weightedSumKernels(addon)) overrides.set(name, kernel)
  for (const [name, kernel] of binaryBlockKernels(addon)) overrides.set(name, kernel)
  for (const [name, kernel] of convReluKernels(addon, tf.getKernel(tf.Conv2D, 'cpu')!.kernelFunc))
    overrides.set(name, kernel)
  registerBatchNormGradient()
  registerConvReluGradient()
  // BNAS_NATIVE_DISABLE=Conv2D,Mean,... keeps those kernels on their cpu versions (to bisect a numeric difference).
  for (const name of (process.env.BNAS_NATIVE_DISABLE ?? '').split(',')) overrides.delete(name.trim())
  overrides.set(BINARY_CONV2D, binaryConvKernel(addon))
  installEagerBackprop(addon)
  for (const [kernelName, kernelFunc] of overrides) {
    if (!tf.getKernel(kernelName, NATIVE_BACKEND_NAME))
      tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND_NAME, kernelFunc })
  }
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (overrides.has(config.kernelName) || tf.getKernel(config.kernelName, NATIVE_BACKEND_NAME)) continue
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND_NAME })
  }
}

let registered = false

/**
 * Threads at registration: `BNAS_NATIVE_THREADS`, else `OMP_NUM_THREADS`, else 1 on machines with 2 cores or fewer and
 * every core above that. With 2 cores the engine's JS thread, V8's GC and any other process share them, and each
 * OpenMP region then waits a scheduler slice (4-8 ms) for its second thread: measured on a supernet weight step,
 * 10.5 s with 1 thread against 9.4-35 s with 2 depending on the load, for convs of ~1 ms.
 */
function defaultThreads(): number {
  for (const name of ['BNAS_NATIVE_THREADS', 'OMP_NUM_THREADS']) {
    const value = Number.parseInt(process.env[name] ?? '', 10)
    if (Number.isInteger(value) && value > 0) return value
  }
  const cores = availableParallelism()
  return cores <= 2 ? 1 : cores
}

/**
 * Threads the native kernels use from now on (oneDNN and the parallel kernels; see defaultThreads for the default).
 */
export function setNativeThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`native threads must be a positive integer, got ${threads}`)
  return loadNativeAddon().setThreads(threads)
}

/**
 * One line for reports: the conv library (oneDNN and its version, or the addon's own kernels), threads and SIMD,
 * e.g. "convs onednn 2.6.3, 1 thread, avx512, binary conv avx512-vpopcntdq", or why it is unavailable.
 */
export function describeNativeBackend(): string {
  const status = nativeAddonStatus()
  if (!status.available) return `unavailable: ${status.reason}`
  // info() again rather than status.info: the thread count can change after loading (setNativeThreads).
  const { convs, oneDNN, threads, simd, binaryConv } = status.addon.info()
  const library = oneDNN === null ? `${convs} (built without oneDNN)` : convs
  return `convs ${library}, ${threads} thread${threads === 1 ? '' : 's'}, ${simd}, binary conv ${binaryConv}`
}
