import * as tf from '@tensorflow/tfjs-core'
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm'

/**
 * Training kernels that tfjs-backend-wasm 4.22 does not ship, built from its own (XNNPACK / C++) kernels so the hot
 * loops stay in WebAssembly. Found by running a forward + backward pass of every BNAS op on wasm and collecting the
 * "kernel not registered" errors; with the engine's ops (conv2dTorch never hands dilation to tf.conv2d) the only
 * missing one is Conv2DBackpropFilter. MaxPoolGrad, AvgPoolGrad, Conv2DBackpropInput, SpaceToBatchND and
 * BatchToSpaceND exist in wasm already.
 */
export function registerWasmGradientKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc
    })
  }
}

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
 * dW[a, b, ci, co] = Σ_{n,i,j} x_pad[n, s·i + a, s·j + b, ci] · dy[n, i, j, co].
 * For each filter tap (a, b) this is one GEMM: the tap's strided window of the padded input, laid out as
 * [C_in, N·Ho·Wo] (the input is transposed once to channels-first so each window is already in GEMM order, avoiding
 * wasm's slow transposed-operand matMul), times dy as [N·Ho·Wo, C_out].
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
  const { batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth, filterHeight, filterWidth } = info
  const { strideHeight, strideWidth, padInfo } = info
  const padded =
    padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0
      ? null
      : call(
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
  const hp = inHeight + padInfo.top + padInfo.bottom
  const wp = inWidth + padInfo.left + padInfo.right
  const channelsFirst = call(backend, 'Transpose', { x: padded ?? x }, { perm: [3, 0, 1, 2] })
  if (padded) release(backend, padded)
  const m = batchSize * outHeight * outWidth
  const dy3 = call(backend, 'Reshape', { x: dy }, { shape: [1, m, outChannels] })

  const out = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32')
  const tapSize = inChannels * outChannels
  const fullWindow = strideHeight === 1 && strideWidth === 1 && outHeight === hp && outWidth === wp
  for (let a = 0; a < filterHeight; a++) {
    for (let b = 0; b < filterWidth; b++) {
      const window = fullWindow
        ? call(backend, 'Reshape', { x: channelsFirst }, { shape: channelsFirst.shape })
        : call(
            backend,
            'StridedSlice',
            { x: channelsFirst },
            {
              begin: [0, 0, a, b],
              end: [
                inChannels,
                batchSize,
                a + strideHeight * (outHeight - 1) + 1,
                b + strideWidth * (outWidth - 1) + 1
              ],
              strides: [1, 1, strideHeight, strideWidth],
              beginMask: 0,
              endMask: 0,
              ellipsisMask: 0,
              newAxisMask: 0,
              shrinkAxisMask: 0
            }
          )
      const window3 = call(backend, 'Reshape', { x: window }, { shape: [1, inChannels, m] })
      const tap = call(backend, 'BatchMatMul', { a: window3, b: dy3 }, { transposeA: false, transposeB: false })
      // Views of the wasm heap are re-read after every kernel call: a call may grow (and so move) the heap.
      const outValues = backend.typedArrayFromHeap(out) as Float32Array
      outValues.set(backend.typedArrayFromHeap(tap) as Float32Array, (a * filterWidth + b) * tapSize)
      release(backend, window, window3, tap)
    }
  }
  release(backend, channelsFirst, dy3)
  return out
}
