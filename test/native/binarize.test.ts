import { describe, expect, it } from 'vitest'
import { loadNativeAddon, nativeAddonStatus } from '../../src/main/engine/native'
import {
  binarizeWeightArrays,
  binarizeWeightGradArrays,
  centerAndClampArrays
} from '../../src/main/engine/ops/binarize'
import { randomValues, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('weight binarization')

/** Every binary conv weight of the method ([k, k, C, C], 1×1 preprocess C_in ≠ C_out) and odd ones. */
const SHAPES: [number, number, number, number][] = [
  [3, 3, 8, 8],
  [5, 5, 16, 16],
  [5, 5, 32, 32],
  [1, 1, 24, 8],
  [3, 3, 48, 16],
  [2, 2, 3, 5],
  [1, 1, 1, 1]
]

/** Latent values beyond ±1 (the STE indicator), exact zeros and exact ±1. */
function latent(size: number, seed: number): Float32Array {
  return randomValues(size, seed, 0.05).map((v, i) => (i % 17 === 3 ? Math.sign(v) : 1.5 * v))
}

describe.skipIf(!status.available)(`native weight binarization${skipReason}`, () => {
  for (const shape of SHAPES) {
    const [kh, kw, cin, cout] = shape
    const size = kh * kw * cin * cout
    it(`[${shape}]: sign(W)·α, its gradient transform and centre-and-clamp bit-identical to the JS loops`, () => {
      const addon = loadNativeAddon()
      const w = latent(size, 21)
      const g = randomValues(size, 22)
      const pairs: [Float32Array, Float32Array][] = []
      const run = (native: (out: Float32Array) => void, js: (out: Float32Array) => void) => {
        const a = new Float32Array(size)
        const b = new Float32Array(size)
        native(a)
        js(b)
        pairs.push([a, b])
      }
      run(
        (out) => addon.binarizeWeight(w, cout, out),
        (out) => binarizeWeightArrays(w, cout, out)
      )
      run(
        (out) => addon.binarizeWeightGrad(w, g, cin, cout, out),
        (out) => binarizeWeightGradArrays(w, g, cin, cout, out)
      )
      run(
        (out) => addon.centerAndClamp(w, cin, cout, out),
        (out) => centerAndClampArrays(w, cin, cout, out)
      )
      for (const [a, b] of pairs) expect(Array.from(a)).toEqual(Array.from(b))
      // The clamp and the indicator were exercised.
      expect(w.some((v) => Math.abs(v) > 1)).toBe(size > 16)
    })
  }

  it('rejects channel counts that do not divide the weight', () => {
    const addon = loadNativeAddon()
    expect(() => addon.binarizeWeight(new Float32Array(10), 3, new Float32Array(10))).toThrow(/C_out/)
    expect(() => addon.centerAndClamp(new Float32Array(12), 5, 2, new Float32Array(12))).toThrow(/channels/)
  })
})
