import { describe, expect, it } from 'vitest'
import { loadNativeAddon, nativeAddonStatus, type NativeAddon } from '../../src/main/engine/native'
import { nativeSuite, randomValues } from './compare'

// The memory-bound kernels split their work in fixed chunks whatever the thread count (native/src/parallel.h), so
// 1 and 2 threads must give the same bits, and the split must not change what is computed: each kernel is checked
// against a plain JavaScript loop on an array large enough to be split ([32, 32, 32, 8], 262,144 values, several
// chunks and runs of chunks), with a tail that fills no whole chunk.

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('parallel kernels')
const C = 8
const M = 32 * 32 * 32 + 5 // rows of C channels: a tail of 5 rows past the full runs

function withThreads<T>(addon: NativeAddon, threads: number, fn: () => T): T {
  const before = addon.info().threads
  addon.setThreads(threads)
  try {
    return fn()
  } finally {
    addon.setThreads(before)
  }
}

/** Per-channel mean and biased variance in double, as the kernel defines them. */
function stats(x: Float32Array): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(C)
  const variance = new Float64Array(C)
  for (let i = 0; i < x.length; i++) mean[i % C] += x[i]
  for (let c = 0; c < C; c++) mean[c] /= M
  for (let i = 0; i < x.length; i++) variance[i % C] += (x[i] - mean[i % C]) ** 2
  for (let c = 0; c < C; c++) variance[c] /= M
  return { mean, variance }
}

describe.skipIf(!status.available)(`native memory-bound kernels on 1 and 2 threads${skipReason}`, () => {
  const x = randomValues(M * C, 3).map((v, i) => 2 * v + (i % C))
  const dy = randomValues(M * C, 4)

  it('batch norm statistics, forward and backward: the same bits on 1 and 2 threads, and the definitions', () => {
    const addon = loadNativeAddon()
    const gamma = randomValues(C, 5).map((v) => v + 1.5)
    const beta = randomValues(C, 6)
    const run = () => {
      const mean = new Float32Array(C)
      const variance = new Float32Array(C)
      addon.batchNormStats(x, C, mean, variance)
      const y = new Float32Array(x.length)
      addon.batchNormForward(x, C, mean, variance, gamma, beta, 1e-5, y)
      const dx = new Float32Array(x.length)
      const dgamma = new Float32Array(C)
      const dbeta = new Float32Array(C)
      addon.batchNormBackward(dy, x, C, mean, variance, gamma, 1e-5, dx, dgamma, dbeta)
      return [mean, variance, y, dx, dgamma, dbeta]
    }
    const one = withThreads(addon, 1, run)
    const two = withThreads(addon, 2, run)
    two.forEach((a, i) => expect(Array.from(a), `output ${i}`).toEqual(Array.from(one[i])))
    const want = stats(x)
    const [mean, variance, y, dx, dgamma, dbeta] = two
    for (let c = 0; c < C; c++) {
      expect(mean[c]).toBeCloseTo(want.mean[c], 5)
      expect(variance[c] / want.variance[c]).toBeCloseTo(1, 5)
    }
    // y and dx at every position, from the kernel's statistics (the formulas of batchnorm.cc in double).
    const sumDy = new Float64Array(C)
    const sumDyXhat = new Float64Array(C)
    for (let i = 0; i < x.length; i++) {
      const c = i % C
      const inv = 1 / Math.sqrt(variance[c] + 1e-5)
      const xhat = (x[i] - mean[c]) * inv
      expect(Math.abs(y[i] - (xhat * gamma[c] + beta[c]))).toBeLessThan(1e-4)
      sumDy[c] += dy[i]
      sumDyXhat[c] += dy[i] * xhat
    }
    for (let c = 0; c < C; c++) {
      expect(dbeta[c] / sumDy[c]).toBeCloseTo(1, 4)
      expect(dgamma[c] / sumDyXhat[c]).toBeCloseTo(1, 4)
    }
    for (let i = 0; i < x.length; i += 97) {
      const c = i % C
      const inv = 1 / Math.sqrt(variance[c] + 1e-5)
      const xhat = (x[i] - mean[c]) * inv
      const want = gamma[c] * inv * (dy[i] - sumDy[c] / M - (xhat * sumDyXhat[c]) / M)
      expect(Math.abs(dx[i] - want)).toBeLessThan(1e-4)
    }
  })

  it('BN → sign with the STE mask, and the masked gradients: the same bits on 1 and 2 threads, and the definitions', () => {
    const addon = loadNativeAddon()
    const mean = new Float32Array(C).map((_, c) => c)
    const variance = new Float32Array(C).fill(4)
    const run = () => {
      const signs = new Float32Array(x.length)
      const pass = new Uint8Array(x.length)
      addon.batchNormSign(x, C, mean, variance, null, null, 1e-5, signs, pass)
      const masked = new Float32Array(x.length)
      addon.maskGradient(0, dy, pass, masked)
      const relu = new Float32Array(x.length)
      addon.maskGradient(1, dy, x, relu)
      return [signs, pass, masked, relu]
    }
    const one = withThreads(addon, 1, run)
    const two = withThreads(addon, 2, run)
    two.forEach((a, i) => expect(Array.from(a), `output ${i}`).toEqual(Array.from(one[i])))
    const [signs, pass, masked, relu] = two
    const y = new Float32Array(x.length)
    addon.batchNormForward(x, C, mean, variance, null, null, 1e-5, y)
    for (let i = 0; i < x.length; i++) {
      expect(signs[i]).toBe(Math.sign(y[i]) + 0)
      expect(pass[i]).toBe(y[i] > -1 && y[i] < 1 ? 1 : 0)
      expect(masked[i]).toBe(pass[i] ? dy[i] : 0)
      expect(relu[i]).toBe(x[i] > 0 ? dy[i] : 0)
    }
  })

  it('binary ops on one long row (contiguous and scalar-broadcast), and a comparison: the same bits, and the definitions', () => {
    const addon = loadNativeAddon()
    const n = x.length
    const shape = Int32Array.of(n)
    const run = () => {
      const product = new Float32Array(n)
      addon.binaryOp(2, x, Int32Array.of(1), dy, Int32Array.of(1), product, shape)
      const scaled = new Float32Array(n)
      addon.binaryOp(1, x, Int32Array.of(1), Float32Array.of(0.5), Int32Array.of(0), scaled, shape)
      const greater = new Uint8Array(n)
      addon.binaryOp(102, x, Int32Array.of(1), dy, Int32Array.of(1), greater, shape)
      return [product, scaled, greater]
    }
    const one = withThreads(addon, 1, run)
    const two = withThreads(addon, 2, run)
    two.forEach((a, i) => expect(Array.from(a), `output ${i}`).toEqual(Array.from(one[i])))
    const [product, scaled, greater] = two
    for (let i = 0; i < n; i++) {
      expect(product[i]).toBe(Math.fround(x[i] * dy[i]))
      expect(scaled[i]).toBe(Math.fround(x[i] - 0.5))
      expect(greater[i]).toBe(x[i] > dy[i] ? 1 : 0)
    }
  })

  it('the α-weighted mixture and its gradient: the same bits on 1 and 2 threads, and the definitions', () => {
    const addon = loadNativeAddon()
    const terms = [0, 1, 2, 3, 4, 5].map((k) => randomValues(x.length, 10 + k))
    const w = new Float32Array([0.1, 0.3, 0.05, 0.2, 0.15, 0.2])
    const run = () => {
      const y = new Float32Array(x.length)
      addon.weightedSum(terms, w, y)
      const dterms = terms.map(() => new Float32Array(x.length))
      const dw = new Float32Array(terms.length)
      addon.weightedSumGrad(dy, terms, w, dterms, dw)
      return [y, dw, ...dterms]
    }
    const one = withThreads(addon, 1, run)
    const two = withThreads(addon, 2, run)
    two.forEach((a, i) => expect(Array.from(a), `output ${i}`).toEqual(Array.from(one[i])))
    const [y, dw, ...dterms] = two
    for (let i = 0; i < x.length; i += 13) {
      let want = Math.fround(w[0] * terms[0][i])
      for (let k = 1; k < terms.length; k++) want = Math.fround(want + Math.fround(w[k] * terms[k][i]))
      expect(y[i]).toBe(want)
      expect(dterms[3][i]).toBe(Math.fround(w[3] * dy[i]))
    }
    terms.forEach((t, k) => {
      let dot = 0
      for (let i = 0; i < x.length; i++) dot += dy[i] * t[i]
      expect(dw[k] / dot).toBeCloseTo(1, 5)
    })
  })
})
