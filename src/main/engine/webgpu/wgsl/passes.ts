import { CONV_WGSL, CO_TILE, PACK_WGSL, WEIGHT_PACK_WGSL, WORKGROUP } from './shaders'
import { wordsPerPixel, type BinaryConvGeometry } from './geometry'

/**
 * The three WGSL kernels' pipelines (one set per device) and the recording of each dispatch with its uniforms:
 * the building blocks of GpuBinaryConv (./binary-conv.ts) and of the TF.js kernel (../binary-conv-kernel.ts).
 */

// GPUBufferUsage's values (fixed by the WebGPU spec), so this module does not depend on the browser's globals.
export const STORAGE = 0x80
export const UNIFORM = 0x40
export const COPY_DST = 0x08
export const COPY_SRC = 0x04

interface Pipelines {
  pack: GPUComputePipeline
  weightPack: GPUComputePipeline
  conv: GPUComputePipeline
  /** Bound in place of the BN parameters when there is no BN (a binding cannot be left empty). */
  noBn: GPUBuffer
}

const pipelineCache = new WeakMap<GPUDevice, Pipelines>()

/** The three pipelines, compiled once per device (uniform geometry: no per-layer compile). */
export function pipelines(device: GPUDevice): Pipelines {
  let cached = pipelineCache.get(device)
  if (!cached) {
    const make = (code: string, label: string): GPUComputePipeline =>
      device.createComputePipeline({
        label,
        layout: 'auto',
        compute: { module: device.createShaderModule({ code, label }), entryPoint: 'main' }
      })
    cached = {
      pack: make(PACK_WGSL, 'bnas binary pack'),
      weightPack: make(WEIGHT_PACK_WGSL, 'bnas binary weight pack'),
      conv: make(CONV_WGSL, 'bnas binary conv'),
      noBn: device.createBuffer({ size: 16, usage: STORAGE, label: 'bnas binary no-bn' })
    }
    pipelineCache.set(device, cached)
  }
  return cached
}

/** A buffer filled at creation (no queue write, so its contents are fixed whatever is recorded later). */
export function createFilledBuffer(
  device: GPUDevice,
  data: Uint32Array | Float32Array,
  usage: number,
  label: string
): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16)
  const buffer = device.createBuffer({ size, usage, mappedAtCreation: true, label })
  const view =
    data instanceof Float32Array ? new Float32Array(buffer.getMappedRange()) : new Uint32Array(buffer.getMappedRange())
  view.set(data)
  buffer.unmap()
  return buffer
}

function params(device: GPUDevice, values: number[], label: string): GPUBuffer {
  return createFilledBuffer(device, Uint32Array.from(values), UNIFORM, label)
}

export function createStorageBuffer(device: GPUDevice, bytes: number, label: string): GPUBuffer {
  return device.createBuffer({
    size: Math.max(16, Math.ceil(bytes / 16) * 16),
    usage: STORAGE | COPY_SRC | COPY_DST,
    label
  })
}

/**
 * Workgroups per dispatch along x: 65535, the minimum of maxComputeWorkgroupsPerDimension every device allows; the
 * rest go along y (the shaders recombine x and y with num_workgroups). Tests lower it to cover the 2-D grid, which
 * real layers reach only past 4 M invocations.
 */
export const gridLimit = { x: 65535 }

/** Workgroup counts (x, y) for `count` invocations. */
function grid(count: number): [number, number] {
  const groups = Math.ceil(count / WORKGROUP)
  const x = Math.min(groups, gridLimit.x)
  return [x, Math.ceil(groups / x)]
}

function dispatch(
  pass: GPUComputePassEncoder,
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  buffers: GPUBuffer[],
  count: number
): void {
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } }))
  })
  pass.setPipeline(pipeline)
  pass.setBindGroup(0, bindGroup)
  const [x, y] = grid(count)
  pass.dispatchWorkgroups(x, y)
}

/** Uniforms of the activation pack for `pixels` pixels of `channels` channels. */
export function packParams(device: GPUDevice, pixels: number, channels: number, bn: boolean): GPUBuffer {
  return params(
    device,
    [pixels * wordsPerPixel(channels), channels, wordsPerPixel(channels), bn ? 1 : 0],
    'pack params'
  )
}

/** Records the activation pack: x [pixels][C] f32 → packed [pixels][words] (sign, nonzero). */
export function recordPack(
  pass: GPUComputePassEncoder,
  device: GPUDevice,
  uniforms: GPUBuffer,
  x: GPUBuffer,
  bn: GPUBuffer | null,
  packed: GPUBuffer,
  pixels: number,
  channels: number
): void {
  const p = pipelines(device)
  dispatch(pass, device, p.pack, [uniforms, x, bn ?? p.noBn, packed], pixels * wordsPerPixel(channels))
}

export function weightPackParams(device: GPUDevice, kernel: number, cin: number, cout: number): GPUBuffer {
  const words = wordsPerPixel(cin)
  const taps = kernel * kernel
  return params(device, [cout * taps * words, cin, cout, words, taps, 0, 0, 0], 'weight pack params')
}

/** Records the weight pack: w [kh][kw][C_in][C_out] f32 → packed [C_out][kh][kw][words] (sign, nonzero). */
export function recordWeightPack(
  pass: GPUComputePassEncoder,
  device: GPUDevice,
  uniforms: GPUBuffer,
  w: GPUBuffer,
  packed: GPUBuffer,
  kernel: number,
  cin: number,
  cout: number
): void {
  dispatch(
    pass,
    device,
    pipelines(device).weightPack,
    [uniforms, w, packed],
    cout * kernel * kernel * wordsPerPixel(cin)
  )
}

function convInvocations(g: BinaryConvGeometry, batch: number): number {
  return batch * g.outH * g.outW * Math.ceil(g.outC / CO_TILE)
}

export function convParams(device: GPUDevice, g: BinaryConvGeometry, batch: number, relu: boolean): GPUBuffer {
  return params(
    device,
    [
      convInvocations(g, batch),
      g.inH,
      g.inW,
      wordsPerPixel(g.inC),
      g.outH,
      g.outW,
      g.outC,
      g.kernel,
      g.stride,
      g.dilation,
      g.pad,
      relu ? 1 : 0
    ],
    'conv params'
  )
}

/** Records the packed conv: act [N][H][W][words], weights [C_out][k][k][words] → y [N][outH][outW][C_out] f32. */
export function recordConv(
  pass: GPUComputePassEncoder,
  device: GPUDevice,
  uniforms: GPUBuffer,
  act: GPUBuffer,
  weights: GPUBuffer,
  alpha: GPUBuffer,
  y: GPUBuffer,
  g: BinaryConvGeometry,
  batch: number
): void {
  dispatch(pass, device, pipelines(device).conv, [uniforms, act, weights, alpha, y], convInvocations(g, batch))
}
