import { inferShapes, stepInputs, type ExportGraph } from '../../steps'
import type { PackedModel } from '../format'
import { referencePath } from './reference'
import type { CompiledPackedModel, PackedBackend, PackedRuntimePath, Shape3 } from './types'

const registry = new Map<string, PackedRuntimePath>([[referencePath.name, referencePath]])

/**
 * Adds an execution path (the native kernels of issue 4, a WebGPU path of issue 9, ...). A path with the name of an
 * existing one replaces it.
 */
export function registerPackedPath(path: PackedRuntimePath): void {
  registry.set(path.name, path)
}

/** Registered paths, preferred first. */
export function packedPaths(): PackedRuntimePath[] {
  return [...registry.values()].sort((a, b) => b.priority - a.priority)
}

export interface PackedPathStatus {
  name: string
  priority: number
  /** Runs here. */
  ok: boolean
  /** Picked when no path is named (ok and not on request only). */
  auto: boolean
  /** Why it does not run here, or why it runs only on request. */
  reason?: string
}

/** Every registered path with whether it runs here, whether it is picked automatically, and why not. */
export async function describePackedPaths(): Promise<PackedPathStatus[]> {
  return Promise.all(
    packedPaths().map(async (path): Promise<PackedPathStatus> => {
      const status = await path.available()
      const base = { name: path.name, priority: path.priority }
      if (!status.ok) return { ...base, ok: false, auto: false, reason: status.reason }
      if (status.onRequestOnly) return { ...base, ok: true, auto: false, reason: status.onRequestOnly }
      return { ...base, ok: true, auto: true }
    })
  )
}

async function choosePath(name?: string): Promise<PackedRuntimePath> {
  if (name) {
    const path = registry.get(name)
    if (!path) throw new Error(`no packed runtime path '${name}' (registered: ${[...registry.keys()].join(', ')})`)
    const status = await path.available()
    if (!status.ok) throw new Error(`packed runtime path '${name}' cannot run here: ${status.reason}`)
    return path
  }
  // Highest priority first, skipping paths that only run when named (e.g. WebGPU on a software adapter).
  const passed: string[] = []
  for (const path of packedPaths()) {
    const status = await path.available()
    if (status.ok && !status.onRequestOnly) return path
    passed.push(`${path.name}: ${status.ok ? status.onRequestOnly : status.reason}`)
  }
  throw new Error(`no packed runtime path can run here (${passed.join('; ')})`)
}

/**
 * A loaded packed model on one path: run(images) gives logits. On an interpreted path (reference, wasm-simd, webgpu)
 * buffers are allocated per run and freed after their last use, so peak memory is the live set of the graph, not its
 * sum; a compiling path (native) runs the whole graph in one call with its own planned arena.
 */
export class PackedSession {
  private readonly shapes: Map<string, Shape3>
  private readonly prepared: unknown[] = []
  /** For each step, the values whose last use it is. */
  private readonly releases: string[][] = []

  private constructor(
    readonly model: PackedModel,
    /** The interpreter's per-step backend; absent on a compiling path. */
    readonly backend: PackedBackend | undefined,
    private readonly compiled?: CompiledPackedModel
  ) {
    this.shapes = inferShapes(model as unknown as ExportGraph)
    if (!backend) return
    this.prepared = model.steps.map((step) =>
      backend.prepare(step, {
        inputs: stepInputs(step as never).map((name) => this.shapes.get(name)!),
        output: this.shapes.get(step.output)!
      })
    )
    const lastUse = new Map<string, number>()
    model.steps.forEach((step, i) => stepInputs(step as never).forEach((name) => lastUse.set(name, i)))
    this.releases = model.steps.map(() => [])
    for (const [name, i] of lastUse) if (name !== model.output) this.releases[i].push(name)
  }

  static async create(model: PackedModel, options: { path?: string } = {}): Promise<PackedSession> {
    const path = await choosePath(options.path)
    if (path.compile) return new PackedSession(model, undefined, await path.compile(model))
    return new PackedSession(model, await path.createBackend())
  }

  /** The compiled model of a compiling path (the native session), for its path-specific tools (probe, profile). */
  get compiledModel(): CompiledPackedModel | undefined {
    return this.compiled
  }

  get pathName(): string {
    return this.compiled ? this.compiled.name : this.backend!.name
  }

  /** images: [N, H, W, C] normalised as the model was trained (meta.normalize); returns logits [N, classes]. */
  async run(images: Float32Array, batch: number): Promise<Float32Array> {
    const [h, w, c] = this.model.meta.inputShape
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer (got ${batch})`)
    if (images.length !== batch * h * w * c) {
      throw new Error(`expected ${batch}×${h}×${w}×${c} = ${batch * h * w * c} input values, got ${images.length}`)
    }
    if (this.compiled) return this.compiled.run(images, batch)
    const backend = this.backend!
    const size = (name: string): number => {
      const [a, b, ch] = this.shapes.get(name)!
      return batch * a * b * ch
    }
    const live = new Map<string, unknown>()
    const input = backend.alloc(images.length)
    backend.write(input, images)
    live.set(this.model.input, input)
    try {
      this.model.steps.forEach((step, i) => {
        const names = stepInputs(step as never)
        const out = backend.alloc(size(step.output))
        live.set(step.output, out)
        backend.execute(
          step,
          this.prepared[i],
          names.map((name) => live.get(name)),
          out,
          { batch, inputs: names.map((name) => this.shapes.get(name)!), output: this.shapes.get(step.output)! }
        )
        for (const name of this.releases[i]) {
          backend.free(live.get(name))
          live.delete(name)
        }
      })
      return await backend.read(live.get(this.model.output), size(this.model.output))
    } finally {
      for (const buffer of live.values()) backend.free(buffer)
    }
  }

  dispose(): void {
    this.compiled?.dispose()
    this.backend?.dispose()
  }
}
