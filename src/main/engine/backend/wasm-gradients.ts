import * as tf from '@tensorflow/tfjs-core'
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm'

/**
 * Training kernels for tfjs-backend-wasm 4.22, found by running a forward + backward pass of every BNAS op on wasm and
 * comparing with the cpu backend and PyTorch:
 * - Conv2DBackpropFilter is missing. It is built from wasm's own kernels (an XNNPACK forward conv) so the hot loop
 *   stays in WebAssembly. Dilation never reaches it: conv2dTorch differentiates its dilated convs itself.
 * - MaxPoolGrad exists but is wrong: wasm's C++ max-pool-with-argmax picks wrong positions for some windows (seen with
 *   3 and 4 channels at 7×7, padding 1), so its gradient lands on the wrong pixels. It is replaced.
 * - Conv2DBackpropInput exists and is correct but is a plain C++ loop, 5–10× slower than XNNPACK's forward conv. It is
 *   replaced by a forward conv of the (zero-upsampled, padded) dy with the flipped, transposed filter; geometries it
 *   does not cover (dilation, NCHW) fall back to the shipped kernel.
 * AvgPoolGrad, SpaceToBatchND and BatchToSpaceND exist in wasm and match the cpu backend.
 */
export function registerWasmGradientKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc
    })
  }
  if (originalBackpropInput === undefined) {
    const shipped = tf.getKernel('Conv2DBackpropInput', 'wasm')
    if (shipped !== undefined) {
      originalBackpropInput = shipped.kernelFunc
      tf.unregisterKernel('Conv2DBackpropInput', 'wasm')
      tf.registerKernel({
        kernelName: 'Conv2DBackpropInput',
        backendName: 'wasm',
        // The shipped kernel's setup (binding its C++ function) runs when the backend starts, after this
        // registration, and the fallback needs it.
        setupFunc: shipped.setupFunc,
        kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc
      })
    }
  }
  if (!maxPoolGradReplaced) {
    if (tf.getKernel('MaxPoolGrad', 'wasm') !== undefined) tf.unregisterKernel('MaxPoolGrad', 'wasm')
    tf.registerKernel({
      kernelName: 'MaxPoolGrad',
      backendName: 'wasm',
      kernelFunc: maxPoolGrad as unknown as tf.KernelFunc
    })
    maxPoolGradReplaced = true
  }
}

let maxPoolGradReplaced = false
let originalBackpropInput: tf.KernelFunc | undefined

/** Calls another wasm kernel directly (no engine bookkeeping): the result must be released with `release`. */
function call(backend: BackendWasm, name: string, inputs: tf.NamedTensorInfoMap, attrs: object): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm')
  if (kernel === undefined) throw new Error(`wasm kernel ${name} is missing`)
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo
}

function release(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId)
}

interface Conv2DBackpropFilterArgs {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo }
  backend: BackendWasm
  attrs: {
    strides: [number, number] | number
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding
    dataFormat: 'NHWC' | 'NCHW'
    dimRoundingMode?: 'floor' | 'round' | 'ceil'
    filterShape: [number, number, number, number]
  }
}

/**
 * dW[a, b, ci, co] = Σ_{n,i,j} x_pad[n, s·i + a, s·j + b, ci] · dy[n, i, j, co]
 * is itself a forward convolution, which XNNPACK runs as an implicit GEMM without materialising im2col patches:
 * the input is x_pad as [C_in, Hp, Wp, N] (C_in plays the batch, N the channels), the filter is dy as
 * [Ho, Wo, N, C_out] dilated by the stride, and the 'valid' output [C_in, kh(+1), kw(+1), C_out] is dW with its first
 * two axes moved. (At stride 2 a last padded row/column no tap reaches yields one surplus output row/column, cut off.)
 * 2–5× faster than stacking the k² shifted windows into an im2col matrix for one GEMM, which was dominated by the
 * window copies.
 */
function conv2DBackpropFilter(args: Conv2DBackpropFilterArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args
  const { x, dy } = inputs
  if (attrs.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only')
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode
  )
  const { inChannels, outChannels, filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info
  const temps: tf.TensorInfo[] = []
  const keep = (t: tf.TensorInfo): tf.TensorInfo => {
    temps.push(t)
    return t
  }
  const needsPad = padInfo.top + padInfo.bottom + padInfo.left + padInfo.right > 0
  const padded = needsPad
    ? keep(
        call(
          backend,
          'PadV2',
          { x },
          {
            paddings: [
              [0, 0],
              [padInfo.top, padInfo.bottom],
              [padInfo.left, padInfo.right],
              [0, 0]
            ],
            constantValue: 0
          }
        )
      )
    : x
  const input = keep(call(backend, 'Transpose', { x: padded }, { perm: [3, 1, 2, 0] }))
  const filter = keep(call(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] }))
  let grad = keep(
    call(
      backend,
      'Conv2D',
      { x: input, filter },
      {
        strides: 1,
        pad: 'valid',
        dilations: [strideHeight, strideWidth],
        dataFormat: 'NHWC',
        dimRoundingMode: undefined
      }
    )
  )
  if (grad.shape[1] !== filterHeight || grad.shape[2] !== filterWidth) {
    grad = keep(
      call(
        backend,
        'Slice',
        { x: grad },
        { begin: [0, 0, 0, 0], size: [inChannels, filterHeight, filterWidth, outChannels] }
      )
    )
  }
  const dw = call(backend, 'Transpose', { x: grad }, { perm: [1, 2, 0, 3] })
  release(backend, ...temps)
  return dw
}

interface MaxPoolGradArgs {
  inputs: { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo }
  backend: BackendWasm
  attrs: {
    filterSize: [number, number] | number
    strides: [number, number] | number
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding
    dimRoundingMode?: 'floor' | 'round' | 'ceil'
  }
}

/**
 * Max-pool gradient with PyTorch's rule: each output's gradient goes to the first maximum of its window in row-major
 * scan order (ties are common after ReLU, where whole windows are 0), padding never wins. One pass over the outputs
 * on views of the wasm heap: O(outputs · window), small next to the convolutions around it.
 */
function maxPoolGrad(args: MaxPoolGradArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args
  const { dy, input } = inputs
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode
  )
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info
  const { filterHeight, filterWidth, padInfo } = info
  const out = backend.makeOutput(input.shape, 'float32')
  // Read the views only after makeOutput: allocating may grow (and so move) the heap.
  const x = backend.typedArrayFromHeap(input) as Float32Array
  const g = backend.typedArrayFromHeap(dy) as Float32Array
  const dx = backend.typedArrayFromHeap(out) as Float32Array
  dx.fill(0)
  const c = inChannels
  for (let n = 0; n < batchSize; n++) {
    for (let i = 0; i < outHeight; i++) {
      const r0 = i * strideHeight - padInfo.top
      const rStart = Math.max(r0, 0)
      const rEnd = Math.min(r0 + filterHeight, inHeight)
      for (let j = 0; j < outWidth; j++) {
        const q0 = j * strideWidth - padInfo.left
        const qStart = Math.max(q0, 0)
        const qEnd = Math.min(q0 + filterWidth, inWidth)
        const dyBase = ((n * outHeight + i) * outWidth + j) * c
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity
          let bestIndex = ((n * inHeight + rStart) * inWidth + qStart) * c + ch
          for (let r = rStart; r < rEnd; r++) {
            for (let q = qStart; q < qEnd; q++) {
              const index = ((n * inHeight + r) * inWidth + q) * c + ch
              const v = x[index]
              if (v > best || Number.isNaN(v)) {
                best = v
                bestIndex = index
                if (Number.isNaN(v)) break
              }
            }
            if (Number.isNaN(best)) break
          }
          dx[bestIndex] += g[dyBase + ch]
        }
      }
    }
  }
  return out
}

interface Conv2DBackpropInputArgs {
  inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo }
  backend: BackendWasm
  attrs: {
    inputShape: [number, number, number, number]
    strides: [number, number] | number
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding
    dataFormat: 'NHWC' | 'NCHW'
    dimRoundingMode?: 'floor' | 'round' | 'ceil'
  }
}

/**
 * dx of y = conv(x_pad, W, stride s) as one dense stride-1 conv: along each axis
 *   dx[t] = Σ_a U[t + a] · W[k−1−a],  U = dy upsampled by s (zeros between), padded by k−1−pad_before in front,
 * so dx = conv(U, W flipped in kh/kw with C_in and C_out swapped). The upsampling is a rank-4 pad of dy viewed as
 * [N·Ho, 1, Wo, C_out]; the zeros cost s² more MACs at stride 2, still far cheaper than the shipped C++ loop.
 */
function conv2DBackpropInput(args: Conv2DBackpropInputArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args
  const { dy, filter } = inputs
  const fallback = (): tf.TensorInfo => (originalBackpropInput as tf.KernelFunc)(args as never) as tf.TensorInfo
  if (attrs.dataFormat === 'NCHW') return fallback()
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode
  )
  const { batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth, filterHeight, filterWidth } = info
  const { strideHeight, strideWidth, padInfo } = info
  const front = [filterHeight - 1 - padInfo.top, filterWidth - 1 - padInfo.left]
  // Rows of U still needed after the upsampled dy: negative means the last (s−1) zero rows must go.
  const back = [inHeight + padInfo.top - strideHeight * outHeight, inWidth + padInfo.left - strideWidth * outWidth]
  if (front[0] < 0 || front[1] < 0) return fallback()

  const temps: tf.TensorInfo[] = []
  const keep = (t: tf.TensorInfo): tf.TensorInfo => {
    temps.push(t)
    return t
  }
  let u: tf.TensorInfo = dy
  if (strideHeight > 1 || strideWidth > 1) {
    const view = keep(call(backend, 'Reshape', { x: dy }, { shape: [batchSize * outHeight, 1, outWidth, outChannels] }))
    const spread = keep(
      call(
        backend,
        'PadV2',
        { x: view },
        {
          paddings: [
            [0, 0],
            [0, strideHeight - 1],
            [0, 0],
            [0, (strideWidth - 1) * outChannels]
          ],
          constantValue: 0
        }
      )
    )
    u = keep(
      call(
        backend,
        'Reshape',
        { x: spread },
        { shape: [batchSize, strideHeight * outHeight, strideWidth * outWidth, outChannels] }
      )
    )
  }
  u = keep(
    call(
      backend,
      'PadV2',
      { x: u },
      {
        paddings: [
          [0, 0],
          [front[0], Math.max(back[0], 0)],
          [front[1], Math.max(back[1], 0)],
          [0, 0]
        ],
        constantValue: 0
      }
    )
  )
  if (back[0] < 0 || back[1] < 0) {
    const [n, h, w, c] = u.shape
    u = keep(
      call(
        backend,
        'Slice',
        { x: u },
        { begin: [0, 0, 0, 0], size: [n, h + Math.min(back[0], 0), w + Math.min(back[1], 0), c] }
      )
    )
  }
  const flipped = keep(call(backend, 'Reverse', { x: filter }, { dims: [0, 1] }))
  const swapped = keep(call(backend, 'Transpose', { x: flipped }, { perm: [0, 1, 3, 2] }))
  const dx = call(
    backend,
    'Conv2D',
    { x: u, filter: swapped },
    { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC', dimRoundingMode: undefined }
  )
  release(backend, ...temps)
  if (dx.shape[3] !== inChannels) throw new Error('Conv2DBackpropInput: channel mismatch')
  return dx
}
