import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import { expect } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { nativeAddonStatus } from '../../src/main/engine/native'

/** A tensor as the reference script writes it. */
export interface Encoded {
  shape: number[]
  data: number[]
}

/** Reads a fixture written by scripts/reference/make_op_fixtures.py (PyTorch 1.13). */
export function loadFixture<T>(name: string): T {
  const path = fileURLToPath(new URL(`../fixtures/reference/${name}`, import.meta.url))
  return JSON.parse(readFileSync(path, 'utf8')) as T
}

export function toTensor(e: Encoded): tf.Tensor {
  return tf.tensor(e.data, e.shape)
}

export function toTensor4d(e: Encoded): tf.Tensor4D {
  return tf.tensor4d(e.data, e.shape as [number, number, number, number])
}

/**
 * Tolerance of every comparison with the PyTorch reference: element-wise
 *   |actual − expected| ≤ RTOL·|expected| + ATOL·max(1, max|expected|)
 * i.e. 1e-4 relative, plus an absolute floor of 1e-5 of the tensor's own scale. The floor exists because float32
 * sums computed in a different order (TF.js vs PyTorch) differ by a few ulps of the *largest* terms, so an element that
 * cancels to near zero cannot be held to 1e-4 of itself.
 */
export const RTOL = 1e-4
export const ATOL = 1e-5

export function expectClose(actual: tf.Tensor, expected: Encoded, what: string): void {
  expectValuesClose(actual.dataSync(), actual.shape, expected, what)
}

/**
 * expectClose for tensors of any backend: reads asynchronously (webgpu in Node cannot read synchronously: its
 * readSync needs OffscreenCanvas).
 */
export async function expectCloseAsync(actual: tf.Tensor, expected: Encoded, what: string): Promise<void> {
  expectValuesClose(await actual.data(), actual.shape, expected, what)
}

/** The comparison rule of expectClose on values already read. */
export function expectValuesClose(
  got: ArrayLike<number>,
  shape: readonly number[],
  expected: Encoded,
  what: string
): void {
  expect(shape, `${what}: shape`).toEqual(expected.shape)
  const scale = Math.max(1, ...expected.data.map(Math.abs))
  let worst = -1
  let worstExcess = 0
  for (let i = 0; i < expected.data.length; i++) {
    const diff = Math.abs(got[i] - expected.data[i])
    const allowed = RTOL * Math.abs(expected.data[i]) + ATOL * scale
    if (!(diff <= allowed) && diff - allowed >= worstExcess) {
      worst = i
      worstExcess = diff - allowed
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${what}: element ${worst} is ${got[worst]}, expected ${expected.data[worst]} (shape ${expected.shape})`
    )
  }
}

/**
 * Runs `compute` in a tidy scope and compares every tensor it returns with its fixture, reading asynchronously so
 * the same check runs on every backend (webgpu included); the tensors are disposed afterwards.
 */
export async function expectAllClose(compute: () => [tf.Tensor, Encoded, string][]): Promise<void> {
  const checks: [tf.Tensor, Encoded, string][] = []
  tf.tidy(() => {
    for (const [tensor, expected, what] of compute()) checks.push([tf.keep(tensor), expected, what])
  })
  try {
    for (const [tensor, expected, what] of checks) await expectCloseAsync(tensor, expected, what)
  } finally {
    tf.dispose(checks.map(([tensor]) => tensor))
  }
}

/** Element-wise comparison of two tensors (backend against backend) with the same tolerance rule. */
export function expectTensorsClose(actual: tf.Tensor, expected: tf.Tensor, what: string): void {
  expectClose(actual, { shape: expected.shape, data: Array.from(expected.dataSync()) }, what)
}

/**
 * Backends the PyTorch fixture tests run on: cpu and wasm always, and 'native' (the oneDNN addon, which also switches
 * the engine to its fused kernels) wherever the addon is built.
 */
export const BACKENDS: readonly TestBackend[] = nativeAddonStatus().available
  ? ['cpu', 'wasm', 'native']
  : ['cpu', 'wasm']
export type TestBackend = 'cpu' | 'wasm' | 'native'

/** Loads every test backend once per test file; tests then switch with tf.setBackend. */
export async function loadTestBackends(): Promise<void> {
  await initBackend('cpu')
  await initBackend('wasm')
  if (BACKENDS.includes('native')) await initBackend('native')
}

export async function useBackend(name: TestBackend): Promise<void> {
  await tf.setBackend(name)
  await tf.ready()
}
