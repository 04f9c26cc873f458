import * as tf from '@tensorflow/tfjs-core'
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import type { NativeAddon } from './addon'
import { outputFloats } from './backend'

export const BATCH_NORM_STATS = 'BnasBatchNormStats'
export const BATCH_NORM_FORWARD = 'BnasBatchNormForward'
export const BATCH_NORM_BACKWARD = 'BnasBatchNormBackward'

export interface BatchNormTrainingOptions {
  /** γ and β ([C]); both absent when affine = false (the search phase). */
  gamma?: tf.Tensor1D
  beta?: tf.Tensor1D
  /** PyTorch's default 1e-5. */
  eps?: number
}

export interface BatchNormTrainingResult {
  y: tf.Tensor4D
  /** Batch mean per channel ([C]); not differentiable (for the running statistics). */
  mean: tf.Tensor1D
  /** *Biased* batch variance per channel ([C]); not differentiable. Multiply by m/(m−1) for the running update. */
  variance: tf.Tensor1D
}

/**
 * Training-mode batch norm over N, H, W of an NHWC tensor, as one fused native kernel each way on the 'native'
 * backend (statistics in one read, forward in one pass, backward in two), with the full gradient for x, γ and β.
 * On other backends the same result from tf ops. Same numbers as `(x − mean)/sqrt(var + eps)·γ + β` with tf.moments.
 */
export function batchNormTraining(x: tf.Tensor4D, options: BatchNormTrainingOptions = {}): BatchNormTrainingResult {
  const eps = options.eps ?? 1e-5
  const { gamma, beta } = options
  if (tf.getBackend() !== 'native' || !tf.getKernel(BATCH_NORM_FORWARD, 'native')) {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [0, 1, 2])
      let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)))
      if (gamma) y = tf.mul(y, gamma)
      if (beta) y = tf.add(y, beta)
      return { y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D }
    })
  }
  const [mean, variance] = tf.engine().runKernel(BATCH_NORM_STATS, { x }, {}) as tf.Tensor1D[]
  const affine = gamma !== undefined || beta !== undefined
  const g = gamma ?? (affine ? tf.ones([x.shape[3]]) : undefined)
  const b = beta ?? (affine ? tf.zeros([x.shape[3]]) : undefined)
  const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc
    const [input, m, v, scale, shift] = args as tf.Tensor[]
    save(scale ? [input, m, v, scale] : [input, m, v])
    const inputs: tf.NamedTensorMap = { x: input, mean: m, variance: v }
    if (scale) inputs.gamma = scale
    if (shift) inputs.beta = shift
    const value = tf.engine().runKernel(BATCH_NORM_FORWARD, inputs, { eps }) as tf.Tensor
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sm, sv, sg] = saved
        const gradInputs: tf.NamedTensorMap = { dy: dy as tf.Tensor, x: sx, mean: sm, variance: sv }
        if (sg) gradInputs.gamma = sg
        const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_BACKWARD, gradInputs, { eps }) as tf.Tensor[]
        // mean and variance come from BATCH_NORM_STATS, whose own gradient is zero: dx above already holds the
        // whole gradient through the batch statistics.
        const grads = [dx, tf.zerosLike(sm), tf.zerosLike(sv)]
        if (sg) grads.push(dgamma, dbeta)
        else tf.dispose([dgamma, dbeta])
        return grads
      }
    }
  })
  const y = (g && b ? normalise(x, mean, variance, g, b) : normalise(x, mean, variance)) as tf.Tensor4D
  if (!gamma && g) g.dispose()
  if (!beta && b) b.dispose()
  return { y, mean, variance }
}

function floats(backend: MathBackendCPU, t: tf.TensorInfo | undefined, name: string): Float32Array | null {
  if (!t) return null
  const values = backend.data.get(t.dataId).values
  if (t.dtype !== 'float32' || !(values instanceof Float32Array)) throw new Error(`batch norm: ${name} must be float32`)
  return values
}

/** A bool tensor's 0/1 bytes (the optional STE mask of the backward kernel: dy·mask is differentiated). */
function bytes(backend: MathBackendCPU, t: tf.TensorInfo): Uint8Array {
  const values = backend.data.get(t.dataId).values
  if (t.dtype !== 'bool' || !(values instanceof Uint8Array)) throw new Error('batch norm: mask must be bool')
  return values
}

/** The three kernels behind {@link batchNormTraining}, and the zero gradient of the statistics kernel. */
export function batchNormKernels(addon: NativeAddon): Map<string, tf.KernelFunc> {
  const channelsOf = (x: tf.TensorInfo): number => x.shape[x.shape.length - 1]
  return new Map<string, tf.KernelFunc>([
    [
      BATCH_NORM_STATS,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const x = args.inputs.x as tf.TensorInfo
        const c = channelsOf(x)
        const mean = new Float32Array(c)
        const variance = new Float32Array(c)
        addon.batchNormStats(floats(backend, x, 'x')!, c, mean, variance)
        return [backend.makeTensorInfo([c], 'float32', mean), backend.makeTensorInfo([c], 'float32', variance)]
      }
    ],
    [
      BATCH_NORM_FORWARD,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const { x, mean, variance, gamma, beta } = args.inputs as Record<string, tf.TensorInfo | undefined>
        const xs = floats(backend, x, 'x')!
        const y = outputFloats(backend, xs.length, false) // written in full
        addon.batchNormForward(
          xs,
          channelsOf(x!),
          floats(backend, mean, 'mean')!,
          floats(backend, variance, 'variance')!,
          floats(backend, gamma, 'gamma'),
          floats(backend, beta, 'beta'),
          (args.attrs as { eps: number }).eps,
          y
        )
        return backend.makeTensorInfo(x!.shape, 'float32', y)
      }
    ],
    [
      BATCH_NORM_BACKWARD,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const { dy, x, mean, variance, gamma, mask } = args.inputs as Record<string, tf.TensorInfo | undefined>
        const xs = floats(backend, x, 'x')!
        const c = channelsOf(x!)
        const dx = outputFloats(backend, xs.length, false) // written in full
        const dgamma = new Float32Array(c)
        const dbeta = new Float32Array(c)
        addon.batchNormBackward(
          floats(backend, dy, 'dy')!,
          xs,
          c,
          floats(backend, mean, 'mean'), // absent: x is the output x̂ of an affine-free BN
          floats(backend, variance, 'variance')!,
          floats(backend, gamma, 'gamma'),
          (args.attrs as { eps: number }).eps,
          dx,
          dgamma,
          dbeta,
          mask ? bytes(backend, mask) : null
        )
        return [
          backend.makeTensorInfo(x!.shape, 'float32', dx),
          backend.makeTensorInfo([c], 'float32', dgamma),
          backend.makeTensorInfo([c], 'float32', dbeta)
        ]
      }
    ]
  ])
}

/** The batch statistics are constants to the graph: their gradient is zero (batchNormTraining's dx covers it). */
export function registerBatchNormGradient(): void {
  if (tf.getGradient(BATCH_NORM_STATS)) return
  tf.registerGradient({
    kernelName: BATCH_NORM_STATS,
    inputsToSave: ['x'],
    gradFunc: (_dy, saved) => ({ x: () => tf.zerosLike(saved[0]) })
  })
}
