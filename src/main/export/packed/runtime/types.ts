import type { PackedModel, PackedStep } from '../format'

/** [H, W, C] of one image. */
export type Shape3 = [number, number, number]

export interface StepDims {
  batch: number
  inputs: Shape3[]
  output: Shape3
}

/**
 * What one execution path of the packed runtime provides: memory for float tensors (opaque buffers B) and the
 * execution of each step on them. The interpreter (session.ts) owns the graph, shapes, buffer lifetimes; a path only
 * computes. Paths: 'reference' (pure TS, always there), 'wasm-simd' (C compiled to WebAssembly with SIMD), and the
 * paths of the native kernels (issue 4, src/main/engine/native) and WebGPU (issue 9, webgpu.ts): each registers a
 * PackedRuntimePath with registerPackedPath().
 */
export interface PackedBackend<B = unknown, P = unknown> {
  readonly name: string
  /** Called once per step at load: upload or re-lay weights for this path. */
  prepare(step: PackedStep, dims: Omit<StepDims, 'batch'>): P
  alloc(length: number): B
  free(buffer: B): void
  write(buffer: B, data: Float32Array): void
  /** Async allowed, so a GPU path can map its buffers. */
  read(buffer: B, length: number): Float32Array | Promise<Float32Array>
  /** Runs one step: NHWC float tensors in, NHWC float tensor out (binary steps pack and unpack internally). */
  execute(step: PackedStep, prepared: P, inputs: B[], output: B, dims: StepDims): void
  dispose(): void
}

/**
 * A model compiled by a path that runs the whole network itself (the native session: one call per run, nothing back
 * in JavaScript between layers). Such a path has `compile` and the interpreter's per-step backend is not used.
 */
export interface CompiledPackedModel {
  readonly name: string
  run(images: Float32Array, batch: number): Promise<Float32Array>
  dispose(): void
}

export interface PackedRuntimePath {
  /** 'reference', 'wasm-simd', 'native', 'webgpu', ... */
  readonly name: string
  /** Higher is tried first when no path is named. */
  readonly priority: number
  /** Whether this path can run here, and if not, why (shown to the user). */
  available(): Promise<PathAvailability>
  createBackend(): Promise<PackedBackend>
  /** Whole-graph paths: compile once, then run(). Takes precedence over createBackend when present. */
  compile?(model: PackedModel): Promise<CompiledPackedModel>
}

/**
 * ok: the path runs here. onRequestOnly: it runs, but is used only when named (`--path NAME`), never picked
 * automatically, and this says why (a software GPU adapter: correct, but slower than the CPU paths).
 */
export type PathAvailability = { ok: true; onRequestOnly?: string } | { ok: false; reason: string }
