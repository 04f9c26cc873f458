import { checkBinaryConvGeometry, describeGeometry, wordsPerPixel, type BinaryConvGeometry } from './geometry'
import {
  convParams,
  createFilledBuffer,
  createStorageBuffer,
  packParams,
  recordConv,
  recordPack,
  pipelines,
  STORAGE
} from './passes'

export { checkBinaryConvGeometry, wordsPerPixel, type BinaryConvGeometry } from './geometry'

/**
 * The binary convolution in plain WebGPU (no TF.js), shared by the engine's 'webgpu' TF.js kernel
 * (../binary-conv-kernel.ts) and the packed runtime's WebGPU path: BN (optional) → sign → XNOR/popcount conv on
 * bit-packed planes → ×α per output channel → ReLU (optional), in two dispatches of one compute pass.
 *
 * Two passes rather than one fused pass (each conv invocation taking the signs of its taps' floats itself): the fused
 * kernel redoes the BN and sign of every input value for every tap and output channel tile (k²·C_out/8 times instead
 * of once: 72× for 3×3, 64 → 64) and reads 32× more bytes per tap. scripts/bench/wgsl-binary-conv.ts, batch 32,
 * 16×16×64 → 64, 3×3 on lavapipe (2 shared cores, load ~6; process CPU time): two passes 33 ms with BN, 23 ms
 * without; the fused pass 1600 ms (its 1-channel-per-invocation form; tiling cannot recover a 72× redo).
 */

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
        throw new Error(`GpuBinaryConv (${describeGeometry(geometry)}): ${name} has ${length} values, expected ${want}`)
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
          `GpuBinaryConv (${describeGeometry(g)}): ${name} holds ${buffer.size} bytes, batch ${batch} needs ${floats * 4}`
        )
      }
      // Caught here rather than as an asynchronous validation error that leaves y unwritten.
      if ((buffer.usage & STORAGE) === 0) {
        throw new Error(`GpuBinaryConv: ${name} must be a buffer with GPUBufferUsage.STORAGE`)
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
