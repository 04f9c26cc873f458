import * as tf from '@tensorflow/tfjs-core'
import type { NativeAddon } from './addon'
import { NATIVE_BACKEND_NAME, NativeBackend } from './backend'
import { runGradientsDoneHooks } from './backprop-hooks'

/**
 * Reverse-mode gradients that free memory as they go, as PyTorch's autograd does, for the 'native' backend.
 *
 * tfjs-core's engine.gradients keeps every tensor saved for the backward pass until the whole backward pass is over,
 * and keeps the gradient of every intermediate tensor alive until then too; each gradient with several consumers is
 * summed with a new Add per contribution. On a search step that meant all activations plus all their gradients at
 * once (the peak) and ~1400 full-size Adds. Here, with the same tape and the same gradient functions:
 * - the tensors a node saved are disposed as soon as its gradient has run (nodes off the x→y path at once);
 * - a tensor's gradient is disposed as soon as the node that produced the tensor has used it;
 * - a second contribution to a gradient is added into the first one's array in place when nothing else can see it.
 * The values are the same as engine.gradients' (same kernels, same order of additions).
 *
 * Installed over the engine's `gradients` (what tf.grad, tf.grads, tf.valueAndGrads and tf.variableGrads call); it
 * runs only while the backend is 'native' and no gradient is being taken already (higher-order gradients keep tf's
 * own code). BNAS_EAGER_BACKPROP=0 keeps tf's own code everywhere.
 */

interface TapeNode {
  id: number
  kernelName: string
  outputs: tf.Tensor[]
  inputs: Record<string, tf.Tensor>
  gradient?: (dys: tf.Tensor[]) => Record<string, () => tf.Tensor>
  saved?: tf.Tensor[]
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number }
  backendName: string
  gradients: Gradients
  startTape(): void
  endTape(): void
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T
}

type Gradients = (
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients?: boolean
) => { value: tf.Tensor; grads: tf.Tensor[] }

let installed = false

/** Puts eagerGradients in front of the engine's own gradients (once per process). */
export function installEagerBackprop(addon: NativeAddon): void {
  if (installed) return
  installed = true
  const engine = tf.engine() as unknown as EngineInternals
  const original = engine.gradients.bind(engine)
  engine.gradients = (f, xs, dy, allowNoGradients = false) => {
    if (
      engine.backendName !== NATIVE_BACKEND_NAME ||
      engine.state.gradientDepth !== 0 ||
      process.env.BNAS_EAGER_BACKPROP === '0'
    ) {
      const result = original(f, xs, dy, allowNoGradients)
      if (engine.state.gradientDepth === 0) runGradientsDoneHooks()
      return result
    }
    return eagerGradients(engine, addon, f, xs, dy, allowNoGradients)
  }
}

function eagerGradients(
  engine: EngineInternals,
  addon: NativeAddon,
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy: tf.Tensor | undefined,
  allowNoGradients: boolean
): { value: tf.Tensor; grads: tf.Tensor[] } {
  if (xs.length === 0) throw new Error('gradients() received an empty list of xs.')
  if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`)
  const y = engine.scopedRun(
    () => engine.startTape(),
    () => engine.endTape(),
    () => engine.tidy('forward', f)
  )
  if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.')
  const tape = engine.state.activeTape ?? []
  const filtered = nodesFromXToY(tape, xs, y)
  if (!allowNoGradients && filtered.length === 0 && xs.length > 0) {
    throw new Error(
      'Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all ' +
        'operations that lead from x to y.'
    )
  }
  return engine.tidy('backward', () => {
    // Saved tensors of nodes off the path are never used: free them now rather than after the backward pass.
    const onPath = new Set(filtered.map((node) => node.id))
    for (const node of tape) if (!onPath.has(node.id)) disposeAll(node.saved)
    const savedTensors = new Set<tf.Tensor>()
    for (const node of filtered) for (const t of node.saved ?? []) savedTensors.add(t)
    const grads = new GradientMap(engine, addon, savedTensors)
    // The caller's dy (and the xs, whose gradients are the result) must never be written to or disposed here.
    const start = dy ?? tf.ones(y.shape)
    grads.set(y, start, dy != null)
    const keep = new Set(xs.map((x) => x.id))
    for (let i = filtered.length - 1; i >= 0; i--) {
      const node = filtered[i]
      if (!node.gradient)
        throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`)
      const dys = node.outputs.map((o) => grads.get(o) ?? null) as tf.Tensor[]
      const names = Object.keys(node.inputs)
      // One scope for the node's gradient function and its per-input closures: whatever they create and do not
      // return (zeros for outputs off the path, gradients of pruned inputs from custom gradients) is freed here.
      const dxs = engine.tidy(() => {
        const closures = node.gradient!(dys)
        return names.map((name) => {
          if (!(name in closures)) {
            throw new Error(
              `Cannot backprop through input ${name}. Available gradients found: ${Object.keys(closures)}.`
            )
          }
          return closures[name]()
        })
      })
      names.forEach((name, k) => {
        const x = node.inputs[name]
        const dx = dxs[k]
        if (dx.dtype !== 'float32') {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, ` +
              `but has '${dx.dtype}'`
          )
        }
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', ` +
              `which does not match the shape of the input '${x.shape}'`
          )
        }
        grads.accumulate(x, dx)
      })
      // This node was the only producer of its outputs: their gradients are spent, and so is what it saved.
      for (const o of node.outputs) if (!keep.has(o.id)) grads.release(o)
      disposeAll(node.saved, grads)
    }
    const result = xs.map((x) => grads.get(x) as tf.Tensor)
    for (const node of tape) disposeAll(node.saved)
    engine.state.activeTape = null
    runGradientsDoneHooks()
    return { value: y, grads: result }
  })
}

function disposeAll(tensors: tf.Tensor[] | undefined, inUse?: GradientMap): void {
  for (const t of tensors ?? []) if (!inUse?.holds(t)) t.dispose()
}

/**
 * Gradients by tensor id. A gradient tensor may be held under several ids (a gradient function can return its dy
 * unchanged), so tensors are counted, and one is only disposed or written to when nothing else holds it.
 */
class GradientMap {
  private readonly byId = new Map<number, tf.Tensor>()
  private readonly holders = new Map<tf.Tensor, number>()
  private readonly foreign = new Set<tf.Tensor>()

  constructor(
    private readonly engine: EngineInternals,
    private readonly addon: NativeAddon,
    private readonly saved: Set<tf.Tensor>
  ) {}

  get(x: tf.Tensor): tf.Tensor | undefined {
    return this.byId.get(x.id)
  }

  holds(t: tf.Tensor): boolean {
    return (this.holders.get(t) ?? 0) > 0
  }

  /** `foreign`: the caller's tensor (dy): never written to or disposed. */
  set(x: tf.Tensor, grad: tf.Tensor, foreign = false): void {
    this.byId.set(x.id, grad)
    this.holders.set(grad, (this.holders.get(grad) ?? 0) + 1)
    if (foreign) this.foreign.add(grad)
  }

  accumulate(x: tf.Tensor, dx: tf.Tensor): void {
    const current = this.byId.get(x.id)
    if (!current) {
      this.set(x, dx)
      return
    }
    const target = this.writable(current)
    const source = target ? floatsOf(dx) : null
    if (target && source && source.length === target.length) {
      // In place: the same float32 additions as tf.add(current, dx), without a new array.
      const n = Int32Array.of(target.length)
      const unit = Int32Array.of(1)
      this.addon.binaryOp(0, target, unit, source, unit, target, n)
      if (!this.holds(dx) && !this.saved.has(dx)) dx.dispose()
      return
    }
    const sum = tf.add(current, dx)
    this.release(x)
    if (!this.holds(dx) && !this.saved.has(dx)) dx.dispose()
    this.set(x, sum)
  }

  /** Drops x's gradient, disposing it unless something else holds it. */
  release(x: tf.Tensor): void {
    const grad = this.byId.get(x.id)
    if (!grad) return
    this.byId.delete(x.id)
    const count = (this.holders.get(grad) ?? 1) - 1
    if (count > 0) {
      this.holders.set(grad, count)
      return
    }
    this.holders.delete(grad)
    if (!this.foreign.has(grad) && !this.saved.has(grad)) grad.dispose()
  }

  /** The array behind a gradient only this map can see, or null. */
  private writable(grad: tf.Tensor): Float32Array | null {
    if (this.foreign.has(grad) || this.saved.has(grad) || this.holders.get(grad) !== 1) return null
    const backend = tf.findBackend(this.engine.backendName)
    return backend instanceof NativeBackend ? backend.exclusiveFloats(grad.dataId) : null
  }
}

function floatsOf(t: tf.Tensor): Float32Array | null {
  const backend = tf.findBackend(NATIVE_BACKEND_NAME) as NativeBackend | null
  if (!backend || t.dtype !== 'float32' || !backend.data.has(t.dataId)) return null
  const values = backend.data.get(t.dataId).values
  return values instanceof Float32Array ? values : null
}

/**
 * The tape nodes on some path from an x to y, each with only the inputs that depend on an x (tfjs-core's
 * getFilteredNodesXToY, which the package does not export).
 */
export function nodesFromXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id))
  const nodesFromX = new Set<number>()
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const o of node.outputs) fromX.add(o.id)
      nodesFromX.add(node.id)
    }
  }
  const leadsToY = new Set([y.id])
  const nodesToY = new Set<number>()
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]
    if (node.outputs.some((o) => leadsToY.has(o.id))) {
      for (const input of Object.values(node.inputs)) leadsToY.add(input.id)
      nodesToY.add(node.id)
    }
  }
  const filtered: TapeNode[] = []
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue
    const inputs: Record<string, tf.Tensor> = {}
    for (const [name, input] of Object.entries(node.inputs)) if (fromX.has(input.id)) inputs[name] = input
    filtered.push({ ...node, inputs, outputs: node.outputs })
  }
  return filtered
}
