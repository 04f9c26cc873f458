import { nativeAddonStatus } from '../../src/main/engine/native'
import * as tf from '@tensorflow/tfjs-core'

/** Deterministic uniform values in [-1, 1) with a fraction of exact zeros (sign(0) = 0 must be exercised). */
export function randomValues(size: number, seed: number, zeroFraction = 0): Float32Array {
  let state = seed >>> 0 || 1
  const out = new Float32Array(size)
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    const u = state / 2 ** 32
    out[i] = u < zeroFraction ? 0 : u * 2 - 1
  }
  return out
}

/** Runs `compute` on a backend with fresh tensors made from `inputs`, and returns every output's values. */
export async function runOn(
  backend: string,
  inputs: { values: Float32Array; shape: number[] }[],
  compute: (...tensors: tf.Tensor[]) => tf.Tensor | tf.Tensor[]
): Promise<Float32Array[]> {
  await tf.setBackend(backend)
  const tensors = inputs.map((i) => tf.tensor(i.values, i.shape))
  const result = compute(...tensors)
  const outputs = Array.isArray(result) ? result : [result]
  const values = await Promise.all(outputs.map(async (o) => (await o.data()) as Float32Array))
  tf.dispose([...tensors, ...outputs])
  return values
}

/** Largest |a − b| over the largest |b|: the error relative to the reference's scale. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Infinity
  let maxDiff = 0
  let scale = 0
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]))
    scale = Math.max(scale, Math.abs(expected[i]))
  }
  if (Number.isNaN(maxDiff)) return Infinity
  return scale === 0 ? maxDiff : maxDiff / scale
}

/**
 * Whether the native suites can run here. When the addon is unavailable: a warning with the reason (and the reason in
 * the suite's name, via `skipReason`), or a failure where BNAS_REQUIRE_NATIVE=1 says the addon must be there (CI).
 */
export function nativeSuite(what: string): { available: boolean; skipReason: string } {
  const status = nativeAddonStatus()
  if (status.available) return { available: true, skipReason: '' }
  if (process.env.BNAS_REQUIRE_NATIVE === '1')
    throw new Error(`BNAS_REQUIRE_NATIVE=1 but the native addon is unavailable: ${status.reason}`)
  console.warn(`test/native: ${what} not tested: ${status.reason}`)
  return { available: false, skipReason: ` (SKIPPED: ${status.reason})` }
}
