import * as tf from '@tensorflow/tfjs-core'
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import type { NativeAddon } from './addon'
import { outputBytes, outputFloats } from './backend'

/**
 * Native versions of the cpu kernels that dominate a BNAS step once the convolutions are native (measured with
 * tf.profile on the supernet): Slice, SplitV and PadV2 (the cpu backend copies element by element with index
 * arithmetic), binary ops with broadcasting (per-element index arithmetic), Sum/Mean over leading axes (transpose
 * first) and the common unary ops. float32 only; anything else runs the cpu kernel.
 */

type KernelArgs = Parameters<tf.KernelFunc>[0]
const MAX_RANK = 6

function floats(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null
  const values = backend.data.get(t.dataId).values
  return values instanceof Float32Array ? values : null
}

function denseStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1)
  for (let d = shape.length - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1]
  return strides
}

/**
 * Drops size-1 dimensions and merges neighbours that are contiguous in every operand, so the kernel loops over as
 * few, as long, runs as possible. Null when the result still has more than MAX_RANK dimensions.
 */
export function collapse(
  size: readonly number[],
  strides: readonly (readonly number[])[]
): { size: Int32Array; strides: Int32Array[] } | null {
  const keep = size.map((s, d) => [s, d] as const).filter(([s]) => s !== 1)
  let dims = keep.map(([s]) => s)
  let st = strides.map((ss) => keep.map(([, d]) => ss[d]))
  for (let d = dims.length - 2; d >= 0; d--) {
    if (st.every((ss) => ss[d] === ss[d + 1] * dims[d + 1])) {
      dims = [...dims.slice(0, d), dims[d] * dims[d + 1], ...dims.slice(d + 2)]
      st = st.map((ss) => [...ss.slice(0, d), ss[d + 1], ...ss.slice(d + 2)])
    }
  }
  if (dims.length === 0) {
    dims = [1]
    st = st.map(() => [1])
  }
  if (dims.length > MAX_RANK) return null
  return { size: Int32Array.from(dims), strides: st.map((ss) => Int32Array.from(ss)) }
}

function cpuKernel(name: string): tf.KernelFunc {
  const config = tf.getKernel(name, 'cpu')
  if (!config) throw new Error(`the cpu backend has no ${name} kernel to fall back on`)
  return config.kernelFunc
}

/** x[begin : begin + size] into a new array, or null where the native path does not apply. */
function sliceValues(
  addon: NativeAddon,
  backend: MathBackendCPU,
  xs: Float32Array,
  shape: number[],
  begin: number[],
  size: number[]
): Float32Array | null {
  const total = tf.util.sizeFromShape(size)
  if (total === 0) return null
  const srcStrides = denseStrides(shape)
  const offset = begin.reduce((sum, b, d) => sum + b * srcStrides[d], 0)
  const plan = collapse(size, [srcStrides, denseStrides(size)])
  if (!plan) return null
  const out = outputFloats(backend, total, false) // the box is the whole output
  addon.copyBox(xs, offset, plan.strides[0], out, 0, plan.strides[1], plan.size)
  return out
}

function slice(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as { x: tf.TensorInfo }
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs
    const xs = floats(backend, x)
    if (!xs) return fallback(args) as tf.TensorInfo
    const [$begin, $size] = tf.slice_util.parseSliceParams(x, begin, size)
    const out = sliceValues(addon, backend, xs, x.shape, $begin, $size)
    if (!out) return fallback(args) as tf.TensorInfo
    return backend.makeTensorInfo($size, 'float32', out)
  }
}

function splitV(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as { x: tf.TensorInfo }
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs
    const xs = floats(backend, x)
    if (!xs) return fallback(args) as tf.TensorInfo[]
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0]
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis)
    const begin = new Array<number>(x.shape.length).fill(0)
    const parts: { size: number[]; values: Float32Array }[] = []
    for (const s of sizes) {
      const size = [...x.shape]
      size[$axis] = s
      const values = sliceValues(addon, backend, xs, x.shape, begin, size)
      if (!values) return fallback(args) as tf.TensorInfo[]
      parts.push({ size, values })
      begin[$axis] += s
    }
    return parts.map((p) => backend.makeTensorInfo(p.size, 'float32', p.values))
  }
}

function padV2(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as { x: tf.TensorInfo }
    const { paddings, constantValue } = args.attrs as unknown as tf.PadV2Attrs
    const xs = floats(backend, x)
    if (!xs || tf.util.sizeFromShape(x.shape) === 0) return fallback(args) as tf.TensorInfo
    const outShape = x.shape.map((s, d) => paddings[d][0] + s + paddings[d][1])
    const outStrides = denseStrides(outShape)
    const offset = paddings.reduce((sum, [before], d) => sum + before * outStrides[d], 0)
    const plan = collapse(x.shape, [denseStrides(x.shape), outStrides])
    if (!plan) return fallback(args) as tf.TensorInfo
    const out = outputFloats(backend, tf.util.sizeFromShape(outShape))
    if (constantValue !== 0) addon.fill(out, constantValue)
    addon.copyBox(xs, 0, plan.strides[0], out, offset, plan.strides[1], plan.size)
    return backend.makeTensorInfo(outShape, 'float32', out)
  }
}

function transpose(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as { x: tf.TensorInfo }
    const { perm } = args.attrs as unknown as tf.TransposeAttrs
    const xs = floats(backend, x)
    if (!xs || xs.length === 0) return fallback(args) as tf.TensorInfo
    const strides = denseStrides(x.shape)
    const outShape = perm.map((p) => x.shape[p])
    const plan = collapse(outShape, [perm.map((p) => strides[p]), denseStrides(outShape)])
    if (!plan) return fallback(args) as tf.TensorInfo
    const out = outputFloats(backend, xs.length, false) // the box is the whole output
    addon.copyBox(xs, 0, plan.strides[0], out, 0, plan.strides[1], plan.size)
    return backend.makeTensorInfo(outShape, 'float32', out)
  }
}

function reverse(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as { x: tf.TensorInfo }
    const { dims } = args.attrs as unknown as tf.ReverseAttrs
    const xs = floats(backend, x)
    if (!xs || xs.length === 0) return fallback(args) as tf.TensorInfo
    const axes = new Set(tf.util.parseAxisParam(dims, x.shape))
    const dense = denseStrides(x.shape)
    // Read each reversed axis from its last element backwards.
    const srcStrides = dense.map((s, d) => (axes.has(d) ? -s : s))
    const offset = dense.reduce((sum, s, d) => sum + (axes.has(d) ? (x.shape[d] - 1) * s : 0), 0)
    const plan = collapse(x.shape, [srcStrides, dense])
    if (!plan) return fallback(args) as tf.TensorInfo
    const out = outputFloats(backend, xs.length, false) // the box is the whole output
    addon.copyBox(xs, offset, plan.strides[0], out, 0, plan.strides[1], plan.size)
    return backend.makeTensorInfo(x.shape, 'float32', out)
  }
}

/**
 * Concat of float32 tensors along one axis: each input is one box copy into its slice of the output. The cpu kernel
 * copies row by row in JavaScript, which for a search cell's channel concat (4 nodes of C channels per pixel) is a
 * call per C values (paper preset: ~27 ms per concat of 16 MiB).
 */
function concat(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const inputs = args.inputs as unknown as tf.TensorInfo[]
    const { axis } = args.attrs as unknown as tf.ConcatAttrs
    if (inputs.length === 0) return fallback(args) as tf.TensorInfo
    const $axis = tf.util.parseAxisParam(axis, inputs[0].shape)[0]
    const arrays = inputs.map((t) => floats(backend, t))
    const rank = inputs[0].shape.length
    const sameOtherwise = inputs.every(
      (t) => t.shape.length === rank && t.shape.every((s, d) => d === $axis || s === inputs[0].shape[d])
    )
    if (!sameOtherwise || arrays.some((a) => !a)) return fallback(args) as tf.TensorInfo
    const outShape = [...inputs[0].shape]
    outShape[$axis] = inputs.reduce((sum, t) => sum + t.shape[$axis], 0)
    const total = tf.util.sizeFromShape(outShape)
    if (total === 0) return fallback(args) as tf.TensorInfo
    const outStrides = denseStrides(outShape)
    const plans = inputs.map((t) => collapse(t.shape, [denseStrides(t.shape), outStrides]))
    if (plans.some((plan) => !plan)) return fallback(args) as tf.TensorInfo
    const out = outputFloats(backend, total, false) // the inputs' boxes tile the whole output
    let offset = 0
    inputs.forEach((t, k) => {
      const plan = plans[k]!
      if (t.shape[$axis] > 0 && arrays[k]!.length > 0)
        addon.copyBox(arrays[k]!, 0, plan.strides[0], out, offset * outStrides[$axis], plan.strides[1], plan.size)
      offset += t.shape[$axis]
    })
    return backend.makeTensorInfo(outShape, 'float32', out)
  }
}

/** Element strides of `shape` read as the right-aligned broadcast to `outShape` (0 along broadcast dimensions). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const dense = denseStrides(shape)
  const lead = outShape.length - shape.length
  return outShape.map((size, d) => {
    const i = d - lead
    return i < 0 || (shape[i] === 1 && size !== 1) ? 0 : dense[i]
  })
}

const BINARY_OPS: Record<string, number> = {
  [tf.Add]: 0,
  [tf.Sub]: 1,
  [tf.Multiply]: 2,
  [tf.RealDiv]: 3,
  [tf.SquaredDifference]: 4,
  [tf.Maximum]: 5,
  [tf.Minimum]: 6
}

const COMPARE_OPS: Record<string, number> = {
  [tf.Less]: 100,
  [tf.LessEqual]: 101,
  [tf.Greater]: 102,
  [tf.GreaterEqual]: 103,
  [tf.Equal]: 104
}

function binary(addon: NativeAddon, op: number, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
    const as = floats(backend, a)
    const bs = floats(backend, b)
    if (!as || !bs) return fallback(args) as tf.TensorInfo
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape)
    const total = tf.util.sizeFromShape(outShape)
    const plan = collapse(outShape, [
      broadcastStrides(a.shape, outShape),
      broadcastStrides(b.shape, outShape),
      denseStrides(outShape)
    ])
    if (total === 0 || !plan) return fallback(args) as tf.TensorInfo
    // Comparisons give TF.js bools: one byte each, 0 or 1.
    // Written in full (every row of the collapsed shape).
    const out = op >= 100 ? outputBytes(backend, total, false) : outputFloats(backend, total, false)
    addon.binaryOp(op, as, plan.strides[0], bs, plan.strides[1], out, plan.size)
    return backend.makeTensorInfo(outShape, op >= 100 ? 'bool' : 'float32', out)
  }
}

const UNARY_OPS: Record<string, number> = {
  [tf.Sign]: 0,
  [tf.Abs]: 1,
  [tf.Relu]: 2,
  [tf.Neg]: 3,
  [tf.Square]: 4,
  [tf.Rsqrt]: 5,
  [tf.Sqrt]: 6,
  [tf.Step]: 7
}

function select(addon: NativeAddon, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { condition, t, e } = args.inputs as { condition: tf.TensorInfo; t: tf.TensorInfo; e: tf.TensorInfo }
    const cs = condition.dtype === 'bool' ? backend.data.get(condition.dataId).values : null
    const ts = floats(backend, t)
    const es = floats(backend, e)
    const same = tf.util.arraysEqual(condition.shape, t.shape) && tf.util.arraysEqual(t.shape, e.shape)
    if (!(cs instanceof Uint8Array) || !ts || !es || !same || ts.length === 0) return fallback(args) as tf.TensorInfo
    const out = outputFloats(backend, ts.length, false) // written in full
    addon.select(cs, ts, es, out)
    return backend.makeTensorInfo(t.shape, 'float32', out)
  }
}

function unary(addon: NativeAddon, op: number, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as { x: tf.TensorInfo }
    const xs = floats(backend, x)
    if (!xs) return fallback(args) as tf.TensorInfo
    const out = outputFloats(backend, xs.length, false) // written in full
    addon.unaryOp(op, xs, out, (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0)
    return backend.makeTensorInfo(x.shape, 'float32', out)
  }
}

/** Sum and Mean over one contiguous run of axes (x seen as [outer, reduce, inner]); other axis sets fall back. */
function reduction(addon: NativeAddon, mean: boolean, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU
    const { x } = args.inputs as { x: tf.TensorInfo }
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs
    const xs = floats(backend, x)
    if (!xs || xs.length === 0) return fallback(args) as tf.TensorInfo
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q)
    const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1)
    if (axes.length === 0 || !contiguous) return fallback(args) as tf.TensorInfo
    const first = axes[0]
    const last = axes[axes.length - 1]
    const outer = tf.util.sizeFromShape(x.shape.slice(0, first))
    const reduce = tf.util.sizeFromShape(x.shape.slice(first, last + 1))
    const inner = tf.util.sizeFromShape(x.shape.slice(last + 1))
    const [outShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes)
    const shape = keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape
    const out = outputFloats(backend, outer * inner, false) // written in full
    addon.reduceSum(xs, out, outer, reduce, inner, mean ? 1 / reduce : 1)
    return backend.makeTensorInfo(shape, 'float32', out)
  }
}

/** The elementwise, data-movement and reduction kernels, by TF.js kernel name. */
export function elementwiseKernels(addon: NativeAddon): Map<string, tf.KernelFunc> {
  const kernels = new Map<string, tf.KernelFunc>([
    [tf.Slice, slice(addon, cpuKernel(tf.Slice))],
    [tf.SplitV, splitV(addon, cpuKernel(tf.SplitV)) as unknown as tf.KernelFunc],
    [tf.PadV2, padV2(addon, cpuKernel(tf.PadV2))],
    [tf.Transpose, transpose(addon, cpuKernel(tf.Transpose))],
    [tf.Reverse, reverse(addon, cpuKernel(tf.Reverse))],
    [tf.Concat, concat(addon, cpuKernel(tf.Concat))],
    [tf.Sum, reduction(addon, false, cpuKernel(tf.Sum))],
    [tf.Mean, reduction(addon, true, cpuKernel(tf.Mean))]
  ])
  kernels.set(tf.Select, select(addon, cpuKernel(tf.Select)))
  for (const [name, op] of Object.entries({ ...BINARY_OPS, ...COMPARE_OPS }))
    kernels.set(name, binary(addon, op, cpuKernel(name)))
  for (const [name, op] of Object.entries(UNARY_OPS)) kernels.set(name, unary(addon, op, cpuKernel(name)))
  return kernels
}
