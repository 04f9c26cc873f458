/**
 * Learning-rate schedules of the method (BNAS-SPEC sections 5.1-5.3), as pure functions of the position in
 * training, so a resumed run computes exactly the rate it would have had.
 */

/**
 * The search's weight LR: cosine annealing over the epochs, stepped once at the start of each epoch the way the
 * authors' PyTorch 1.2 loop did (`scheduler.step()` then `get_lr()`), so epoch e trains with the value for e + 1.
 */
export function searchCosineLr(epoch: number, epochs: number, lrMax: number, lrMin: number): number {
  const t = Math.min(epoch + 1, epochs)
  return lrMin + ((lrMax - lrMin) * (1 + Math.cos((Math.PI * t) / epochs))) / 2
}

/** Plain cosine annealing by fractional epoch (no restart). */
export function cosineLr(progress: number, lrMax: number, lrMin: number): number {
  return lrMin + ((lrMax - lrMin) * (1 + Math.cos(Math.PI * Math.min(Math.max(progress, 0), 1)))) / 2
}

/**
 * The CIFAR final training's one-cycle schedule (spec 5.2), stepped per iteration: over the first 45% of steps
 * linear up from lrMax/20 to lrMax, over the next 45% linear back down, then annealed to 1% of the start.
 * Momentum cycles the other way, 0.95 → 0.85 → 0.95, and stays at 0.95 in the last 10%.
 */
export function oneCycle(step: number, totalSteps: number, lrMax: number): { lr: number; momentum: number } {
  const low = lrMax * 0.05
  const rise = Math.floor(totalSteps * 0.45)
  const fall = Math.floor(totalSteps * 0.9)
  if (step < rise) {
    const f = step / rise
    return { lr: low + (lrMax - low) * f, momentum: 0.95 - 0.1 * f }
  }
  if (step < fall) {
    const f = (step - rise) / (fall - rise)
    return { lr: lrMax - (lrMax - low) * f, momentum: 0.85 + 0.1 * f }
  }
  const f = (step - fall) / Math.max(totalSteps - fall, 1)
  return { lr: low - (low - low * 0.01) * Math.min(f, 1), momentum: 0.95 }
}

/** The ImageNet final training's schedule (spec 5.3): cosine with warm restarts every `period` epochs, to 0. */
export function cosineWarmRestartsLr(fractionalEpoch: number, period: number, lrMax: number, lrMin = 0): number {
  const t = fractionalEpoch % period
  return lrMin + ((lrMax - lrMin) * (1 + Math.cos((Math.PI * t) / period))) / 2
}

/** The entropy regularizer's coefficient λ·exp(−t/τ) at epoch t (spec section 4); λ = 0 turns it off. */
export function entropyCoefficient(epoch: number, lambda: number, tau: number): number {
  return lambda === 0 ? 0 : lambda * Math.exp(-epoch / tau)
}
