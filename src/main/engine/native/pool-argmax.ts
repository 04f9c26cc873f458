import * as tf from '@tensorflow/tfjs-core'
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import type { NativeAddon } from './addon'
import { outputBytes, outputFloats, poolGeometry } from './backend'

/**
 * Max pooling that records where each maximum came from (one byte per output: its tap in the window), with a
 * gradient that scatters dy to those taps. tf's MaxPoolGrad keeps the pool's input and searches every window again;
 * this keeps a byte per output instead and does no search. The positions are chosen as the native MaxPoolGrad chooses
 * them (first strictly greater value in row-major window order), so the gradient is the same, bit for bit.
 *
 * MAX_POOL_ARGMAX: inputs { x }, attrs as MaxPool's ({ filterSize, strides, pad }) plus x's inputShape (for the
 * gradient, which keeps nothing of x); outputs [y, argmax (bool dtype: raw bytes, not 0/1)]. MAX_POOL_GRAD_ARGMAX:
 * inputs { dy, argmax }, the same attrs.
 */
export const MAX_POOL_ARGMAX = 'BnasMaxPoolArgmax'
export const MAX_POOL_GRAD_ARGMAX = 'BnasMaxPoolGradArgmax'

type PoolAttrs = { filterSize: number | [number, number]; strides: number | [number, number]; pad: number }

function geometryOf(shape: number[], attrs: PoolAttrs): { info: tf.backend_util.Conv2DInfo; geometry: Int32Array } {
  const info = tf.backend_util.computePool2DInfo(
    shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad
  )
  const geometry = poolGeometry(info)
  if (!geometry) throw new Error('max pool with argmax: NHWC without dilation only')
  return { info, geometry }
}

function storage(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array | Uint8Array {
  const values = backend.data.get(t.dataId).values
  if (!(values instanceof Float32Array || values instanceof Uint8Array)) throw new Error('max pool: unexpected dtype')
  return values
}

export function poolArgmaxKernels(addon: NativeAddon): Map<string, tf.KernelFunc> {
  return new Map<string, tf.KernelFunc>([
    [
      MAX_POOL_ARGMAX,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const x = args.inputs.x as tf.TensorInfo
        const { info, geometry } = geometryOf(x.shape, args.attrs as unknown as PoolAttrs)
        const size = tf.util.sizeFromShape(info.outShape)
        const y = outputFloats(backend, size, false) // written in full
        const argmax = outputBytes(backend, size, false)
        addon.maxPoolArgmax(storage(backend, x) as Float32Array, y, argmax, geometry)
        return [
          backend.makeTensorInfo(info.outShape, 'float32', y),
          backend.makeTensorInfo(info.outShape, 'bool', argmax)
        ]
      }
    ],
    [
      MAX_POOL_GRAD_ARGMAX,
      (args) => {
        const backend = args.backend as MathBackendCPU
        const { dy, argmax } = args.inputs as Record<string, tf.TensorInfo>
        const attrs = args.attrs as unknown as PoolAttrs & { inputShape: number[] }
        const { geometry } = geometryOf(attrs.inputShape, attrs)
        const dx = outputFloats(backend, tf.util.sizeFromShape(attrs.inputShape), false) // zeroed by the kernel
        addon.maxPoolGradArgmax(
          storage(backend, argmax) as Uint8Array,
          storage(backend, dy) as Float32Array,
          dx,
          geometry
        )
        return backend.makeTensorInfo(attrs.inputShape, 'float32', dx)
      }
    ]
  ])
}

export function registerPoolArgmaxGradient(): void {
  if (tf.getGradient(MAX_POOL_ARGMAX)) return
  tf.registerGradient({
    kernelName: MAX_POOL_ARGMAX,
    // Only the positions are kept (the input's shape comes in the attributes), never the input.
    outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const [argmax] = saved
      const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor
      return {
        x: () => tf.engine().runKernel(MAX_POOL_GRAD_ARGMAX, { dy, argmax }, attrs as tf.NamedAttrMap) as tf.Tensor
      }
    }
  })
}
