/**
 * Callbacks run when a gradient computation on the native backend is over (eager-backprop.ts calls them): ops that
 * keep a tensor from one op to the next within a forward pass (the shared sign(BN(x)) of a search edge) drop it
 * there, so nothing outlives the step. A plain module without imports, so ops/ can register without loading the
 * backend.
 */
const hooks = new Set<() => void>()

export function onGradientsDone(hook: () => void): void {
  hooks.add(hook)
}

export function runGradientsDoneHooks(): void {
  for (const hook of hooks) hook()
}
