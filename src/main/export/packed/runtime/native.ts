import { nativeAddonStatus, setNativeThreads, type NativeAddon } from '../../../engine/native'
import { unpackSigns } from '../bits'
import type { PackedStep } from '../format'
import { bnInverse, executeReference, prepareReference, ReferenceBackend } from './reference'
import type { PackedRuntimePath, StepDims } from './types'

/**
 * The packed runtime on the native addon of issue 4 (src/main/engine/native: oneDNN convolutions, the bit-packed
 * binary conv with AVX-512 VPOPCNTDQ or scalar popcount chosen at run time, OpenMP threads). Node only, so it is
 * registered by the Node-side export module, not by the runtime's browser-safe index. Buffers are Float32Arrays (the
 * reference path's); BN, binary and float convs, ReLU and adds run in the addon, the cheap rest in TS.
 */
interface PreparedBn {
  mean: Float32Array
  inv: Float32Array
  gamma?: Float32Array
  beta?: Float32Array
}

interface PreparedNative {
  bn?: PreparedBn
  /** Binary weights as ±1/0 floats [kh, kw, C_in, C_out] (the addon packs their signs). */
  filter?: Float32Array
  geometry?: Int32Array
}

const OP = { add: 0, sub: 1, mul: 2, relu: 2 } as const

function geometry(step: Extract<PackedStep, { op: 'conv' | 'binconv' }>, dims: StepDims): Int32Array {
  const [h, w, cin] = dims.inputs[0]
  const [ho, wo, cout] = dims.output
  const { kernel: k, stride: s, dilation: d, padding: p } = step
  return Int32Array.from([dims.batch, h, w, cin, ho, wo, cout, k, k, s, s, d, d, p, p, p, p])
}

class NativeBackend extends ReferenceBackend {
  override readonly name = 'native'

  constructor(private readonly addon: NativeAddon) {
    super()
  }

  /** ((x − μ)·inv)·γ + β over [pixels, C], broadcasting the per-channel vectors: the engine's op order. */
  private bn(x: Float32Array, y: Float32Array, c: number, bn: PreparedBn): void {
    const shape = Int32Array.from([x.length / c, c])
    const dense = Int32Array.from([c, 1])
    const channel = Int32Array.from([0, 1])
    this.addon.binaryOp(OP.sub, x, dense, bn.mean, channel, y, shape)
    this.addon.binaryOp(OP.mul, y, dense, bn.inv, channel, y, shape)
    if (bn.gamma) this.addon.binaryOp(OP.mul, y, dense, bn.gamma, channel, y, shape)
    if (bn.beta) this.addon.binaryOp(OP.add, y, dense, bn.beta, channel, y, shape)
  }

  override prepare(step: PackedStep): unknown {
    if (step.op === 'binconv') {
      const taps = step.kernel * step.kernel
      const flat = unpackSigns(step.sign, step.mask, step.cin) // [cout][taps][cin]
      const filter = new Float32Array(flat.length)
      for (let o = 0; o < step.cout; o++)
        for (let t = 0; t < taps; t++)
          for (let c = 0; c < step.cin; c++)
            filter[(t * step.cin + c) * step.cout + o] = flat[(o * taps + t) * step.cin + c]
      return { bn: { mean: step.bn.mean, inv: bnInverse(step.bn), gamma: step.bn.gamma, beta: step.bn.beta }, filter }
    }
    if (step.op === 'bn') return { bn: prepareReference(step) as PreparedBn }
    return {}
  }

  override execute(step: PackedStep, prepared: unknown, inputs: Float32Array[], y: Float32Array, dims: StepDims): void {
    const p = prepared as PreparedNative
    const x = inputs[0]
    const c = dims.inputs[0][2]
    switch (step.op) {
      case 'binconv': {
        const normed = new Float32Array(x.length)
        this.bn(x, normed, c, p.bn!)
        this.addon.binaryConv2d(normed, p.filter!, step.alpha, y, geometry(step, dims))
        this.addon.unaryOp(OP.relu, y, y)
        return
      }
      case 'conv': {
        this.addon.conv2dForward(x, step.weight, y, geometry(step, dims))
        if (step.bias) {
          const cout = dims.output[2]
          const shape = Int32Array.from([y.length / cout, cout])
          this.addon.binaryOp(OP.add, y, Int32Array.from([cout, 1]), step.bias, Int32Array.from([0, 1]), y, shape)
        }
        return
      }
      case 'bn':
        return this.bn(x, y, c, p.bn!)
      case 'relu':
        return this.addon.unaryOp(OP.relu, x, y)
      case 'add': {
        const flat = Int32Array.from([1])
        return this.addon.binaryOp(OP.add, x, flat, inputs[1], flat, y, Int32Array.from([x.length]))
      }
      default:
        return executeReference(step, prepareReference(step), inputs, y, dims)
    }
  }
}

let threads: number | undefined

/**
 * Threads the native path uses (bench: `--threads`, so both runtimes get the same). The addon's thread count is
 * process-wide (the engine's native backend shares it), so it is only changed when asked.
 */
export function setNativePackedThreads(count: number): void {
  threads = count
}

export const nativePackedPath: PackedRuntimePath = {
  name: 'native',
  // Below wasm-simd for now: through the addon's TF.js-kernel entry points it repacks the weights on every call and
  // is slower (README: measured). `bnas bench infer` times it anyway and reports the fastest path.
  priority: 5,
  available: async () => {
    const status = nativeAddonStatus()
    return status.available ? { ok: true } : { ok: false, reason: status.reason }
  },
  createBackend: async () => {
    const status = nativeAddonStatus()
    if (!status.available) throw new Error(`the native addon is not available: ${status.reason}`)
    if (threads !== undefined) setNativeThreads(threads)
    return new NativeBackend(status.addon)
  }
}
