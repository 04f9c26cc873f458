import { CONV_WGSL, CO_TILE, PACK_WGSL, WEIGHT_PACK_WGSL, WORKGROUP } from './shaders'

/**
 * The binary convolution in plain WebGPU (no TF.js), shared by the engine's 'webgpu' TF.js kernel
 * (../binary-conv-kernel.ts) and the packed runtime's WebGPU path: BN (optional) → sign → XNOR/popcount conv on
 * bit-packed planes → ×α per output channel → ReLU (optional), in two dispatches of one compute pass.
 *
 * Two passes rather than one fused pass (each conv invocation taking the signs of its taps' floats itself): the fused
 * kernel redoes the BN and sign of every input value once per output channel and tap (C_out·k² times instead of once)
 * and reads 32× more bytes per tap; measured on lavapipe by scripts/bench-wgsl-binary-conv.ts (figures in its header).
 */

// GPUBufferUsage's values (fixed by the WebGPU spec), so this module does not depend on the browser's globals.
const STORAGE = 0x80
const UNIFORM = 0x40
const COPY_DST = 0x08
const COPY_SRC = 0x04

export interface BinaryConvGeometry {
  inH: number
  inW: number
  inC: number
  outH: number
  outW: number
  outC: number
  kernel: number
  stride: number
  dilation: number
  pad: number
}

/** Packed weights in the layout of src/main/export/packed/bits.ts: [C_out][kh][kw][⌈C_in/32⌉] words, bit 1 = −1. */
export interface BinaryConvWeights {
  sign: Uint32Array
  /** Nonzero plane (bit 0 = the weight is 0); absent = every weight is ±1. */
  mask?: Uint32Array
  /** One scale per output channel. */
  alpha: Float32Array
}

/** Batch norm before the sign: ((x − mean)·inv)·gamma + beta per input channel, inv = 1/√(var + eps) precomputed. */
export interface BinaryConvPreBn {
  mean: Float32Array
  inv: Float32Array
  gamma?: Float32Array
  beta?: Float32Array
}

export function wordsPerPixel(channels: number): number {
  return Math.ceil(channels / 32)
}

function describe(g: BinaryConvGeometry): string {
  return (
    `${g.inH}×${g.inW}×${g.inC} → ${g.outH}×${g.outW}×${g.outC}, kernel ${g.kernel}, stride ${g.stride}, ` +
    `dilation ${g.dilation}, pad ${g.pad}`
  )
}

/**
 * Throws unless the geometry is one the kernels compute: positive integer sizes, PyTorch's output size
 * ⌊(in + 2·pad − dilation·(k − 1) − 1) / stride⌋ + 1 on both axes. Any kernel size, stride and dilation work (they
 * are uniforms); the tests cover those of the method (kernel 1, 2, 3, 5, stride 1|2, dilation 1|2) and 7 and 9.
 */
export function checkBinaryConvGeometry(g: BinaryConvGeometry): void {
  const positive = ['inH', 'inW', 'inC', 'outH', 'outW', 'outC', 'kernel', 'stride', 'dilation'] as const
  const bad = positive.filter((key) => !Number.isInteger(g[key]) || g[key] < 1)
  if (!Number.isInteger(g.pad) || g.pad < 0) bad.push('pad' as never)
  if (bad.length > 0) {
    throw new Error(`binary conv geometry not supported (${describe(g)}): ${bad.join(', ')} must be whole numbers`)
  }
  const out = (size: number): number => Math.floor((size + 2 * g.pad - g.dilation * (g.kernel - 1) - 1) / g.stride) + 1
  if (out(g.inH) !== g.outH || out(g.inW) !== g.outW) {
    throw new Error(
      `binary conv geometry not supported (${describe(g)}): symmetric padding gives ${out(g.inH)}×${out(g.inW)} outputs`
    )
  }
}

interface Pipelines {
  pack: GPUComputePipeline
  weightPack: GPUComputePipeline
  conv: GPUComputePipeline
  /** Bound in place of the BN parameters when there is no BN (a binding cannot be left empty). */
  noBn: GPUBuffer
}

const pipelineCache = new WeakMap<GPUDevice, Pipelines>()

/** The three pipelines, compiled once per device (uniform geometry: no per-layer compile). */
function pipelines(device: GPUDevice): Pipelines {
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

/** Interleaves the sign and nonzero planes into (sign, nonzero) pairs; no mask means every bit below C_in is set. */
function interleaveWeights(w: BinaryConvWeights, words: number, cin: number): Uint32Array {
  const out = new Uint32Array(w.sign.length * 2)
  const full = (j: number): number => {
    const bits = Math.min(32, cin - j * 32)
    return bits === 32 ? 0xffffffff : (1 << bits) - 1
  }
  for (let i = 0; i < w.sign.length; i++) {
    out[2 * i] = w.sign[i]
    out[2 * i + 1] = w.mask ? w.mask[i] : full(i % words) >>> 0
  }
  return out
}

interface BatchState {
  packed: GPUBuffer
  packParams: GPUBuffer
  convParams: GPUBuffer
}

/**
 * One binary conv layer on a device: weights uploaded once, scratch planes and uniforms made per batch size and kept
 * (a buffer recorded into a caller's encoder must live until that encoder is submitted, so nothing is ever freed
 * before dispose()).
 */
export class GpuBinaryConv {
  private readonly weights: GPUBuffer
  private readonly alpha: GPUBuffer
  private readonly bn: GPUBuffer | null
  private readonly relu: boolean
  private readonly batches = new Map<number, BatchState>()
  private disposed = false

  constructor(
    private readonly device: GPUDevice,
    private readonly geometry: BinaryConvGeometry,
    weights: BinaryConvWeights,
    options: { bn?: BinaryConvPreBn; relu?: boolean } = {}
  ) {
    checkBinaryConvGeometry(geometry)
    const { inC, outC, kernel } = geometry
    const words = wordsPerPixel(inC)
    const expected = outC * kernel * kernel * words
    const lengths: [string, number, number][] = [
      ['sign', weights.sign.length, expected],
      ['alpha', weights.alpha.length, outC]
    ]
    if (weights.mask) lengths.push(['mask', weights.mask.length, expected])
    const bn = options.bn
    if (bn) {
      lengths.push(['bn.mean', bn.mean.length, inC], ['bn.inv', bn.inv.length, inC])
      if (bn.gamma) lengths.push(['bn.gamma', bn.gamma.length, inC])
      if (bn.beta) lengths.push(['bn.beta', bn.beta.length, inC])
    }
    for (const [name, length, want] of lengths) {
      if (length !== want) {
        throw new Error(`GpuBinaryConv (${describe(geometry)}): ${name} has ${length} values, expected ${want}`)
      }
    }
    this.weights = createFilledBuffer(device, interleaveWeights(weights, words, inC), STORAGE, 'binary conv weights')
    this.alpha = createFilledBuffer(device, weights.alpha, STORAGE, 'binary conv alpha')
    this.bn = bn ? createFilledBuffer(device, bnTable(bn, inC), STORAGE, 'binary conv bn') : null
    this.relu = options.relu ?? false
    pipelines(device)
  }

  /**
   * Records pack + conv into encoder. x: NHWC f32 storage buffer [batch,inH,inW,inC]; y: NHWC f32
   * [batch,outH,outW,outC]; caller owns both. Scratch buffers for the packed planes are sized per batch and reused.
   */
  encode(encoder: GPUCommandEncoder, x: GPUBuffer, y: GPUBuffer, batch: number): void {
    if (this.disposed) throw new Error('GpuBinaryConv: used after dispose()')
    if (!Number.isInteger(batch) || batch < 0) throw new Error(`GpuBinaryConv: batch ${batch} is not a count`)
    if (batch === 0) return
    const g = this.geometry
    const pixels = batch * g.inH * g.inW
    const need = (buffer: GPUBuffer, name: string, floats: number): void => {
      if (buffer.size < floats * 4) {
        throw new Error(
          `GpuBinaryConv (${describe(g)}): ${name} holds ${buffer.size} bytes, batch ${batch} needs ${floats * 4}`
        )
      }
    }
    need(x, 'x', pixels * g.inC)
    need(y, 'y', batch * g.outH * g.outW * g.outC)
    const state = this.batchState(batch)
    const pass = encoder.beginComputePass({ label: 'bnas binary conv' })
    recordPack(pass, this.device, state.packParams, x, this.bn, state.packed, pixels, g.inC)
    recordConv(pass, this.device, state.convParams, state.packed, this.weights, this.alpha, y, g, batch)
    pass.end()
  }

  private batchState(batch: number): BatchState {
    let state = this.batches.get(batch)
    if (!state) {
      const g = this.geometry
      const pixels = batch * g.inH * g.inW
      state = {
        packed: createStorageBuffer(this.device, pixels * wordsPerPixel(g.inC) * 8, 'binary conv packed input'),
        packParams: packParams(this.device, pixels, g.inC, this.bn !== null),
        convParams: convParams(this.device, g, batch, this.relu)
      }
      this.batches.set(batch, state)
    }
    return state
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    for (const state of this.batches.values()) {
      state.packed.destroy()
      state.packParams.destroy()
      state.convParams.destroy()
    }
    this.batches.clear()
    this.weights.destroy()
    this.alpha.destroy()
    this.bn?.destroy()
  }
}

/** [mean, inv, gamma, beta] per channel, γ = 1 and β = 0 where the BN has no affine part (same signs exactly). */
function bnTable(bn: BinaryConvPreBn, channels: number): Float32Array {
  const table = new Float32Array(4 * channels)
  table.set(bn.mean, 0)
  table.set(bn.inv, channels)
  if (bn.gamma) table.set(bn.gamma, 2 * channels)
  else table.fill(1, 2 * channels, 3 * channels)
  if (bn.beta) table.set(bn.beta, 3 * channels)
  return table
}
