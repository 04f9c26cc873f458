import type { ExportGraph } from './graph'
import { exportOnnx } from './onnx'
import { createOnnxSession } from './onnx/run'
import type { PackedModel } from './packed/format'
import { describePackedPaths, PackedSession, WasmBackend, webgpuAdapterStatus } from './packed/runtime'
import { fastestCall, timeWasmKernel } from './packed/runtime/wasm'
import { inferShapes } from './steps'
import { unpackSigns } from './packed/bits'
import { createRng } from '../engine/nn'
import { NativeCompiledModel, setNativePackedThreads } from './packed/runtime/native'

export interface InferBenchResult {
  batch: number
  threads: number
  /**
   * The packed runtime's best path at this batch, and its name, among the paths it would pick by itself (not WebGPU on
   * a software adapter, which is timed in `paths` but runs only when named).
   */
  packedMs: number
  packedPath: string
  packedWasmMs: number
  /** onnxruntime-node, float, the same network, intra-op threads = threads; null when it is not installed. */
  onnxMs: number | null
  onnxError?: string
  /** The bound of the best path (`bounds[packedPath]`). */
  boundMs: number
  bound: { binaryMacs: number; floatMacs: number; popcountGbitPerS: number; floatGmacPerS: number; basis: string }
  /**
   * Per CPU path, measured here in this run: binary MACs over the rate of the path's best popcount kernel (on a shape
   * without padding waste; native: each binary conv at the peak of the kernel it runs, AMX tiles or popcount) plus
   * float MACs over its float conv rate on the network's own float conv shapes.
   */
  bounds: Record<string, PathBound>
  /** Every path's median, ms per batch. */
  paths: Record<string, number>
  /**
   * Every path's fastest timed run, ms per batch: on a machine shared with other work (another tenant on the same
   * core moves the medians by a third here) the closest to what the path does undisturbed.
   */
  fastest: Record<string, number>
  /** onnxMs / each packed path's median (how many times faster than float onnxruntime). */
  speedup: Record<string, number>
  /** Rounds; each runs every runtime in a block of `block` timed runs after one untimed run. */
  repeats: number
  block: number
  /** CPU threads of the packed CPU paths: wasm-simd and reference always 1; native uses `threads`. */
  packedThreads: Record<string, number>
  /** The native session: its binary kernel, and one run's CPU time by kind of step (ms, the calling thread). */
  native?: { binaryKernel: string; msByKind: Record<string, number>; weightBytes: number; workBytes: number }
  /** The WebGPU path: the adapter timed (and a note where its figures say nothing about speed), or why it is absent. */
  webgpu: { available: true; adapter: string; kind: string; note?: string } | { available: false; reason: string }
}

export interface PathBound {
  boundMs: number
  binaryMacsPerSecond: number
  floatMacsPerSecond: number
  basis: string
}

/** The note on figures from a software adapter (a CPU rasteriser: Mesa's lavapipe, SwiftShader, WARP). */
export const SOFTWARE_ADAPTER_NOTE = 'figures for correctness, not speed: a software adapter computes on the CPU'

async function webgpuInfo(): Promise<InferBenchResult['webgpu']> {
  const status = await webgpuAdapterStatus()
  if (!status.ok) return { available: false, reason: status.reason }
  return {
    available: true,
    adapter: status.description,
    kind: status.kind,
    ...(status.kind === 'software' ? { note: SOFTWARE_ADAPTER_NOTE } : {})
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** A packed model back as a graph with float weights sign(W) (the binary weights' values), for the ONNX side. */
export function graphOfPacked(model: PackedModel): ExportGraph {
  return {
    meta: model.meta,
    input: model.input,
    output: model.output,
    steps: model.steps.map((step) => {
      if (step.op !== 'binconv') return step
      const { sign, mask, ...rest } = step
      const taps = step.kernel * step.kernel
      const flat = unpackSigns(sign, mask, step.cin) // [cout][taps][cin]
      const weight = new Float32Array(flat.length)
      for (let o = 0; o < step.cout; o++)
        for (let t = 0; t < taps; t++)
          for (let c = 0; c < step.cin; c++)
            weight[(t * step.cin + c) * step.cout + o] = flat[(o * taps + t) * step.cin + c]
      return { ...rest, weight }
    })
  }
}

/** The popcount loops wasmRates times (kernels.c, probe_popcount): MACs a pass of `len` words, and a name. */
const WASM_POPCOUNT_FORMS = [
  { form: 0, name: 'scalar i64.popcnt loop', macsPerWord: 64 },
  { form: 1, name: "the dot's own 4-pixel × 4-channel block", macsPerWord: 16 * 64 }
]

/**
 * The wasm-simd path's rates: the faster of its popcount loops (kernels.c, probe_popcount: scalar i64.popcnt, or the
 * dot's own block on long streams), so the bound is above what any of its layers reaches, and its own f32x4 float conv
 * on each of the network's float conv shapes.
 */
async function wasmRates(
  model: PackedModel
): Promise<{ binary: number; binaryLoop: string; float: number; shapes: number }> {
  const backend = await WasmBackend.create()
  const k = backend.kernels
  const words = 248
  // Streams of 4 pixels (and one more stream's offset between passes) and weights of 4 channels.
  const a = backend.allocBytes(5 * words * 8)
  const b = backend.allocBytes(4 * words * 8)
  const view = new Uint32Array(k.memory.buffer)
  const rng = createRng(1)
  for (let i = 0; i < 5 * words * 2; i++) view[a / 4 + i] = (rng.next() * 2 ** 32) >>> 0
  for (let i = 0; i < 4 * words * 2; i++) view[b / 4 + i] = (rng.next() * 2 ** 32) >>> 0
  let binary = 0
  let binaryLoop = ''
  for (const { form, name, macsPerWord } of WASM_POPCOUNT_FORMS) {
    const reps = Math.round(1e6 / ((words * macsPerWord) / 64))
    const best = fastestCall(
      () => {
        const t0 = performance.now()
        k.probe_popcount(a, b, words, reps, form)
        return performance.now() - t0
      },
      { calls: Infinity, budgetMs: 200 }
    )
    const rate = (words * macsPerWord * reps) / (best / 1000)
    if (rate > binary) [binary, binaryLoop] = [rate, name]
  }
  backend.dispose()
  const shapes = inferShapes(model as unknown as ExportGraph)
  let macs = 0
  let seconds = 0
  let count = 0
  for (const step of model.steps) {
    if (step.op !== 'conv') continue
    const [h, w] = shapes.get(step.input)!
    const timing = await timeWasmKernel('float', { h, w, ...step })
    macs += timing.macs
    seconds += timing.ms / 1000
    count++
  }
  return { binary, binaryLoop, float: seconds > 0 ? macs / seconds : Infinity, shapes: count }
}

function boundOf(
  model: PackedModel,
  batch: number,
  rates: { binary: number; float: number },
  basis: string
): PathBound {
  const boundMs = ((model.summary.bops * batch) / rates.binary + (model.summary.flops * batch) / rates.float) * 1000
  return { boundMs, binaryMacsPerSecond: rates.binary, floatMacsPerSecond: rates.float, basis }
}

/**
 * The native path's bound: each binary conv at the peak of the kernel it runs (the best popcount kernel, AVX-512
 * VPOPCNTDQ where the CPU has it, on a shape without padding waste; AMX tiles, where the session runs them, on a 3×3
 * shape of whole tiles), and the float conv library (oneDNN, or the addon's own kernels in a build without it) on each
 * of the network's float convs alone (the float rate is their MACs over their time).
 */
function nativeBound(compiled: NativeCompiledModel, model: PackedModel, batch: number): PathBound {
  const probe = compiled.probe(batch)
  const floatMacs = probe.float.reduce((sum, f) => sum + f.macs, 0)
  const floatSeconds = probe.float.reduce((sum, f) => sum + f.macs / f.macsPerSecond, 0)
  const peakOf = (kernel: string) =>
    kernel === 'amx-int8' && probe.peakAmxMacsPerSecond ? probe.peakAmxMacsPerSecond : probe.peakBinaryMacsPerSecond
  const binaryMacs = probe.binary.reduce((sum, b) => sum + b.macs, 0)
  const binarySeconds = probe.binary.reduce((sum, b) => sum + b.macs / peakOf(b.kernel), 0)
  const rates = {
    binary: binarySeconds > 0 ? binaryMacs / binarySeconds : probe.peakBinaryMacsPerSecond,
    float: floatSeconds > 0 ? floatMacs / floatSeconds : Infinity
  }
  const onTiles = probe.binary.filter((b) => b.kernel === 'amx-int8')
  const tiles = onTiles.length
    ? `, amx-int8 tiles on ${onTiles.length} of ${probe.binary.length} binary convs (${((probe.peakAmxMacsPerSecond ?? 0) / 1e9).toFixed(0)} G MAC/s on 3×3, 64 → 64 channels)`
    : ''
  return boundOf(
    model,
    batch,
    rates,
    `native, ${compiled.threads} thread(s): ${probe.binaryKernel} popcount kernel (1024-bit streams, 64 channels, ${(probe.peakBinaryMacsPerSecond / 1e9).toFixed(0)} G MAC/s)${tiles}; ${compiled.floatConvLibrary()} on the network's ${probe.float.length} float convs`
  )
}

/**
 * Times the packed runtime (every path that runs here) and the same network's ONNX in onnxruntime-node, side by side:
 * each repeat runs every runtime once on the same batch, after warm-up; the medians are reported.
 */
export async function benchInfer(
  model: PackedModel,
  opts: {
    batch: number
    threads: number
    repeats?: number
    warmup?: number
    block?: number
    /** Only these packed paths (default: every path that runs here). */
    paths?: string[]
  }
): Promise<InferBenchResult> {
  const { batch, threads } = opts
  const repeats = opts.repeats ?? 10
  const shape = model.meta.inputShape
  const images = createRng(7).normalArray(batch * shape[0] * shape[1] * shape[2])
  setNativePackedThreads(threads)
  const runners: Array<{ name: string; run: () => Promise<unknown>; close: () => Promise<void> | void }> = []
  const described = await describePackedPaths()
  let webgpuError: string | undefined
  const automatic = new Set(described.filter((p) => p.auto).map((p) => p.name))
  const sessions = new Map<string, PackedSession>()
  // Every path that runs here is timed, also those that run only when named (WebGPU on a software adapter).
  for (const path of described) {
    if (!path.ok || (opts.paths && !opts.paths.includes(path.name))) continue
    // The pure-TS reference is for checking, far slower; it is timed only when it is the one path there is.
    if (path.name === 'reference' && runners.some((r) => automatic.has(r.name))) continue
    let session: PackedSession
    try {
      session = await PackedSession.create(model, { path: path.name })
    } catch (error) {
      // A GPU that cannot take this model (buffer limits, a lost device) leaves the CPU figures standing.
      if (path.name !== 'webgpu') throw error
      webgpuError = `the model does not run on it: ${(error as Error).message}`
      continue
    }
    sessions.set(path.name, session)
    runners.push({ name: path.name, run: () => session.run(images, batch), close: () => session.dispose() })
  }
  let onnxError: string | undefined
  try {
    const onnx = await createOnnxSession(exportOnnx(graphOfPacked(model)), shape, threads)
    runners.push({ name: 'onnx', run: () => onnx.run(images, batch), close: () => onnx.release() })
  } catch (error) {
    onnxError = (error as Error).message
  }
  const times = new Map<string, number[]>(runners.map((r) => [r.name, []]))
  const bounds: Record<string, PathBound> = {}
  let native: InferBenchResult['native']
  try {
    for (let i = 0; i < (opts.warmup ?? 2); i++) for (const r of runners) await r.run()
    // Steady state, as a model in use runs: each round runs every runtime in a block (a 30 ms pause and one untimed
    // run to take the cores and caches back from the runtime before, then `block` timed runs); rounds interleave the
    // runtimes against drift.
    const block = opts.block ?? 3
    for (let i = 0; i < repeats; i++) {
      for (const r of runners) {
        // A pause first: the runtime before may leave threads spinning (onnxruntime's pool spins after its work), and
        // they would take a core from this one's threads.
        await new Promise((resolve) => setTimeout(resolve, 30))
        await r.run()
        for (let j = 0; j < block; j++) {
          const t0 = performance.now()
          await r.run()
          times.get(r.name)!.push(performance.now() - t0)
        }
      }
    }
    // Probes after the timed runs, so they do not warm or cool anything the timings see.
    const compiled = sessions.get('native')?.compiledModel
    if (compiled instanceof NativeCompiledModel) {
      bounds.native = nativeBound(compiled, model, batch)
      const { msByKind } = compiled.profile(images, batch)
      const info = compiled.info()
      native = { binaryKernel: info.binaryKernel, msByKind, weightBytes: info.weightBytes, workBytes: info.workBytes }
    }
  } finally {
    for (const r of runners) await r.close()
  }
  const paths = Object.fromEntries([...times].map(([name, list]) => [name, median(list)]))
  const fastest = Object.fromEntries([...times].map(([name, list]) => [name, Math.min(...list)]))
  const packed = Object.entries(paths).filter(([name]) => automatic.has(name))
  const [packedPath, packedMs] = packed.reduce((best, entry) => (entry[1] < best[1] ? entry : best))
  if (paths['wasm-simd'] !== undefined) {
    const rates = await wasmRates(model)
    bounds['wasm-simd'] = boundOf(
      model,
      batch,
      rates,
      `wasm-simd, one thread: ${rates.binaryLoop} (${(rates.binary / 1e9).toFixed(0)} G MAC/s, the faster of its popcount loops); its f32x4 conv on the network's ${rates.shapes} float convs`
    )
  }
  const best = bounds[packedPath] ?? Object.values(bounds)[0]
  const onnxMs = paths.onnx ?? null
  return {
    batch,
    threads,
    packedMs,
    packedPath,
    packedWasmMs: paths['wasm-simd'] ?? NaN,
    onnxMs,
    ...(onnxError ? { onnxError } : {}),
    boundMs: best?.boundMs ?? NaN,
    bound: {
      binaryMacs: model.summary.bops * batch,
      floatMacs: model.summary.flops * batch,
      popcountGbitPerS: (best?.binaryMacsPerSecond ?? NaN) / 1e9,
      floatGmacPerS: (best?.floatMacsPerSecond ?? NaN) / 1e9,
      basis: best?.basis ?? 'no CPU path ran'
    },
    bounds,
    paths,
    fastest,
    speedup: Object.fromEntries(
      Object.entries(paths)
        .filter(([name]) => name !== 'onnx' && onnxMs !== null)
        .map(([name, ms]) => [name, onnxMs! / ms])
    ),
    repeats,
    block: opts.block ?? 3,
    packedThreads: Object.fromEntries(
      Object.keys(paths)
        .filter((name) => name !== 'onnx' && name !== 'webgpu')
        .map((name) => [name, name === 'native' ? threads : 1])
    ),
    ...(native ? { native } : {}),
    webgpu: webgpuError
      ? { available: false, reason: webgpuError }
      : opts.paths && !opts.paths.includes('webgpu')
        ? { available: false, reason: 'not in --paths' }
        : await webgpuInfo()
  }
}
