import * as tf from '@tensorflow/tfjs-core'
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu'
import { BINARY_CONV2D } from '../native/binary-conv'
import { checkBinaryConvGeometry, wordsPerPixel, type BinaryConvGeometry } from './wgsl/geometry'
import {
  convParams,
  createStorageBuffer,
  packParams,
  recordConv,
  recordPack,
  recordWeightPack,
  weightPackParams
} from './wgsl/passes'

/** The attributes binaryConv2d (../native/binary-conv.ts) passes, the same for every backend. */
interface BinaryConvAttrs {
  strides: [number, number]
  dilations: [number, number]
  pad: number
}

/**
 * BINARY_CONV2D on the 'webgpu' backend: x [N,H,W,C_in], filter [kh,kw,C_in,C_out] float (only its signs count),
 * alpha [C_out], all on the GPU. The filter is packed by a WGSL shader too, so nothing is read back.
 *
 * tfjs-backend-webgpu records its own programs into a command encoder it submits later; work recorded into another
 * encoder and submitted first would run before them. So the backend's pending work is submitted first, then this
 * kernel's three dispatches as one submission; TF.js's later programs are submitted after it. The scratch buffers
 * (packed planes, uniforms) are destroyed right after the submission: WebGPU keeps a destroyed buffer's memory until
 * the work already submitted with it has run.
 */
function binaryConvWebgpu(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) {
  const backend = args.backend as WebGPUBackend
  const { x, filter, alpha } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; alpha: tf.TensorInfo }
  const { strides, dilations, pad } = args.attrs as unknown as BinaryConvAttrs
  for (const [name, t] of [
    ['x', x],
    ['filter', filter],
    ['alpha', alpha]
  ] as const) {
    if (t.dtype !== 'float32') throw new Error(`${BINARY_CONV2D} on webgpu: ${name} must be float32, not ${t.dtype}`)
  }
  const [batch, inH, inW, inC] = x.shape
  const [kh, kw, fc, outC] = filter.shape
  if (kh !== kw || fc !== inC || strides[0] !== strides[1] || dilations[0] !== dilations[1]) {
    throw new Error(
      `${BINARY_CONV2D} on webgpu: not supported: x ${x.shape}, filter ${filter.shape}, strides ${strides}, ` +
        `dilations ${dilations} (square kernel, equal strides and dilations, filter C_in = x's C)`
    )
  }
  const [stride, dilation, kernel] = [strides[0], dilations[0], kh]
  const out = (size: number): number => Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1
  const g: BinaryConvGeometry = { inH, inW, inC, outH: out(inH), outW: out(inW), outC, kernel, stride, dilation, pad }
  checkBinaryConvGeometry(g)
  const output = backend.makeTensorInfo([batch, g.outH, g.outW, outC], 'float32')
  if (batch === 0) return output

  const device = backend.device
  const buffer = (t: tf.TensorInfo): GPUBuffer => {
    backend.uploadToGPU(t.dataId)
    const resource = backend.tensorMap.get(t.dataId).resource
    if (!(resource instanceof GPUBuffer)) throw new Error(`${BINARY_CONV2D} on webgpu: a tensor is not in a GPU buffer`)
    return resource
  }
  const [xs, ws, as, ys] = [buffer(x), buffer(filter), buffer(alpha), buffer(output)]

  const pixels = batch * inH * inW
  const scratch = [
    createStorageBuffer(device, pixels * wordsPerPixel(inC) * 8, 'binary conv packed input'),
    createStorageBuffer(device, outC * kernel * kernel * wordsPerPixel(inC) * 8, 'binary conv packed weights'),
    packParams(device, pixels, inC, false),
    weightPackParams(device, kernel, inC, outC),
    convParams(device, g, batch, false)
  ]
  const [packedX, packedW, pParams, wParams, cParams] = scratch

  backend.ensureCommandEncoderReady()
  backend.endComputePassEncoder()
  backend.submitQueue()
  const encoder = device.createCommandEncoder({ label: BINARY_CONV2D })
  const pass = encoder.beginComputePass()
  recordWeightPack(pass, device, wParams, ws, packedW, kernel, inC, outC)
  recordPack(pass, device, pParams, xs, null, packedX, pixels, inC)
  recordConv(pass, device, cParams, packedX, packedW, as, ys, g, batch)
  pass.end()
  device.queue.submit([encoder.finish()])
  for (const b of scratch) b.destroy()
  return output
}

/**
 * Registers BINARY_CONV2D for the 'webgpu' backend (its forward only, as on 'native'); idempotent. The engine's
 * webgpu backend calls it once the backend is registered; binaryConv2d then runs the WGSL kernels there.
 */
export function registerWebgpuBinaryKernels(): void {
  if (tf.getKernel(BINARY_CONV2D, 'webgpu')) return
  tf.registerKernel({ kernelName: BINARY_CONV2D, backendName: 'webgpu', kernelFunc: binaryConvWebgpu as tf.KernelFunc })
}
