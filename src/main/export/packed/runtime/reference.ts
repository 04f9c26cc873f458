import type { BnParams } from '../../steps'
import { popcount32, wordsFor } from '../bits'
import type { PackedBinConv, PackedStep } from '../format'
import type { PackedBackend, PackedRuntimePath, StepDims } from './types'

const fround = Math.fround
export const BN_EPS = 1e-5

/** 1/√(var + eps) rounded as the engine's tf.rsqrt(var + eps) on the cpu backend does. */
export function bnInverse(bn: BnParams): Float32Array {
  return bn.variance.map((v) => fround(1 / Math.sqrt(fround(v + BN_EPS))))
}

/** One BN value exactly as the engine's eval batchNorm: ((x − μ)·inv)·γ + β, every op rounded to float32. */
function bnValue(x: number, mean: number, inv: number, gamma: number | undefined, beta: number | undefined): number {
  let y = fround(fround(x - mean) * inv)
  if (gamma !== undefined) y = fround(y * gamma)
  if (beta !== undefined) y = fround(y + beta)
  return y
}

interface PreparedBn {
  mean: Float32Array
  inv: Float32Array
  gamma?: Float32Array
  beta?: Float32Array
}

function prepareBn(bn: BnParams): PreparedBn {
  return { mean: bn.mean, inv: bnInverse(bn), gamma: bn.gamma, beta: bn.beta }
}

/**
 * BN then sign, packed into sign and nonzero planes, [pixels][words] (bits.ts convention).
 */
export function bnSignPack(
  x: Float32Array,
  pixels: number,
  c: number,
  bn: PreparedBn
): { sign: Uint32Array; mask: Uint32Array } {
  const words = wordsFor(c)
  const sign = new Uint32Array(pixels * words)
  const mask = new Uint32Array(pixels * words)
  for (let p = 0; p < pixels; p++) {
    for (let ch = 0; ch < c; ch++) {
      const v = bnValue(x[p * c + ch], bn.mean[ch], bn.inv[ch], bn.gamma?.[ch], bn.beta?.[ch])
      const word = p * words + (ch >>> 5)
      const bit = 1 << (ch & 31)
      if (v < 0) {
        sign[word] |= bit
        mask[word] |= bit
      } else if (v > 0) mask[word] |= bit
    }
  }
  return { sign, mask }
}

/**
 * The binary conv on packed planes: for each output, dot = Σ popcount(ma & mw) − 2·Σ popcount((sa ^ sw) & ma & mw)
 * over the in-image taps (out-of-image taps are the value 0), then ReLU(α·dot). Exact integer arithmetic.
 */
function binConv(step: PackedBinConv, bn: PreparedBn, x: Float32Array, y: Float32Array, dims: StepDims): void {
  const [h, w, cin] = dims.inputs[0]
  const [ho, wo, cout] = dims.output
  const { kernel: k, stride: s, padding: pad, dilation: d } = step
  const words = wordsFor(cin)
  const { sign, mask } = bnSignPack(x, dims.batch * h * w, cin, bn)
  const wSign = step.sign
  const wMask = step.mask
  const taps = k * k
  for (let n = 0; n < dims.batch; n++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const outBase = ((n * ho + oy) * wo + ox) * cout
        for (let o = 0; o < cout; o++) {
          let dot = 0
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s - pad + ky * d
            if (iy < 0 || iy >= h) continue
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s - pad + kx * d
              if (ix < 0 || ix >= w) continue
              const a = ((n * h + iy) * w + ix) * words
              const b = (o * taps + ky * k + kx) * words
              for (let j = 0; j < words; j++) {
                const m = wMask ? mask[a + j] & wMask[b + j] : mask[a + j]
                dot += popcount32(m) - 2 * popcount32((sign[a + j] ^ wSign[b + j]) & m)
              }
            }
          }
          const v = fround(step.alpha[o] * dot)
          y[outBase + o] = v > 0 ? v : 0
        }
      }
    }
  }
}

function conv(step: Extract<PackedStep, { op: 'conv' }>, x: Float32Array, y: Float32Array, dims: StepDims): void {
  const [h, w, cin] = dims.inputs[0]
  const [ho, wo, cout] = dims.output
  const { kernel: k, stride: s, padding: pad, dilation: d, weight, bias } = step
  const acc = new Float64Array(cout)
  for (let n = 0; n < dims.batch; n++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        acc.fill(0)
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - pad + ky * d
          if (iy < 0 || iy >= h) continue
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s - pad + kx * d
            if (ix < 0 || ix >= w) continue
            const xb = ((n * h + iy) * w + ix) * cin
            const wb = (ky * k + kx) * cin * cout
            for (let ci = 0; ci < cin; ci++) {
              const xv = x[xb + ci]
              if (xv === 0) continue
              const row = wb + ci * cout
              for (let co = 0; co < cout; co++) acc[co] += xv * weight[row + co]
            }
          }
        }
        const ob = ((n * ho + oy) * wo + ox) * cout
        for (let co = 0; co < cout; co++) y[ob + co] = bias ? fround(fround(acc[co]) + bias[co]) : acc[co]
      }
    }
  }
}

function pool(max: boolean, stride: number, x: Float32Array, y: Float32Array, dims: StepDims): void {
  const [h, w, c] = dims.inputs[0]
  const [ho, wo] = dims.output
  for (let n = 0; n < dims.batch; n++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const ob = ((n * ho + oy) * wo + ox) * c
        for (let ch = 0; ch < c; ch++) {
          let acc = max ? -Infinity : 0
          let count = 0
          for (let ky = 0; ky < 3; ky++) {
            const iy = oy * stride - 1 + ky
            if (iy < 0 || iy >= h) continue
            for (let kx = 0; kx < 3; kx++) {
              const ix = ox * stride - 1 + kx
              if (ix < 0 || ix >= w) continue
              const v = x[((n * h + iy) * w + ix) * c + ch]
              if (max) acc = v > acc ? v : acc
              else acc += v
              count++
            }
          }
          y[ob + ch] = max ? acc : acc / count
        }
      }
    }
  }
}

/** Runs a step on Float32Arrays: the pure-TS reference every other path is checked against. */
export function executeReference(
  step: PackedStep,
  prepared: unknown,
  inputs: Float32Array[],
  y: Float32Array,
  dims: StepDims
): void {
  const x = inputs[0]
  const [h, w, c] = dims.inputs[0]
  const pixels = dims.batch * h * w
  switch (step.op) {
    case 'binconv':
      return binConv(step, prepared as PreparedBn, x, y, dims)
    case 'bn': {
      const bn = prepared as PreparedBn
      for (let p = 0; p < pixels; p++) {
        for (let ch = 0; ch < c; ch++) {
          y[p * c + ch] = bnValue(x[p * c + ch], bn.mean[ch], bn.inv[ch], bn.gamma?.[ch], bn.beta?.[ch])
        }
      }
      return
    }
    case 'conv':
      return conv(step, x, y, dims)
    case 'relu':
      for (let i = 0; i < pixels * c; i++) y[i] = x[i] > 0 ? x[i] : 0
      return
    case 'maxpool':
    case 'avgpool':
      return pool(step.op === 'maxpool', step.stride, x, y, dims)
    case 'zero':
      y.fill(0)
      return
    case 'add': {
      const b = inputs[1]
      for (let i = 0; i < pixels * c; i++) y[i] = x[i] + b[i]
      return
    }
    case 'concat': {
      const total = dims.output[2]
      let offset = 0
      inputs.forEach((part, i) => {
        const pc = dims.inputs[i][2]
        for (let p = 0; p < pixels; p++) y.set(part.subarray(p * pc, (p + 1) * pc), p * total + offset)
        offset += pc
      })
      return
    }
    case 'gap': {
      const hw = h * w
      for (let n = 0; n < dims.batch; n++) {
        for (let ch = 0; ch < c; ch++) {
          let sum = 0
          for (let p = 0; p < hw; p++) sum += x[(n * hw + p) * c + ch]
          y[n * c + ch] = sum / hw
        }
      }
      return
    }
    case 'linear': {
      const { inFeatures: fin, outFeatures: fout, weight, bias } = step
      for (let n = 0; n < dims.batch; n++) {
        for (let o = 0; o < fout; o++) {
          let sum = 0
          for (let i = 0; i < fin; i++) sum += x[n * fin + i] * weight[i * fout + o]
          y[n * fout + o] = sum + bias[o]
        }
      }
      return
    }
  }
}

export function prepareReference(step: PackedStep): unknown {
  return step.op === 'binconv' || step.op === 'bn' ? prepareBn(step.bn) : undefined
}

export class ReferenceBackend implements PackedBackend<Float32Array, unknown> {
  readonly name: string = 'reference'
  prepare(step: PackedStep): unknown {
    return prepareReference(step)
  }
  alloc(length: number): Float32Array {
    return new Float32Array(length)
  }
  free(): void {}
  write(buffer: Float32Array, data: Float32Array): void {
    buffer.set(data)
  }
  read(buffer: Float32Array, length: number): Float32Array {
    return buffer.slice(0, length)
  }
  execute(step: PackedStep, prepared: unknown, inputs: Float32Array[], output: Float32Array, dims: StepDims): void {
    executeReference(step, prepared, inputs, output, dims)
  }
  dispose(): void {}
}

export const referencePath: PackedRuntimePath = {
  name: 'reference',
  priority: 0,
  available: async () => ({ ok: true }),
  createBackend: async () => new ReferenceBackend()
}
