import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The compiled addon (native/src/addon.cc). Every function works in place on the caller's typed arrays: inputs are
 * read, outputs are written into arrays the caller allocated. Geometry arrays are documented in {@link convGeometry}
 * and {@link poolGeometry} (backend.ts).
 */
export interface NativeAddon {
  /** relu: y = max(conv, 0) in the same pass (oneDNN post-op, or the own kernels' store). */
  conv2dForward(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: Int32Array, relu?: boolean): void
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: Int32Array): void
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: Int32Array): void
  binaryConv2d(x: Float32Array, filter: Float32Array, alpha: Float32Array, y: Float32Array, geometry: Int32Array): void
  packSigns(x: Float32Array, channels: number, signs: Uint32Array, nonzero: Uint32Array): void
  maxPool(x: Float32Array, y: Float32Array, geometry: Int32Array): void
  avgPool(x: Float32Array, y: Float32Array, geometry: Int32Array): void
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, geometry: Int32Array): void
  avgPoolGrad(dy: Float32Array, dx: Float32Array, geometry: Int32Array): void
  /**
   * dst[box] = src[box], the box starting at element srcOffset / dstOffset; source strides may be negative (reverse)
   * or permuted (transpose). Shapes collapsed, rank 1..6; every reached element is bounds-checked.
   */
  copyBox(
    src: Float32Array,
    srcOffset: number,
    srcStrides: Int32Array,
    dst: Float32Array,
    dstOffset: number,
    dstStrides: Int32Array,
    size: Int32Array
  ): void
  fill(dst: Float32Array, value: number): void
  /**
   * op: 0 add, 1 sub, 2 mul, 3 div, 4 squared difference, 5 max, 6 min (out Float32Array); 100 less, 101 less-equal,
   * 102 greater, 103 greater-equal, 104 equal (out Uint8Array of 0/1). Strides 0 broadcast; out dense in shape.
   */
  binaryOp(
    op: number,
    a: Float32Array,
    aStrides: Int32Array,
    b: Float32Array,
    bStrides: Int32Array,
    out: Float32Array | Uint8Array,
    shape: Int32Array
  ): void
  /** op: 0 sign, 1 abs, 2 relu, 3 neg, 4 square, 5 rsqrt, 6 sqrt, 7 step (x > 0 ? 1 : alpha). */
  unaryOp(op: number, x: Float32Array, y: Float32Array, alpha?: number): void
  /** out = condition ? t : e, all of one length (condition: TF.js bool bytes). */
  select(condition: Uint8Array, t: Float32Array, e: Float32Array, out: Float32Array): void
  /** x as [outer, reduce, inner]: out[o, i] = scale · Σ_r x[o, r, i] (double accumulation). */
  reduceSum(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number, scale: number): void
  /** y = Σ weights[k]·terms[k]. */
  weightedSum(terms: Float32Array[], weights: Float32Array, y: Float32Array): void
  /** dterms[k] = weights[k]·dy, dweights[k] = Σ dy·terms[k]. */
  weightedSumGrad(
    dy: Float32Array,
    terms: Float32Array[],
    weights: Float32Array,
    dterms: Float32Array[],
    dweights: Float32Array
  ): void
  /** Per-channel mean and biased variance of an [m, channels] array. */
  batchNormStats(x: Float32Array, channels: number, mean: Float32Array, variance: Float32Array): void
  batchNormForward(
    x: Float32Array,
    channels: number,
    mean: Float32Array,
    variance: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    eps: number,
    y: Float32Array
  ): void
  batchNormBackward(
    dy: Float32Array,
    /** The BN's input, or with mean null its output x̂ (affine-free BN only: gamma null too). */
    x: Float32Array,
    channels: number,
    mean: Float32Array | null,
    variance: Float32Array,
    gamma: Float32Array | null,
    eps: number,
    dx: Float32Array,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
    /** Optional 0/1 bytes: dy·mask is differentiated instead of dy (the STE of BN → sign, in the same call). */
    mask?: Uint8Array | null
  ): void
  /**
   * signs = sign(y) (sign(0) = 0) and pass = 1 where −1 < y < 1, for y the batchNormForward of the same arguments
   * (the same floats), without writing y.
   */
  batchNormSign(
    x: Float32Array,
    channels: number,
    mean: Float32Array,
    variance: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    eps: number,
    signs: Float32Array,
    pass: Uint8Array
  ): void
  /**
   * out = dy·keep + 0 (a blocked −dy gives +0), keep from ref: op 0 ref's 0/1 bytes, 1 ref > 0 (ReLU from its
   * output), 2 −1 < ref < 1 (the clipped STE from its input).
   */
  maskGradient(op: 0 | 1 | 2, dy: Float32Array, ref: Float32Array | Uint8Array, out: Float32Array): void
  /** sign(W)·α_o of a latent weight [kh, kw, C_in, C_out], α_o = mean |W| of output channel o. */
  binarizeWeight(w: Float32Array, cout: number, out: Float32Array): void
  /** The authors' transform of the gradient g of the binarized weight into the latent weight's. */
  binarizeWeightGrad(w: Float32Array, g: Float32Array, cin: number, cout: number, out: Float32Array): void
  /** BinOp's W − mean over C_in per (kh, kw, C_out), clamped to [−1, 1]. */
  centerAndClamp(w: Float32Array, cin: number, cout: number, out: Float32Array): void
  /**
   * The implementations serving a conv geometry, e.g. "fwd=brgconv:avx512_core bwd_data=jit:avx512_core …" (oneDNN)
   * or "fwd=own-direct:avx2 …" (a build with its own conv kernels).
   */
  convImplementations(geometry: Int32Array): string
  /** 'scalar' forces the portable popcount path (for tests on AVX-512 machines); returns the path now in use. */
  setBinaryConvPath(path: 'auto' | 'scalar'): string
  /** OpenMP threads for oneDNN and the parallel kernels; returns the count now in use. */
  setThreads(threads: number): number
  info(): NativeAddonInfo
  /**
   * The packed 1-bit inference session (native/src/packed): a whole network planned by
   * src/main/export/packed/runtime/native-plan.ts, weights copied in and re-laid once. Malformed plans throw.
   */
  packedSessionCreate(
    instructions: PackedSessionInstruction[],
    arenaPerImage: number,
    inputRegion: number,
    inputPerImage: number,
    outputRegion: number,
    outputPerImage: number
  ): PackedSessionHandle
  /** Runs off the JavaScript thread; runs of one session are serialised. */
  packedSessionRun(
    session: PackedSessionHandle,
    input: Float32Array,
    batch: number,
    threads: number
  ): Promise<Float32Array>
  packedSessionRunSync(session: PackedSessionHandle, input: Float32Array, batch: number, threads: number): Float32Array
  packedSessionRunSync(
    session: PackedSessionHandle,
    input: Float32Array,
    batch: number,
    threads: number,
    profile: true
  ): { logits: Float32Array; msByKind: Record<string, number>; msByInstruction: Float64Array }
  packedSessionInfo(session: PackedSessionHandle): PackedSessionInfo
  /** 'avx512-vpopcntdq' | 'avx2-vpshufb' | 'scalar'; refuses a kernel this CPU cannot run. */
  packedSessionSetKernel(session: PackedSessionHandle, kernel: string): void
  packedSessionProbe(session: PackedSessionHandle, batch: number, threads: number): PackedSessionProbe
}

/** Opaque: the addon's session. */
export type PackedSessionHandle = { readonly __packedSession: unique symbol }

export interface PackedSessionInstruction {
  kind: number
  name: string
  ints: Int32Array
  /** Float32Array / Uint32Array parameters by name (mean, inv, gamma, beta, alpha, sign, mask, weight, bias). */
}

export interface PackedSessionInfo {
  /** Weights as the kernels hold them (bit-packed binary weights, float parameters, oneDNN's reordered filters). */
  weightBytes: number
  /** Arena and scratch held now (sized by the largest batch run so far). */
  workBytes: number
  binaryKernel: string
  bestBinaryKernel: string
}

export interface PackedSessionProbe {
  /** The kernel each binary conv runs, alone on its shape (streams or int8 input prebuilt). */
  binary: Array<{ name: string; macs: number; macsPerSecond: number; kernel: string }>
  /** oneDNN alone on each float conv's shape. */
  float: Array<{ name: string; macs: number; macsPerSecond: number }>
  /** The popcount kernel (`binaryKernel`) on a shape without padding waste: the binary MAC rate this core reaches. */
  peakBinaryMacsPerSecond: number
  binaryKernel: string
  /** Where the session runs AMX tiles ('amx-int8'): their rate on a 3×3 shape of whole tiles. */
  peakAmxMacsPerSecond?: number
}

export interface NativeAddonInfo {
  /** oneDNN version the addon runs with, or null where it was built with its own conv kernels (no libdnnl-dev). */
  oneDNN: string | null
  /** Which library runs the convolutions: 'onednn 2.6.3', or 'own avx512' / 'own avx2' / 'own baseline' (its SIMD). */
  convs: string
  /** OpenMP threads the kernels use (all cores unless OMP_NUM_THREADS says otherwise). */
  threads: number
  /** Which binary-conv path runs: 'avx512-vpopcntdq' or 'scalar-popcount'. */
  binaryConv: string
  /** Widest SIMD the CPU offers to the pooling kernels: 'avx512', 'avx2' or 'baseline'. */
  simd: string
}

export type NativeAddonStatus =
  | { available: true; path: string; addon: NativeAddon; info: NativeAddonInfo }
  | { available: false; reason: string; searched: string[] }

const ADDON_FILE = path.join('native', 'build', 'Release', 'bnas_native.node')

/**
 * Where the addon may be: $BNAS_NATIVE_ADDON, then `native/build/Release/bnas_native.node` in every folder above this
 * module (source tree, bundled out/main) and above the working directory.
 */
function candidatePaths(): string[] {
  const found: string[] = []
  const fromEnv = process.env.BNAS_NATIVE_ADDON
  if (fromEnv) found.push(path.resolve(fromEnv))
  const starts = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]
  for (const start of starts) {
    let dir = start
    for (;;) {
      const candidate = path.join(dir, ADDON_FILE)
      if (!found.includes(candidate)) found.push(candidate)
      const parent = path.dirname(dir)
      if (parent === dir) break
      dir = parent
    }
  }
  return found
}

let cached: NativeAddonStatus | undefined

/** Finds and loads the addon once; never throws. `reason` says why it is unavailable, for the backend report. */
export function nativeAddonStatus(): NativeAddonStatus {
  if (cached) return cached
  const searched = candidatePaths()
  const file = searched.find((p) => existsSync(p))
  if (!file) {
    cached = {
      available: false,
      searched,
      reason:
        'the native addon is not built (run `node scripts/build-native.js`; it needs a C++ compiler, make and ' +
        'python3: `apt-get install g++ make python3`, and uses oneDNN for faster convs where `libdnnl-dev` is installed)'
    }
    return cached
  }
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon
    cached = { available: true, path: file, addon, info: addon.info() }
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
    cached = { available: false, searched, reason: `the native addon at ${file} failed to load: ${message}` }
  }
  return cached
}

/** The loaded addon, or an Error whose message says why it is unavailable. */
export function loadNativeAddon(): NativeAddon {
  const status = nativeAddonStatus()
  if (!status.available) throw new Error(status.reason)
  return status.addon
}
