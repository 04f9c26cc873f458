/**
 * Seeded randomness for everything that must replay exactly: splits, subsets, augmentation, synthetic data.
 * mulberry32: 32-bit state, fast, good enough for shuffles and crops (not for cryptography).
 */
export class Rng {
  private value: number

  constructor(seed: number) {
    // Mix the seed so that nearby seeds (0, 1, 2) give unrelated streams.
    this.value = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0x6a09e667) >>> 0
  }

  /** The generator's whole state, to save and restore (checkpoints). */
  get state(): number {
    return this.value
  }

  set state(value: number) {
    this.value = value >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.value = (this.value + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next())
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: number }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = array[i]
      array[i] = array[j]
      array[j] = t
    }
    return array
  }
}

/** 0, 1, ..., n-1 in a seeded random order. */
export function permutation(n: number, rng: Rng): Int32Array {
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) out[i] = i
  return rng.shuffle(out)
}
