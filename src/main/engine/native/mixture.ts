import * as tf from '@tensorflow/tfjs-core'
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import type { NativeAddon } from './addon'
import { outputFloats } from './backend'

export const WEIGHTED_SUM = 'BnasWeightedSum'
export const WEIGHTED_SUM_GRAD = 'BnasWeightedSumGrad'

/**
 * Σ_k weights[k]·terms[k] for K same-shape tensors and a [K] weight vector: the α-weighted mixture of a search edge
 * (MixedOp), with gradients for every term and every weight. On 'native' it is one pass forward and one per term
 * backward, instead of K multiplies and K−1 adds forward and 3K full-size passes backward; elsewhere tf ops.
 */
export function weightedSum(
  terms: tf.Tensor[],
  weights: tf.Tensor1D,
  options: { constantWeights?: boolean } = {}
): tf.Tensor {
  if (terms.length === 0) throw new Error('weightedSum: no terms')
  if (weights.shape[0] !== terms.length)
    throw new Error(`weightedSum: ${terms.length} terms but ${weights.shape[0]} weights`)
  if (tf.getBackend() !== 'native' || !tf.getKernel(WEIGHTED_SUM, 'native')) {
    return tf.tidy(() => tf.addN(terms.map((t, k) => tf.mul(t, tf.reshape(tf.slice(weights, [k], [1]), [])))))
  }
  const count = terms.length
  const constant = options.constantWeights === true
  const mixture = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc
    const inputs = args as tf.Tensor[]
    // Weights that get no gradient (the w step of a search): only they are kept, so every term can be freed once the
    // sum is made; term k's gradient is then weights[k]·dy (what WEIGHTED_SUM_GRAD gives it), the weights' zero.
    save(constant ? [inputs[count]] : inputs)
    return {
      value: tf.engine().runKernel(WEIGHTED_SUM, mixtureInputs(inputs), { count }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        if (constant) {
          const scale = saved[0].dataSync()
          return [...Array.from(scale, (w) => tf.mul(dy as tf.Tensor, w)), tf.zerosLike(saved[0])]
        }
        return tf.engine().runKernel(WEIGHTED_SUM_GRAD, mixtureInputs(saved, dy as tf.Tensor), { count }) as tf.Tensor[]
      }
    }
  })
  return mixture(...terms, weights)
}

/** The mixture kernels' named inputs from [t0 … t(K−1), weights] (and dy for the gradient). */
function mixtureInputs(termsAndWeights: tf.Tensor[], dy?: tf.Tensor): tf.NamedTensorMap {
  const count = termsAndWeights.length - 1
  const named: tf.NamedTensorMap = { weights: termsAndWeights[count] }
  if (dy) named.dy = dy
  for (let k = 0; k < count; k++) named[`t${k}`] = termsAndWeights[k]
  return named
}

function values(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values
  if (t.dtype !== 'float32' || !(v instanceof Float32Array)) throw new Error('weightedSum: tensors must be float32')
  return v
}

/**
 * AddN as the weighted sum with all weights 1: y = t0, then y += t_k in order, each add rounded to float32 (1·t is
 * exact, and a fused multiply-add of 1·t + y rounds once, like the add), so the same values as the cpu backend's
 * AddN loop in one native pass. Anything but same-shape float32 inputs runs the cpu kernel.
 */
function addN(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as MathBackendCPU
    const terms = args.inputs as unknown as tf.TensorInfo[]
    const arrays = terms.map((t) => backend.data.get(t.dataId).values)
    const uniform = terms.every((t) => t.dtype === 'float32' && tf.util.arraysEqual(t.shape, terms[0].shape))
    if (!uniform || terms.length < 2 || !arrays.every((a) => a instanceof Float32Array))
      return fallback(args) as tf.TensorInfo
    const y = outputFloats(backend, tf.util.sizeFromShape(terms[0].shape), false) // written in full
    addon.weightedSum(arrays as Float32Array[], new Float32Array(terms.length).fill(1), y)
    return backend.makeTensorInfo(terms[0].shape, 'float32', y)
  }
}

export function weightedSumKernels(addon: NativeAddon): Map<string, tf.KernelFunc> {
  const termsOf = (args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] => {
    const count = (args.attrs as { count: number }).count
    const inputs = args.inputs as Record<string, tf.TensorInfo>
    const terms = Array.from({ length: count }, (_, k) => inputs[`t${k}`])
    for (const t of terms) {
      if (!tf.util.arraysEqual(t.shape, terms[0].shape)) throw new Error('weightedSum: terms must have one shape')
    }
    return terms
  }
  const cpuAddN = tf.getKernel(tf.AddN, 'cpu')?.kernelFunc
  return new Map<string, tf.KernelFunc>([
    ...(cpuAddN ? [[tf.AddN, addN(addon, cpuAddN)] as [string, tf.KernelFunc]] : []),
    [
      WEIGHTED_SUM,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const terms = termsOf(args)
        const y = outputFloats(backend, tf.util.sizeFromShape(terms[0].shape), false) // written in full
        addon.weightedSum(
          terms.map((t) => values(backend, t)),
          values(backend, (args.inputs as Record<string, tf.TensorInfo>).weights),
          y
        )
        return backend.makeTensorInfo(terms[0].shape, 'float32', y)
      }
    ],
    [
      WEIGHTED_SUM_GRAD,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const terms = termsOf(args)
        const inputs = args.inputs as Record<string, tf.TensorInfo>
        const size = tf.util.sizeFromShape(terms[0].shape)
        const dterms = terms.map(() => outputFloats(backend, size, false)) // written in full
        const dweights = new Float32Array(terms.length)
        addon.weightedSumGrad(
          values(backend, inputs.dy),
          terms.map((t) => values(backend, t)),
          values(backend, inputs.weights),
          dterms,
          dweights
        )
        return [
          ...dterms.map((d) => backend.makeTensorInfo(terms[0].shape, 'float32', d)),
          backend.makeTensorInfo([terms.length], 'float32', dweights)
        ]
      }
    ]
  ])
}
