/**
 * Deterministic pseudo-random source for every initialisation of the engine, so a seed reproduces a network bit for
 * bit on any backend (tf.randomUniform's seeding differs between backends).
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform in [low, high). */
  uniform(low: number, high: number): number
  /** Standard normal N(0, 1) (Box–Muller). */
  normal(): number
  /** Fills a new Float32Array of `size` values uniform in [low, high). */
  uniformArray(size: number, low: number, high: number): Float32Array
  /** Fills a new Float32Array of `size` values from N(0, std²). */
  normalArray(size: number, std?: number): Float32Array
}

/** mulberry32: 32-bit state, fast, good enough statistical quality for weight initialisation. */
export function createRng(seed: number): Rng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const normal = (): number => {
    // 1 − next() is in (0, 1], so the log is finite.
    const u = 1 - next()
    const v = next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  return {
    next,
    uniform: (low, high) => low + (high - low) * next(),
    normal,
    uniformArray: (size, low, high) => {
      const out = new Float32Array(size)
      for (let i = 0; i < size; i++) out[i] = low + (high - low) * next()
      return out
    },
    normalArray: (size, std = 1) => {
      const out = new Float32Array(size)
      for (let i = 0; i < size; i++) out[i] = std * normal()
      return out
    }
  }
}
