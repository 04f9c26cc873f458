import * as tf from '@tensorflow/tfjs-core'
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import type { NativeAddon } from './addon'

/** The TF.js name of this backend. */
export const NATIVE_BACKEND_NAME = 'native'

/**
 * The cpu backend's storage and every cpu kernel, with the kernels a BNAS step spends its time in replaced by native
 * ones. Tensors live in the same typed arrays the cpu backend uses; native kernels read them and write new arrays
 * in place, with no copies.
 */
export class NativeBackend extends MathBackendCPU {
  /** Recycled buffers by byte length, and their total bytes (see takeFloats). */
  private readonly free = new Map<number, ArrayBuffer[]>()
  private freeBytes = 0
  /** Bytes of pooled buffers in use by tensors now, and the most ever (which bounds the free lists). */
  private liveBytes = 0
  private peakLiveBytes = 0
  /**
   * Buffers handed out by takeFloats that nothing outside the backend has seen, with the number of stored tensors
   * using them (a cpu kernel may store a subarray view of an input as its output). A buffer read through
   * readSync/read (dataSync, data, arraySync: the caller may keep the array) leaves this map for good.
   */
  private readonly uses = new Map<ArrayBuffer, number>()

  /**
   * The addon, for engine code that works on weight-sized arrays directly (ops/binarize.ts through
   * fused.ts's nativeHostKernels); absent when the backend was made without it.
   */
  readonly addon?: NativeAddon

  constructor(addon?: NativeAddon) {
    super()
    this.addon = addon
    // The cpu backend prints "install tfjs-node to speed things up" on its first write in Node; not true of this one.
    ;(this as unknown as { firstUse: boolean }).firstUse = false
  }

  /**
   * A Float32Array for a native kernel's output, zeroed unless `zeroed` is false (for kernels that write every
   * element). Large outputs reuse the buffers of disposed tensors (a free list per byte length, like PyTorch's
   * caching allocator) instead of a fresh allocation: on a search step most kernel outputs are ~1 MiB, and a new one
   * costs a zeroed allocation, page faults on first touch, and garbage collections that V8 starts for the external
   * memory (measured: ~120 GCs a step "for external memory pressure" before masks were recycled too).
   */
  takeFloats(length: number, zeroed = true): Float32Array {
    if (length * 4 < POOL_MIN_BYTES) return new Float32Array(length)
    const out = new Float32Array(this.takeBuffer(length * 4, zeroed))
    return out
  }

  /** takeFloats for byte arrays (TF.js bool tensors: the STE masks). */
  takeBytes(length: number, zeroed = true): Uint8Array {
    if (length < POOL_MIN_BYTES) return new Uint8Array(length)
    return new Uint8Array(this.takeBuffer(length, zeroed))
  }

  private takeBuffer(byteLength: number, zeroed: boolean): ArrayBuffer {
    let buffer = this.free.get(byteLength)?.pop()
    if (buffer) {
      this.freeBytes -= byteLength
      if (zeroed) new Uint8Array(buffer).fill(0)
    } else {
      buffer = new ArrayBuffer(byteLength)
    }
    this.uses.set(buffer, 0)
    this.liveBytes += byteLength
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes)
    return buffer
  }

  /**
   * The float array behind a tensor when exactly one tensor uses it and nothing outside the backend has seen it (one
   * Tensor object on the dataId, the whole of a recycled buffer, no other stored view of it, never read out), else
   * null. Such an array can be written in place (the backward pass accumulates gradients into it).
   */
  exclusiveFloats(dataId: tf.DataId): Float32Array | null {
    if (!this.data.has(dataId)) return null
    const entry = this.data.get(dataId)
    const values = entry.values
    if (entry.refCount !== 1 || !(values instanceof Float32Array)) return null
    if (values.byteOffset !== 0 || values.byteLength !== values.buffer.byteLength) return null
    return this.uses.get(values.buffer as ArrayBuffer) === 1 ? values : null
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    this.countUse(values)
    return super.write(values, shape, dtype)
  }

  override move(
    dataId: tf.DataId,
    values: tf.backend_util.BackendValues,
    shape: number[],
    dtype: tf.DataType,
    refCount: number
  ): void {
    this.countUse(values)
    super.move(dataId, values, shape, dtype, refCount)
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const values = super.readSync(dataId)
    if (ArrayBuffer.isView(values) && this.uses.delete(values.buffer as ArrayBuffer))
      this.liveBytes -= values.buffer.byteLength
    return values
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined
    const released = super.disposeData(dataId, force)
    if (released && (values instanceof Float32Array || values instanceof Uint8Array)) this.release(values)
    return released
  }

  private countUse(values: tf.backend_util.BackendValues): void {
    if (!ArrayBuffer.isView(values)) return
    const count = this.uses.get(values.buffer as ArrayBuffer)
    if (count !== undefined) this.uses.set(values.buffer as ArrayBuffer, count + 1)
  }

  private release(values: Float32Array | Uint8Array): void {
    const buffer = values.buffer as ArrayBuffer
    const count = this.uses.get(buffer)
    if (count === undefined) return
    if (count > 1) {
      this.uses.set(buffer, count - 1)
      return
    }
    this.uses.delete(buffer)
    this.liveBytes -= buffer.byteLength
    // Free buffers up to the peak of the live ones (what a step needs at once; PyTorch's caching allocator keeps
    // as much): a fixed cap below that dropped ~0.5 GiB a step at the end of each backward pass, and the next forward
    // pass allocated it again, each time making V8 collect garbage for the external memory.
    if (this.freeBytes + buffer.byteLength > Math.max(POOL_MIN_CAP_BYTES, this.peakLiveBytes)) return
    const list = this.free.get(buffer.byteLength)
    if (list) list.push(buffer)
    else this.free.set(buffer.byteLength, [buffer])
    this.freeBytes += buffer.byteLength
  }
}

/**
 * Outputs below 64 KiB are allocated fresh (cheap); disposed buffers are kept for reuse up to the peak of the live
 * ones, and at least 64 MiB.
 */
const POOL_MIN_BYTES = 65536
const POOL_MIN_CAP_BYTES = 64 * 2 ** 20

/**
 * A float output array: recycled on the native backend, fresh elsewhere. Zeroed unless `zeroed` is false, which only
 * kernels that write every element may pass.
 */
export function outputFloats(backend: unknown, length: number, zeroed = true): Float32Array {
  return backend instanceof NativeBackend ? backend.takeFloats(length, zeroed) : new Float32Array(length)
}

/** outputFloats for byte arrays (bool tensors). */
export function outputBytes(backend: unknown, length: number, zeroed = true): Uint8Array {
  return backend instanceof NativeBackend ? backend.takeBytes(length, zeroed) : new Uint8Array(length)
}

type Conv2DInfo = tf.backend_util.Conv2DInfo
type KernelArgs = Parameters<tf.KernelFunc>[0]
/**
 * tf's backprop kernels carry no dilation. These accept an extra `dilations` attribute, so an engine on this backend
 * can get the gradients of a dilated conv directly from oneDNN (runKernel with { ...attrs, dilations }).
 */
type WithDilations<T> = T & { dilations?: number | [number, number] }
const dilated = (d: number | [number, number] | undefined): boolean =>
  d !== undefined && (Array.isArray(d) ? d.some((v) => v !== 1) : d !== 1)
/** A kernel's named inputs, all present (tf's *Inputs types mark them optional). */
type Inputs<K extends string> = Record<K, tf.TensorInfo>

/**
 * [n, h, w, C_in, oh, ow, C_out, kh, kw, sh, sw, dh, dw, pad top, left, bottom, right], or null where oneDNN cannot
 * express tf's geometry (then the cpu kernel runs; a build's own kernels take the same set). oneDNN wants
 * oh = ⌊(h + pt + pb − ekh) / sh⌋ + 1 exactly; tf's rounding modes can disagree with the bottom/right pads it
 * reports, so those are refitted when needed.
 */
export function convGeometry(info: Conv2DInfo): Int32Array | null {
  const fit = (size: number, out: number, k: number, s: number, before: number, after: number): number | null => {
    if (Math.floor((size + before + after - k) / s) + 1 === out) return after
    const minimal = (out - 1) * s + k - size - before
    return minimal >= 0 ? minimal : null
  }
  const pb = fit(
    info.inHeight,
    info.outHeight,
    info.effectiveFilterHeight,
    info.strideHeight,
    info.padInfo.top,
    info.padInfo.bottom
  )
  const pr = fit(
    info.inWidth,
    info.outWidth,
    info.effectiveFilterWidth,
    info.strideWidth,
    info.padInfo.left,
    info.padInfo.right
  )
  if (pb === null || pr === null || info.padInfo.top < 0 || info.padInfo.left < 0) return null
  if (info.dataFormat !== 'channelsLast') return null
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
    pb,
    pr
  ])
}

/** [n, h, w, C, oh, ow, kh, kw, sh, sw, pad top, pad left]; taps outside the input are skipped, as tf does. */
export function poolGeometry(info: Conv2DInfo): Int32Array | null {
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.dataFormat !== 'channelsLast') return null
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left
  ])
}

/** The float32 array behind a tensor of this backend, or null (other dtype, complex, not materialised). */
function floats(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null
  const values = backend.data.get(t.dataId).values
  return values instanceof Float32Array ? values : null
}

function cpuKernel(name: string): tf.KernelFunc {
  const config = tf.getKernel(name, 'cpu')
  if (!config) throw new Error(`the cpu backend has no ${name} kernel to fall back on`)
  return config.kernelFunc
}

/**
 * Conv2D; with `relu`, max(conv, 0) from the same oneDNN call (CONV2D_RELU in conv-relu.ts). The `dilations`
 * attribute may come with a stride above 1 (runKernel only: tf.conv2d refuses that pair).
 */
export function conv2D(addon: NativeAddon, fallback: tf.KernelFunc, relu = false) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x, filter } = args.inputs as unknown as Inputs<'x' | 'filter'>
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as tf.Conv2DAttrs
    const xs = floats(backend, x)
    const ws = floats(backend, filter)
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      strides,
      dilations,
      pad,
      dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(dataFormat)
    )
    const geometry = convGeometry(info)
    if (!xs || !ws || !geometry) {
      if (relu)
        throw new Error('fused conv + ReLU: needs float32 NHWC tensors and a geometry the conv kernels can express')
      return fallback(args) as tf.TensorInfo
    }
    const y = outputFloats(backend, tf.util.sizeFromShape(info.outShape), false) // the conv kernel (oneDNN or own) writes every output
    addon.conv2dForward(xs, ws, y, geometry, relu)
    return backend.makeTensorInfo(info.outShape, 'float32', y)
  }
}

function conv2DBackpropInput(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { dy, filter } = args.inputs as unknown as Inputs<'dy' | 'filter'>
    const { inputShape, strides, pad, dataFormat, dimRoundingMode, dilations } =
      args.attrs as unknown as WithDilations<tf.Conv2DBackpropInputAttrs>
    const dys = floats(backend, dy)
    const ws = floats(backend, filter)
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      dilations ?? 1,
      pad,
      dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(dataFormat)
    )
    const geometry = convGeometry(info)
    if (!dys || !ws || !geometry) {
      if (dilated(dilations)) throw new Error('Conv2DBackpropInput: dilations need float32 NHWC tensors')
      return fallback(args) as tf.TensorInfo
    }
    const dx = outputFloats(backend, tf.util.sizeFromShape(info.inShape), false) // the conv kernel (oneDNN or own) writes every element
    addon.conv2dBackpropInput(dys, ws, dx, geometry)
    return backend.makeTensorInfo(info.inShape, 'float32', dx)
  }
}

function conv2DBackpropFilter(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x, dy } = args.inputs as unknown as Inputs<'x' | 'dy'>
    const { filterShape, strides, pad, dataFormat, dimRoundingMode, dilations } =
      args.attrs as unknown as WithDilations<tf.Conv2DBackpropFilterAttrs>
    const xs = floats(backend, x)
    const dys = floats(backend, dy)
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      dilations ?? 1,
      pad,
      dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(dataFormat)
    )
    const geometry = convGeometry(info)
    if (!xs || !dys || !geometry) {
      if (dilated(dilations)) throw new Error('Conv2DBackpropFilter: dilations need float32 NHWC tensors')
      return fallback(args) as tf.TensorInfo
    }
    const dw = new Float32Array(tf.util.sizeFromShape(filterShape))
    addon.conv2dBackpropFilter(xs, dys, dw, geometry)
    return backend.makeTensorInfo(filterShape, 'float32', dw)
  }
}

function poolInfo(shape: number[], attrs: tf.MaxPoolAttrs | tf.AvgPoolAttrs): Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode
  )
}

/** MaxPool and AvgPool forward. A 1×1 window that keeps the shape is the identity: the cpu kernel handles it. */
function poolForward(run: (x: Float32Array, y: Float32Array, g: Int32Array) => void, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as unknown as Inputs<'x'>
    const info = poolInfo(x.shape, args.attrs as unknown as tf.MaxPoolAttrs)
    const xs = floats(backend, x)
    const geometry = poolGeometry(info)
    const identity =
      info.filterWidth === 1 && info.filterHeight === 1 && tf.util.arraysEqual(info.inShape, info.outShape)
    if (!xs || !geometry || identity) return fallback(args) as tf.TensorInfo
    const y = outputFloats(backend, tf.util.sizeFromShape(info.outShape), false) // every output written
    run(xs, y, geometry)
    return backend.makeTensorInfo(info.outShape, 'float32', y)
  }
}

function maxPoolGrad(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { dy, input } = args.inputs as unknown as Inputs<'dy' | 'input'>
    const info = poolInfo(input.shape, args.attrs as unknown as tf.MaxPoolGradAttrs)
    const xs = floats(backend, input)
    const dys = floats(backend, dy)
    const geometry = poolGeometry(info)
    if (!xs || !dys || !geometry) return fallback(args) as tf.TensorInfo
    const dx = outputFloats(backend, tf.util.sizeFromShape(input.shape), false) // the kernel zeroes it
    addon.maxPoolGrad(xs, dys, dx, geometry)
    return backend.makeTensorInfo(input.shape, 'float32', dx)
  }
}

function avgPoolGrad(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { dy, input } = args.inputs as unknown as Inputs<'dy' | 'input'>
    const attrs = args.attrs as unknown as tf.AvgPoolGradAttrs
    const info = poolInfo(input.shape, { ...attrs, dimRoundingMode: undefined })
    const dys = floats(backend, dy)
    const geometry = poolGeometry(info)
    if (!dys || !geometry) return fallback(args) as tf.TensorInfo
    const dx = outputFloats(backend, tf.util.sizeFromShape(input.shape), false) // the kernel zeroes it
    addon.avgPoolGrad(dys, dx, geometry)
    return backend.makeTensorInfo(input.shape, 'float32', dx)
  }
}

/** The kernels this backend runs natively; every other kernel is the cpu backend's own. */
export function nativeKernels(addon: NativeAddon): Map<string, tf.KernelFunc> {
  return new Map<string, tf.KernelFunc>([
    [tf.Conv2D, conv2D(addon, cpuKernel(tf.Conv2D))],
    [tf.Conv2DBackpropInput, conv2DBackpropInput(addon, cpuKernel(tf.Conv2DBackpropInput))],
    [tf.Conv2DBackpropFilter, conv2DBackpropFilter(addon, cpuKernel(tf.Conv2DBackpropFilter))],
    [tf.MaxPool, poolForward((x, y, g) => addon.maxPool(x, y, g), cpuKernel(tf.MaxPool))],
    [tf.AvgPool, poolForward((x, y, g) => addon.avgPool(x, y, g), cpuKernel(tf.AvgPool))],
    [tf.MaxPoolGrad, maxPoolGrad(addon, cpuKernel(tf.MaxPoolGrad))],
    [tf.AvgPoolGrad, avgPoolGrad(addon, cpuKernel(tf.AvgPoolGrad))]
  ] as [string, tf.KernelFunc][])
}
