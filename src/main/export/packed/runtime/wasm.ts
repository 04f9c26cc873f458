import { popcount32, wordsFor } from '../bits'
import type { PackedModel, PackedStep } from '../format'
import type { BnParams } from '../../steps'
import { PACKED_WASM_BASE64 } from './packed-wasm'
import { NATIVE_KIND, planNative, type NativePlan } from './native-plan'
import { bnInverse } from './reference'
import type { CompiledPackedModel, PackedBackend, PackedRuntimePath, Shape3, StepDims } from './types'

/** The parts of the WebAssembly API used here (the node tsconfig has no DOM lib, where its full types live). */
interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(pages: number): number
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>
  instantiate(module: object, imports: object): Promise<{ exports: unknown }>
}
const wasmApi = (): WasmApi | undefined => (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly

/** The exports of kernels.c (pointers are byte offsets into the module's memory). */
interface Kernels {
  memory: WasmMemory
  __heap_base: { value: number }
  // prettier-ignore
  bn_f32(x: number, xs: number, y: number, ys: number, pixels: number, c: number, mean: number, inv: number, gamma: number, beta: number): void
  bn_sign_pack(
    x: number,
    xs: number,
    pixels: number,
    c: number,
    words: number,
    lo: number,
    hi: number,
    dir: number,
    sign: number,
    mask: number
  ): number
  // prettier-ignore
  bin_conv(sign: number, mask: number, n: number, h: number, w: number, words: number, cin: number, k: number, stride: number, pad: number, dil: number, ho: number, wo: number, wsign: number, wmask: number, wsum: number, cout: number, len: number, alpha: number, y: number, ys: number, acc: number, ps: number, pm: number, corr: number, dense: number): void
  conv_f32(...args: number[]): void
  conv_f32_blocked(...args: number[]): void
  relu_f32(x: number, xs: number, y: number, ys: number, pixels: number, c: number): void
  add_f32(a: number, as: number, b: number, bs: number, y: number, ys: number, pixels: number, c: number): void
  fill_zero(y: number, ys: number, pixels: number, c: number): void
  copy_f32(x: number, xs: number, y: number, ys: number, pixels: number, c: number): void
  pool3x3(...args: number[]): void
  gap_f32(x: number, xs: number, y: number, n: number, hw: number, c: number): void
  linear_f32(x: number, w: number, bias: number, y: number, n: number, fin: number, fout: number): void
  /** form 0: a scalar i64.popcnt loop, 1: the dot's own 4-pixel × 4-channel block (kernels.c). */
  probe_popcount(a: number, b: number, len: number, reps: number, form: number): number
  // prettier-ignore
  probe_binconv_bytes(h: number, w: number, cin: number, cout: number, k: number, stride: number, pad: number, dil: number): number
  // prettier-ignore
  probe_binconv(scratch: number, h: number, w: number, cin: number, cout: number, k: number, stride: number, pad: number, dil: number, reps: number, fill: number): number
  // prettier-ignore
  probe_conv_f32_bytes(h: number, w: number, cin: number, cout: number, k: number, stride: number, pad: number, dil: number): number
  // prettier-ignore
  probe_conv_f32(scratch: number, h: number, w: number, cin: number, cout: number, k: number, stride: number, pad: number, dil: number, reps: number, fill: number): number
  probe_fma(a: number, len: number, reps: number): number
}

function decodeBase64(text: string): Uint8Array {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(text, 'base64'))
  const binary = atob(text)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

let compiled: Promise<object> | undefined

/** The kernels' bytes (also committed as packed.wasm); compiled once per process. */
export function packedWasmBytes(): Uint8Array {
  return decodeBase64(PACKED_WASM_BASE64)
}

function compileKernels(): Promise<object> {
  const api = wasmApi()
  if (!api) return Promise.reject(new Error('WebAssembly is not available'))
  compiled ??= api.compile(packedWasmBytes())
  return compiled
}

const ALIGN = 16

/**
 * A first-fit allocator over the module's linear memory (the C side has no malloc). Blocks are 16-byte aligned so
 * SIMD loads are aligned; free blocks are coalesced; memory grows when nothing fits.
 */
class WasmHeap {
  private readonly free: Array<{ at: number; size: number }> = []
  private readonly sizes = new Map<number, number>()
  private end: number

  constructor(
    private readonly memory: WasmMemory,
    base: number
  ) {
    this.end = Math.ceil(base / ALIGN) * ALIGN
  }

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN)
    const index = this.free.findIndex((block) => block.size >= size)
    let at: number
    if (index >= 0) {
      const block = this.free[index]
      at = block.at
      if (block.size === size) this.free.splice(index, 1)
      else this.free[index] = { at: at + size, size: block.size - size }
    } else {
      at = this.end
      this.end += size
      const needed = this.end - this.memory.buffer.byteLength
      if (needed > 0) {
        try {
          this.memory.grow(Math.ceil(needed / 65536))
        } catch {
          throw new Error(`packed runtime (wasm): out of memory growing to ${this.end} bytes (the limit is 4 GiB)`)
        }
      }
    }
    this.sizes.set(at, size)
    return at
  }

  release(at: number): void {
    const size = this.sizes.get(at)
    if (size === undefined) return
    this.sizes.delete(at)
    // The free list stays sorted by address: insert by bisection, then merge with the neighbours it touches.
    const free = this.free
    let lo = 0
    let hi = free.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (free[mid].at < at) lo = mid + 1
      else hi = mid
    }
    const prev = free[lo - 1]
    const next = free[lo]
    if (prev && prev.at + prev.size === at) {
      prev.size += size
      if (next && prev.at + prev.size === next.at) {
        prev.size += next.size
        free.splice(lo, 1)
      }
    } else if (next && at + size === next.at) {
      next.at = at
      next.size += size
    } else {
      free.splice(lo, 0, { at, size })
    }
  }
}

interface Buf {
  ptr: number
  length: number
}

/** A tensor in the module's memory: byte address of its first value, and floats from one pixel to the next. */
interface View {
  ptr: number
  stride: number
}

interface PreparedBn {
  mean: number
  inv: number
  gamma: number
  beta: number
}

interface PreparedBin {
  /** BN → sign as two thresholds per channel (bnThresholds): lo, hi (f32), dir (u32 0 or ~0). */
  lo: number
  hi: number
  dir: number
  wsign: number
  wmask: number
  /** [taps][⌈C_out/4⌉·4] i32: what the one-plane dot counts for an out-of-image tap (see kernels.c). */
  wsum: number
  alpha: number
  /** 64-bit words of one tap-major bit stream (taps × C_in bits). */
  len: number
}

/** 64-bit words holding `bits` bits. */
function streamWords(bits: number): number {
  return Math.ceil(bits / 64)
}

/**
 * Re-lays binary weights [C_out][taps][⌈C_in/32⌉ words] as one bit stream per output channel: tap t, channel c at bit
 * t·C_in + c, in 64-bit little-endian words (as two u32 each), the layout kernels.c gathers input patches in. Four
 * output channels are interleaved, [⌈C_out/4⌉][len][4] words, so the kernel walks four channels with one pointer;
 * channels past C_out are 0.
 */
export function toStreams(bits: Uint32Array, step: { kernel: number; cin: number; cout: number }): Uint32Array {
  const taps = step.kernel * step.kernel
  const words = wordsFor(step.cin)
  const len = streamWords(taps * step.cin)
  const out = new Uint32Array(Math.ceil(step.cout / 4) * 4 * len * 2)
  for (let o = 0; o < step.cout; o++) {
    const base = (o >>> 2) * len * 4 + (o & 3)
    for (let t = 0; t < taps; t++) {
      for (let j = 0; j < words; j++) {
        const v = bits[(o * taps + t) * words + j]
        const at = t * step.cin + j * 32
        const shift = at & 31
        // bit `at` of the stream lies in u64 word at >> 6, u32 half (at >> 5) & 1
        const lo = (base + (at >>> 6) * 4) * 2 + ((at >>> 5) & 1)
        out[lo] |= v << shift
        if (shift > 0) {
          const next = at + 32
          const hi = (base + (next >>> 6) * 4) * 2 + ((next >>> 5) & 1)
          if (next < len * 64) out[hi] |= v >>> (32 - shift)
        }
      }
    }
  }
  return out
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
/** float32 values in order as integers 0 … 2³²−1 (−∞ … +∞ inside; −0 just below +0). */
function floatKey(v: number): number {
  f32[0] = v
  const u = u32[0]
  return u >>> 31 ? ~u >>> 0 : (u | 0x80000000) >>> 0
}
function keyFloat(key: number): number {
  u32[0] = key >= 0x80000000 ? key & 0x7fffffff : ~key >>> 0
  return f32[0]
}
const KEY_NEG_INF = floatKey(-Infinity)
/** The largest finite float32 and its negation: the search runs over finite values (BN of ±∞ may be NaN). */
const KEY_MIN = KEY_NEG_INF + 1
const KEY_MAX = floatKey(Infinity) - 1

/** The smallest finite float32 x with test(x), for a test that is false then true along the floats; +∞ if none. */
function firstFloat(test: (x: number) => boolean): number {
  let [a, b] = [KEY_MIN, KEY_MAX]
  if (!test(keyFloat(b))) return Infinity
  while (a < b) {
    const mid = a + Math.floor((b - a) / 2)
    if (test(keyFloat(mid))) b = mid
    else a = mid + 1
  }
  return keyFloat(a)
}

/** The float32 just below x (−∞ stays). */
function floatBelow(x: number): number {
  const key = floatKey(x)
  return key <= KEY_NEG_INF ? -Infinity : keyFloat(key - 1)
}

/**
 * BN → sign as thresholds per channel, for kernels.c's bn_sign_pack: with f(x) = the engine's BN in float32 (each op
 * rounded, monotone in x), f(x) = 0 exactly for lo ≤ x ≤ hi, and below lo f has the sign −1 when f increases
 * (dir 0), +1 when it decreases (dir ~0); above hi the other. Found by bisection over the float32 values with the
 * reference's own BN arithmetic, so the signs are the ones computing BN would give wherever BN is finite.
 */
export function bnThresholds(bn: BnParams): { lo: Float32Array; hi: Float32Array; dir: Uint32Array } {
  const c = bn.mean.length
  const inv = bnInverse(bn)
  const lo = new Float32Array(c)
  const hi = new Float32Array(c)
  const dir = new Uint32Array(c)
  const fround = Math.fround
  for (let ch = 0; ch < c; ch++) {
    const f = (x: number): number => {
      let y = fround(fround(x - bn.mean[ch]) * inv[ch])
      if (bn.gamma) y = fround(y * bn.gamma[ch])
      if (bn.beta) y = fround(y + bn.beta[ch])
      return y
    }
    if (bn.gamma && bn.gamma[ch] === 0) {
      // f = β for every x where (x − μ)·inv is finite (∞·0 would be NaN, which breaks the bisection's order).
      const b = bn.beta?.[ch] ?? 0
      lo[ch] = b > 0 ? -Infinity : Infinity
      hi[ch] = b < 0 ? Infinity : -Infinity
      if (b === 0) [lo[ch], hi[ch]] = [-Infinity, Infinity]
      continue
    }
    const decreasing = f(-1e30) > f(1e30)
    if (decreasing) {
      lo[ch] = firstFloat((x) => f(x) <= 0)
      hi[ch] = floatBelow(firstFloat((x) => f(x) < 0))
      dir[ch] = 0xffffffff
    } else {
      lo[ch] = firstFloat((x) => f(x) >= 0)
      hi[ch] = floatBelow(firstFloat((x) => f(x) > 0))
    }
  }
  return { lo, hi, dir }
}

/**
 * For each tap t and output channel o, C_in − 2·popcount(sign bits of (o, t)): the dot of the weights of that tap with
 * all +1, which the one-plane formula counts for a tap whose bits are 0. [taps][⌈C_out/4⌉·4] int32 (as u32 words).
 */
export function tapSums(bits: Uint32Array, step: { kernel: number; cin: number; cout: number }): Uint32Array {
  const taps = step.kernel * step.kernel
  const words = wordsFor(step.cin)
  const cout4 = Math.ceil(step.cout / 4) * 4
  const out = new Int32Array(taps * cout4)
  for (let o = 0; o < step.cout; o++) {
    for (let t = 0; t < taps; t++) {
      let ones = 0
      for (let j = 0; j < words; j++) ones += popcount32(bits[(o * taps + t) * words + j])
      out[t * cout4 + o] = step.cin - 2 * ones
    }
  }
  return new Uint32Array(out.buffer)
}

/**
 * Re-lays float conv weights [kh][kw][C_in][C_out] as blocks of 8 output channels, [⌈C_out/8⌉][kh][kw][C_in][8]
 * (channels past C_out 0), the layout conv_f32_blocked walks: one block's weights are contiguous.
 */
export function toConvBlocks(weight: Float32Array, step: { kernel: number; cin: number; cout: number }): Float32Array {
  const rows = step.kernel * step.kernel * step.cin
  const blocks = Math.ceil(step.cout / 8)
  const out = new Float32Array(blocks * rows * 8)
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < step.cout; o++) out[((o >>> 3) * rows + r) * 8 + (o & 7)] = weight[r * step.cout + o]
  return out
}

/** A copy padded with zeros to a multiple of 8 values (the blocked conv reads its bias 8 lanes at a time). */
function padTo8(values: Float32Array): Float32Array {
  const out = new Float32Array(Math.ceil(values.length / 8) * 8)
  out.set(values)
  return out
}

export class WasmBackend implements PackedBackend<Buf, unknown> {
  readonly name = 'wasm-simd'
  private readonly heap: WasmHeap
  private readonly persistent: number[] = []

  constructor(private readonly k: Kernels) {
    this.heap = new WasmHeap(k.memory, k.__heap_base.value)
  }

  static async create(): Promise<WasmBackend> {
    const instance = await wasmApi()!.instantiate(await compileKernels(), {})
    return new WasmBackend(instance.exports as unknown as Kernels)
  }

  get kernels(): Kernels {
    return this.k
  }

  private f32(): Float32Array {
    return new Float32Array(this.k.memory.buffer)
  }

  /** Copies weights into the module once; they live until dispose(). */
  upload(data: Float32Array | Uint32Array | undefined): number {
    if (!data) return 0
    const ptr = this.heap.alloc(data.byteLength)
    const view = data instanceof Float32Array ? this.f32() : new Uint32Array(this.k.memory.buffer)
    view.set(data, ptr / 4)
    this.persistent.push(ptr)
    return ptr
  }

  allocBytes(bytes: number): number {
    return this.heap.alloc(bytes)
  }

  releaseBytes(ptr: number): void {
    this.heap.release(ptr)
  }

  private prepareBn(bn: Extract<PackedStep, { op: 'bn' }>['bn']): PreparedBn {
    return {
      mean: this.upload(bn.mean),
      inv: this.upload(bnInverse(bn)),
      gamma: this.upload(bn.gamma),
      beta: this.upload(bn.beta)
    }
  }

  prepare(step: PackedStep): unknown {
    switch (step.op) {
      case 'bn':
        return this.prepareBn(step.bn)
      case 'binconv': {
        const len = streamWords(step.kernel * step.kernel * step.cin)
        const t = bnThresholds(step.bn)
        return {
          lo: this.upload(t.lo),
          hi: this.upload(t.hi),
          dir: this.upload(t.dir),
          wsign: this.upload(toStreams(step.sign, step)),
          wmask: this.upload(step.mask && toStreams(step.mask, step)),
          wsum: this.upload(tapSums(step.sign, step)),
          alpha: this.upload(step.alpha),
          len
        } satisfies PreparedBin
      }
      case 'conv':
        return {
          weight: this.upload(toConvBlocks(step.weight, step)),
          bias: this.upload(step.bias && padTo8(step.bias))
        }
      case 'linear':
        return { weight: this.upload(step.weight), bias: this.upload(step.bias) }
      default:
        return undefined
    }
  }

  alloc(length: number): Buf {
    return { ptr: this.heap.alloc(length * 4), length }
  }

  free(buffer: Buf): void {
    this.heap.release(buffer.ptr)
  }

  write(buffer: Buf, data: Float32Array): void {
    this.f32().set(data, buffer.ptr / 4)
  }

  read(buffer: Buf, length: number): Float32Array {
    return this.f32().slice(buffer.ptr / 4, buffer.ptr / 4 + length)
  }

  execute(step: PackedStep, prepared: unknown, inputs: Buf[], y: Buf, dims: StepDims): void {
    const dense = (buf: Buf, shape: Shape3): View => ({ ptr: buf.ptr, stride: shape[2] })
    if (step.op === 'concat') {
      let offset = 0
      inputs.forEach((part, i) => {
        const c = dims.inputs[i][2]
        const view = { ptr: y.ptr + offset * 4, stride: dims.output[2] }
        this.k.copy_f32(part.ptr, c, view.ptr, view.stride, dims.batch * dims.inputs[i][0] * dims.inputs[i][1], c)
        offset += c
      })
      return
    }
    const views = inputs.map((buf, i) => dense(buf, dims.inputs[i]))
    this.run(step, prepared, views, dense(y, dims.output), dims)
  }

  /**
   * Runs one step on views: tensors whose pixels lie `stride` floats apart (a channel slice of a concat in the
   * compiled plan). `accumulate` adds a binary conv's result to the output (a fused node add), `relu` follows a conv.
   */
  run(
    step: Exclude<PackedStep, { op: 'concat' }>,
    prepared: unknown,
    inputs: View[],
    y: View,
    dims: StepDims,
    flags: { accumulate?: boolean; relu?: boolean } = {}
  ): void {
    const k = this.k
    const x = inputs[0]
    const [h, w, c] = dims.inputs[0]
    const [ho, wo, co] = dims.output
    const n = dims.batch
    const pixels = n * h * w
    switch (step.op) {
      case 'binconv': {
        const p = prepared as PreparedBin
        const words = wordsFor(c)
        const sign = this.heap.alloc(pixels * words * 4)
        const mask = this.heap.alloc(pixels * words * 4)
        // One output row of streams (in blocks of 4 pixels, see kernels.c).
        const rowStreamBytes = Math.ceil(wo / 4) * 4 * p.len * 8
        const patchS = this.heap.alloc(rowStreamBytes)
        const patchM = this.heap.alloc(rowStreamBytes)
        const corr = this.heap.alloc(wo * Math.ceil(co / 4) * 4 * 4)
        try {
          const zeros = k.bn_sign_pack(x.ptr, x.stride, pixels, c, words, p.lo, p.hi, p.dir, sign, mask)
          // prettier-ignore
          k.bin_conv(sign, mask, n, h, w, words, c, step.kernel, step.stride, step.padding, step.dilation, ho, wo, p.wsign, p.wmask, p.wsum, co, p.len, p.alpha, y.ptr, y.stride, flags.accumulate ? 1 : 0, patchS, patchM, corr, zeros === 0 ? 1 : 0)
        } finally {
          for (const ptr of [sign, mask, patchS, patchM, corr]) this.heap.release(ptr)
        }
        return
      }
      case 'bn': {
        const p = prepared as PreparedBn
        return k.bn_f32(x.ptr, x.stride, y.ptr, y.stride, pixels, c, p.mean, p.inv, p.gamma, p.beta)
      }
      case 'conv': {
        if (x.stride !== c || y.stride !== co) throw new Error(`${step.name}: the float conv needs dense tensors`)
        const p = prepared as { weight: number; bias: number }
        // prettier-ignore
        return k.conv_f32_blocked(x.ptr, n, h, w, c, p.weight, p.bias, co, step.kernel, step.stride, step.padding, step.dilation, ho, wo, y.ptr, flags.relu ? 1 : 0)
      }
      case 'relu':
        return k.relu_f32(x.ptr, x.stride, y.ptr, y.stride, pixels, c)
      case 'maxpool':
      case 'avgpool':
        // prettier-ignore
        return k.pool3x3(x.ptr, x.stride, y.ptr, y.stride, n, h, w, c, step.stride, ho, wo, step.op === 'maxpool' ? 1 : 0)
      case 'zero':
        return k.fill_zero(y.ptr, y.stride, n * ho * wo, co)
      case 'add':
        return k.add_f32(x.ptr, x.stride, inputs[1].ptr, inputs[1].stride, y.ptr, y.stride, pixels, c)
      case 'gap':
        if (y.stride !== c) throw new Error(`${step.name}: global average pooling writes a dense tensor`)
        return k.gap_f32(x.ptr, x.stride, y.ptr, n, h * w, c)
      case 'linear': {
        if (x.stride !== c) throw new Error(`${step.name}: the linear layer needs dense input`)
        const p = prepared as { weight: number; bias: number }
        return k.linear_f32(x.ptr, p.weight, p.bias, y.ptr, n, step.inFeatures, step.outFeatures)
      }
    }
  }

  /** Copies a strided view into another (a concat part the plan could not place). */
  copy(x: View, y: View, pixels: number, c: number): void {
    this.k.copy_f32(x.ptr, x.stride, y.ptr, y.stride, pixels, c)
  }

  dispose(): void {
    for (const ptr of this.persistent.splice(0)) this.heap.release(ptr)
  }
}

/** A conv layer's shape for the kernel probes: input h × w × cin, batch 1, PyTorch geometry. */
export interface ProbeShape {
  h: number
  w: number
  cin: number
  cout: number
  kernel: number
  stride: number
  padding: number
  dilation: number
}

/**
 * The fastest of repeated calls of `call` (which returns its own ms): warm-up calls for 100 ms first, until V8 has
 * tiered the module up from its baseline compiler (a running call never switches, so a single long call would time
 * baseline code); then up to `calls` calls within `budgetMs`: on a machine shared with other work the fastest call is
 * the closest to what the kernel does undisturbed.
 */
export function fastestCall(call: () => number, opts: { calls?: number; budgetMs?: number } = {}): number {
  const warm = performance.now()
  while (performance.now() - warm < 100) call()
  let best = Infinity
  const start = performance.now()
  for (let i = 0; i < (opts.calls ?? 1000) && performance.now() - start < (opts.budgetMs ?? 300); i++)
    best = Math.min(best, call())
  return best
}

export interface KernelTiming {
  /** The fastest of up to `calls` calls (within `budgetMs`), ms. */
  ms: number
  /** Multiply-accumulates of one call: ho·wo·k²·cin·cout. */
  macs: number
  /** macs / ms, per second. */
  macsPerS: number
}

function convOut(n: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1
}

/**
 * Times this path's own kernels on one layer shape, one thread: `binary` = bin_conv on the one-plane path (the
 * gather and blocked i8x16.popcnt dots with α/ReLU, not the BN/pack that runs once per consumer), `float` =
 * conv_f32_blocked. For bench's bound measured on the network's own shapes. Data are pseudo-random, made in the module.
 */
export async function timeWasmKernel(
  kind: 'binary' | 'float',
  g: ProbeShape,
  opts: { calls?: number; budgetMs?: number } = {}
): Promise<KernelTiming> {
  const backend = await WasmBackend.create()
  const k = backend.kernels
  const args = [g.h, g.w, g.cin, g.cout, g.kernel, g.stride, g.padding, g.dilation] as const
  const bytes = kind === 'binary' ? k.probe_binconv_bytes(...args) : k.probe_conv_f32_bytes(...args)
  const scratch = backend.allocBytes(bytes)
  const run = (reps: number, fill = 0): number => {
    const t0 = performance.now()
    if (kind === 'binary') k.probe_binconv(scratch, ...args, reps, fill)
    else k.probe_conv_f32(scratch, ...args, reps, fill)
    return performance.now() - t0
  }
  run(0, 1)
  try {
    const best = fastestCall(() => run(1), opts)
    const macs =
      convOut(g.h, g.kernel, g.stride, g.padding, g.dilation) *
      convOut(g.w, g.kernel, g.stride, g.padding, g.dilation) *
      g.kernel *
      g.kernel *
      g.cin *
      g.cout
    return { ms: best, macs, macsPerS: macs / (best / 1000) }
  } finally {
    backend.releaseBytes(scratch)
    backend.dispose()
  }
}

interface CompiledOp {
  ints: Int32Array
  /** Absent for a copy (a concat part the plan could not place). */
  step?: Exclude<PackedStep, { op: 'concat' }>
  prepared?: unknown
}

/**
 * The whole network on this path from the plan the native session runs (native-plan.ts): each cell's concat costs
 * nothing (nodes are written into their channel slice), node adds are fused into the binary conv that produces their
 * second operand (it adds its ReLU(α·dot) to the first), other adds run in place, the stem's conv + ReLU is one pass,
 * and every tensor has a region of one arena in the module's memory, planned by liveness. Weights are prepared once
 * (the per-step backend's prepare); a run is a loop of kernel calls with no allocation but the binary convs' scratch.
 */
export class WasmCompiledModel implements CompiledPackedModel {
  readonly name = 'wasm-simd'
  private arena = 0
  private arenaBatch = 0

  private constructor(
    private readonly backend: WasmBackend,
    readonly plan: NativePlan,
    private readonly ops: CompiledOp[]
  ) {}

  static async create(model: PackedModel): Promise<WasmCompiledModel> {
    const backend = await WasmBackend.create()
    const plan = planNative(model)
    const steps = new Map(model.steps.map((step) => [step.name, step]))
    const ops = plan.instructions.map((ins): CompiledOp => {
      if (ins.kind === NATIVE_KIND.copy) return { ints: ins.ints }
      const step = steps.get(ins.name)
      if (!step || step.op === 'concat')
        throw new Error(`packed runtime (wasm): the plan names an unknown step ${ins.name}`)
      return { ints: ins.ints, step, prepared: backend.prepare(step) }
    })
    return new WasmCompiledModel(backend, plan, ops)
  }

  async run(images: Float32Array, batch: number): Promise<Float32Array> {
    const plan = this.plan
    if (this.arenaBatch !== batch) {
      if (this.arena) this.backend.releaseBytes(this.arena)
      this.arena = 0
      this.arena = this.backend.allocBytes(plan.arenaPerImage * batch * 4)
      this.arenaBatch = batch
    }
    const base = this.arena
    // A tensor of the plan: region and offset per image, so a batch of n has its pixels at region·n + offset.
    const view = (ints: Int32Array, j: number): View => ({
      ptr: base + (ints[3 * j] * batch + ints[3 * j + 2]) * 4,
      stride: ints[3 * j + 1]
    })
    const memory = (): Float32Array => new Float32Array(this.backend.kernels.memory.buffer)
    memory().set(images, (base >> 2) + plan.inputRegion * batch)
    for (const op of this.ops) {
      const g = op.ints
      const [h, w, cin, ho, wo, cout] = g.subarray(11, 17)
      if (!op.step) {
        this.backend.copy(view(g, 0), view(g, 2), batch * h * w, cin)
        continue
      }
      const inputs = op.step.op === 'add' ? [view(g, 0), view(g, 1)] : [view(g, 0)]
      const dims: StepDims = { batch, inputs: inputs.map((): Shape3 => [h, w, cin]), output: [ho, wo, cout] }
      this.backend.run(op.step, op.prepared, inputs, view(g, 2), dims, { accumulate: g[9] === 1, relu: g[10] === 1 })
    }
    const at = (base >> 2) + plan.outputRegion * batch
    return memory().slice(at, at + plan.outputPerImage * batch)
  }

  dispose(): void {
    if (this.arena) this.backend.releaseBytes(this.arena)
    this.arena = 0
    this.backend.dispose()
  }
}

export const wasmSimdPath: PackedRuntimePath = {
  name: 'wasm-simd',
  priority: 10,
  available: async () => {
    if (!wasmApi()) return { ok: false, reason: 'WebAssembly is not available' }
    try {
      await compileKernels()
      return { ok: true }
    } catch (error) {
      return {
        ok: false,
        reason: `the kernels do not compile here (WebAssembly SIMD missing?): ${(error as Error).message}`
      }
    }
  },
  createBackend: () => WasmBackend.create(),
  compile: (model) => WasmCompiledModel.create(model)
}
