import { availableParallelism } from 'node:os'
import {
  nativeAddonStatus,
  type NativeAddon,
  type PackedSessionHandle,
  type PackedSessionInfo,
  type PackedSessionProbe
} from '../../../engine/native/addon'
import type { PackedModel } from '../format'
import { NATIVE_KIND, planNative, type NativePlan } from './native-plan'
import type { CompiledPackedModel, PackedRuntimePath } from './types'

/** Binary + float MACs up to which a run stays on the calling thread (latest_cell at batch 1: 2.15 G, ~5 ms here). */
export const SYNC_RUN_MAX_MACS = 4e9

/**
 * The packed runtime on the native addon: the whole network runs in C++ from one call (native/src/packed). Weights
 * are re-laid once at load (binary weights as tap-major bit streams for 8 output channels a vector, float convs as
 * oneDNN's blocked filters), activations are bit-packed once per binary conv input with BN → sign fused into the
 * packing, the XNOR/popcount kernel is AVX-512 VPOPCNTDQ, AVX2 (vpshufb) or scalar, chosen at run time, and the
 * graph-level fusions are planned in native-plan.ts. Node only, so it is registered by the Node-side export module,
 * not by the runtime's browser-safe index.
 */
export class NativeCompiledModel implements CompiledPackedModel {
  readonly name = 'native'
  private handle: PackedSessionHandle | undefined
  /** Binary and float conv MACs of one image (the instructions' geometry: ho·wo·cout·k²·cin). */
  readonly macsPerImage: number
  /** Runs of up to this many MACs stay on the calling thread (0: every run goes to the pool). */
  syncRunMaxMacs = SYNC_RUN_MAX_MACS

  constructor(
    private readonly addon: NativeAddon,
    readonly plan: NativePlan,
    /** CPU threads of every run (OpenMP: rows of the binary convs, pixels of the packing, oneDNN's convs). */
    public threads: number
  ) {
    this.handle = addon.packedSessionCreate(
      plan.instructions,
      plan.arenaPerImage,
      plan.inputRegion,
      plan.inputPerImage,
      plan.outputRegion,
      plan.outputPerImage
    )
    this.macsPerImage = plan.instructions
      .filter((ins) => ins.kind === NATIVE_KIND.binconv || ins.kind === NATIVE_KIND.conv)
      .reduce((sum, { ints }) => sum + ints[14] * ints[15] * ints[16] * ints[17] * ints[17] * ints[13], 0)
  }

  private get session(): PackedSessionHandle {
    if (!this.handle) throw new Error('packed runtime (native): the session was disposed')
    return this.handle
  }

  async run(images: Float32Array, batch: number): Promise<Float32Array> {
    // A small run goes on the calling thread, as onnxruntime-node runs every session: the hop to libuv's pool and back
    // costs 0.1–0.2 ms here, 2–5 % of a 5 ms batch-1 network. Larger runs go to the pool, so the event loop stays free.
    if (batch * this.macsPerImage <= this.syncRunMaxMacs)
      return this.addon.packedSessionRunSync(this.session, images, batch, this.threads)
    return this.addon.packedSessionRun(this.session, images, batch, this.threads)
  }

  /** One run on this thread with the time spent per kind of instruction (ms): the benchmark's profile. */
  profile(
    images: Float32Array,
    batch: number
  ): { logits: Float32Array; msByKind: Record<string, number>; msByInstruction: Float64Array } {
    return this.addon.packedSessionRunSync(this.session, images, batch, this.threads, true)
  }

  info(): PackedSessionInfo {
    return this.addon.packedSessionInfo(this.session)
  }

  /** Who runs the session's float convs: 'oneDNN 2.6.3', or the addon's own kernels in a build without it ('own avx2'). */
  floatConvLibrary(): string {
    const { oneDNN, convs } = this.addon.info()
    return oneDNN !== null ? `oneDNN ${oneDNN}` : convs
  }

  /** 'avx512-vpopcntdq' | 'avx2-vpshufb' | 'scalar' (tests run each kernel the CPU has). */
  setKernel(kernel: string): void {
    this.addon.packedSessionSetKernel(this.session, kernel)
  }

  probe(batch: number): PackedSessionProbe {
    return this.addon.packedSessionProbe(this.session, batch, this.threads)
  }

  dispose(): void {
    // The addon frees the session when the handle is collected; dropping it here makes later runs fail clearly.
    this.handle = undefined
  }
}

let threads: number | undefined

/** The default: one thread per core, but one on machines of two cores or fewer unless asked (as the engine does). */
export function defaultNativePackedThreads(): number {
  const env = Number(process.env.BNAS_NATIVE_THREADS)
  if (Number.isInteger(env) && env > 0) return env
  return threads ?? (availableParallelism() <= 2 ? 1 : availableParallelism())
}

/** Threads the native path's sessions use from now on (bench: `--threads`, so every runtime gets the same). */
export function setNativePackedThreads(count: number): void {
  threads = count
}

export async function compileNative(
  model: PackedModel,
  options: { threads?: number } = {}
): Promise<NativeCompiledModel> {
  const status = nativeAddonStatus()
  if (!status.available) throw new Error(`the native addon is not available: ${status.reason}`)
  if (typeof status.addon.packedSessionCreate !== 'function') {
    throw new Error(
      'the native addon was built before the packed session existed: rebuild it (node scripts/build-native.js --force)'
    )
  }
  return new NativeCompiledModel(status.addon, planNative(model), options.threads ?? defaultNativePackedThreads())
}

export const nativePackedPath: PackedRuntimePath = {
  name: 'native',
  // Above wasm-simd: the same network runs in C++ with AVX-512/AVX2 kernels (src/main/export/README.md: measured).
  priority: 15,
  available: async () => {
    const status = nativeAddonStatus()
    if (!status.available) return { ok: false, reason: status.reason }
    if (typeof status.addon.packedSessionCreate !== 'function')
      return {
        ok: false,
        reason: 'the native addon predates the packed session: rebuild it (node scripts/build-native.js --force)'
      }
    return { ok: true }
  },
  createBackend: async () => {
    throw new Error('the native path compiles the whole model (compile), it has no per-step backend')
  },
  compile: (model) => compileNative(model)
}
