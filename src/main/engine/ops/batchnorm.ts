import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import {
  BATCH_NORM_BACKWARD,
  BATCH_NORM_FORWARD,
  BATCH_NORM_SIGN,
  BATCH_NORM_STATS,
  maskGradient,
  useFusedKernels
} from './fused'
import { signSte } from './sign'
import { onGradientsDone } from '../native/backprop-hooks'

/** PyTorch nn.BatchNorm2d defaults. */
export const BN_EPS = 1e-5
export const BN_MOMENTUM = 0.1

export interface BatchNormState {
  runningMean: tf.Variable
  runningVar: tf.Variable
  /** γ and β, present only when affine (any tensor: tests and frozen models pass plain tensors). */
  gamma?: tf.Tensor
  beta?: tf.Tensor
}

const AXES = [0, 1, 2]

/**
 * Batch normalisation over N, H, W of an NHWC tensor, with PyTorch's semantics:
 * - training: normalise with the batch mean and the *biased* batch variance, and update the running statistics with
 *   momentum 0.1 using the *unbiased* variance (n/(n−1)), as torch.nn.functional.batch_norm does;
 * - eval: normalise with the running statistics.
 * The running-stat update happens inside the call (a side effect on the variables) and is not differentiated.
 */
export function batchNorm(x: tf.Tensor4D, state: BatchNormState, training: boolean): tf.Tensor4D {
  if (!training) {
    return tf.tidy(() => {
      const inv = tf.rsqrt(tf.add(state.runningVar, BN_EPS))
      let y = tf.mul(tf.sub(x, state.runningMean), inv)
      if (state.gamma) y = tf.mul(y, state.gamma)
      if (state.beta) y = tf.add(y, state.beta)
      return y as tf.Tensor4D
    })
  }
  const [n, h, w] = x.shape
  const count = n * h * w
  if (useFusedKernels()) return batchNormFused(x, state, count)

  /**
   * Normalises and records the statistics. Runs inside the custom gradient's forward, where nothing is taped, so only
   * x̂ and 1/σ are kept for the backward pass instead of the whole moments graph.
   */
  const normalise = (input: tf.Tensor): { xhat: tf.Tensor; inv: tf.Tensor } => {
    const mean = tf.mean(input, AXES)
    const centred = tf.sub(input, mean)
    const variance = tf.mean(tf.square(centred), AXES)
    const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance
    state.runningMean.assign(tf.add(tf.mul(state.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)))
    state.runningVar.assign(tf.add(tf.mul(state.runningVar, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)))
    const inv = tf.rsqrt(tf.add(variance, BN_EPS))
    return { xhat: tf.mul(centred, inv), inv }
  }

  /** The closed-form input gradient: (1/σ)·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ. */
  const inputGrad = (g: tf.Tensor, xhat: tf.Tensor, inv: tf.Tensor): tf.Tensor =>
    tf.mul(tf.sub(tf.sub(g, tf.mean(g, AXES)), tf.mul(xhat, tf.mean(tf.mul(g, xhat), AXES))), inv)

  const { gamma, beta } = state
  if (gamma && beta) {
    const affine = tf.customGrad((input, scale, shift, save) => {
      const { xhat, inv } = normalise(input as tf.Tensor)
      const keep = save as tf.GradSaveFunc
      keep([xhat, inv, scale as tf.Tensor])
      return {
        value: tf.add(tf.mul(xhat, scale as tf.Tensor), shift as tf.Tensor),
        gradFunc: (dy, [kept, keptInv, keptScale]) => [
          inputGrad(tf.mul(dy, keptScale), kept, keptInv),
          tf.sum(tf.mul(dy, kept), AXES),
          tf.sum(dy, AXES)
        ]
      }
    })
    return affine(x, gamma, beta) as tf.Tensor4D
  }
  if (gamma || beta) throw new Error('batchNorm: γ and β come together (affine) or not at all')
  const plain = tf.customGrad((input, save) => {
    const { xhat, inv } = normalise(input as tf.Tensor)
    const keep = save as tf.GradSaveFunc
    keep([xhat, inv])
    return { value: xhat, gradFunc: (dy, [kept, keptInv]) => [inputGrad(dy, kept, keptInv)] }
  })
  return plain(x) as tf.Tensor4D
}

/**
 * The running-statistics update of torch's batch_norm computed on the host from the batch statistics (a few
 * channels): one new tensor per buffer instead of five ops each. Every step is rounded to float32 as the op-by-op
 * path's float32 kernels round it: rm·(1 − m) + mean·m and rv·(1 − m) + var·n/(n − 1)·m.
 */
function updateRunningStats(state: BatchNormState, mean: tf.Tensor, variance: tf.Tensor, count: number): void {
  updateRunningStatsFrom(state, mean.dataSync() as Float32Array, variance.dataSync() as Float32Array, count)
}

function updateRunningStatsFrom(state: BatchNormState, m: Float32Array, v: Float32Array, count: number): void {
  const f = Math.fround
  const keepOld = f(1 - BN_MOMENTUM)
  const takeNew = f(BN_MOMENTUM)
  const correction = count > 1 ? f(count / (count - 1)) : 1
  const rm = state.runningMean.dataSync()
  const rv = state.runningVar.dataSync()
  const nextMean = new Float32Array(m.length)
  const nextVar = new Float32Array(v.length)
  for (let c = 0; c < m.length; c++) {
    nextMean[c] = f(rm[c] * keepOld) + f(m[c] * takeNew)
    nextVar[c] = f(rv[c] * keepOld) + f(f(v[c] * correction) * takeNew)
  }
  const meanTensor = tf.tensor1d(nextMean)
  const varTensor = tf.tensor1d(nextVar)
  state.runningMean.assign(meanTensor)
  state.runningVar.assign(varTensor)
  tf.dispose([meanTensor, varTensor])
}

function assertAffinePair({ gamma, beta }: BatchNormState): void {
  if ((gamma === undefined) !== (beta === undefined)) {
    throw new Error('batchNorm: γ and β come together (affine) or not at all')
  }
}

/** The fused forward half: batch statistics in one read (updating the running ones), then y in one pass. */
function fusedNormalize(
  input: tf.Tensor,
  scale: tf.Tensor | undefined,
  shift: tf.Tensor | undefined,
  state: BatchNormState,
  count: number
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const [mean, variance] = tf.engine().runKernel(BATCH_NORM_STATS, { x: input }, {}) as tf.Tensor[]
  updateRunningStats(state, mean, variance, count)
  const inputs: tf.NamedTensorMap = { x: input, mean, variance }
  if (scale) {
    inputs.gamma = scale
    inputs.beta = shift as tf.Tensor
  }
  const y = tf.engine().runKernel(BATCH_NORM_FORWARD, inputs, { eps: BN_EPS }) as tf.Tensor
  return { y, mean, variance }
}

/** The fused backward half: [dx, dγ, dβ] when affine, [dx] otherwise. With a mask, of dy·mask (the STE). */
function fusedBackward(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor | undefined,
  variance: tf.Tensor,
  gamma: tf.Tensor | undefined,
  mask?: tf.Tensor
): tf.Tensor[] {
  // Without mean, x is the output x̂ of an affine-free BN (the kernel differentiates from it directly).
  const gradInputs: tf.NamedTensorMap = mean ? { dy, x, mean, variance } : { dy, x, variance }
  if (gamma) gradInputs.gamma = gamma
  if (mask) gradInputs.mask = mask
  const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_BACKWARD, gradInputs, { eps: BN_EPS }) as tf.Tensor[]
  if (gamma) return [dx, dgamma, dbeta]
  tf.dispose([dgamma, dbeta])
  return [dx]
}

/**
 * Training batch norm on the native backend's fused kernels: statistics in one read, normalisation in one pass, the
 * whole backward (x, γ, β) in one kernel. The statistics are computed inside the custom gradient's forward, where
 * nothing is taped, so they get no (zero) gradient of their own; only x, mean and variance (and γ) are kept.
 * Without affine the output y is x̂ itself and the backward needs nothing else: y and the variance are kept instead of
 * x. In the search that frees every pool's output (its BN's input) and every cell input read only by a preprocessing
 * BN, since y is kept anyway by what consumes it (the weighted sum, the conv's filter gradient).
 */
function batchNormFused(x: tf.Tensor4D, state: BatchNormState, count: number): tf.Tensor4D {
  const { gamma, beta } = state
  assertAffinePair(state)
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc
    const [input, scale, shift] = args as tf.Tensor[]
    const { y: value, mean, variance } = fusedNormalize(input, scale, shift, state, count)
    if (!scale) {
      save([value, variance])
      mean.dispose()
      return {
        value,
        gradFunc: (dy: tf.Tensor | tf.Tensor[], [sy, sv]: tf.Tensor[]) =>
          fusedBackward(dy as tf.Tensor, sy, undefined, sv, undefined)
      }
    }
    save([input, mean, variance, scale])
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sm, sv, sg] = saved
        return fusedBackward(dy as tf.Tensor, sx, sm, sv, sg)
      }
    }
  })
  return (gamma && beta ? op(x, gamma, beta) : op(x)) as tf.Tensor4D
}

/**
 * sign(batchNorm(x)) with the clipped STE (the first half of a binary op, spec 2.1), in training mode on the native
 * backend as one custom op: the fused statistics kernel, then BATCH_NORM_SIGN writes sign(y) and the STE's pass mask
 * (|y| < 1, one byte per element) in one pass without ever writing y. The backward pass is the fused batch norm
 * backward of dy·mask (the mask applied inside the same kernel). Kept for the backward pass: x (the edge input,
 * shared by every op of the edge), the statistics and the mask, instead of y (4 bytes per element). Elsewhere (and in
 * eval mode) it is signSte(batchNorm(x)) op by op. Same numbers either way.
 */
export function batchNormSignSte(x: tf.Tensor4D, state: BatchNormState, training: boolean): tf.Tensor4D {
  if (!training || !useFusedKernels()) return tf.tidy(() => signSte(batchNorm(x, state, training)))
  const [n, h, w] = x.shape
  const count = n * h * w
  assertAffinePair(state)
  if (!state.gamma) return sharedSigns(x, state, count)
  return signOfBatchNorm(x, state, count)
}

/**
 * The last sign(BN(x)) computed without affine parameters, for the next binary op of the same input. In the search
 * every edge's four binary ops start with BN(affine = false) of the edge input: the same statistics, the same signs
 * and the same STE mask four times. Sharing one result (kept across the ops' scopes) computes them once, and autodiff
 * then sums the four ops' gradients into it and runs one batch norm backward (it is linear in dy) instead of four.
 * Each op's BN module still updates its own running statistics, with the shared batch statistics. Only while a
 * gradient tape records; dropped when an op with another input comes, and when the gradients are done.
 */
let shared: {
  x: tf.Tensor
  dataId: object
  tape: unknown
  signs: tf.Tensor
  mean: Float32Array
  variance: Float32Array
} | null = null

/** The engine's gradient tape being recorded, or null when none is (sharing is only for gradient passes). */
function recordingTape(): unknown {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number; activeTape: unknown } }).state
  return state.gradientDepth > 0 ? state.activeTape : null
}

function releaseShared(): void {
  if (shared) shared.signs.dispose()
  shared = null
}
onGradientsDone(releaseShared)

function sharedSigns(x: tf.Tensor4D, state: BatchNormState, count: number): tf.Tensor4D {
  // Only while a gradient tape records (the signs must be on the same tape as their users), so a forward pass
  // without gradients keeps nothing.
  const tape = recordingTape()
  if (tape === null) {
    releaseShared()
    return signOfBatchNorm(x, state, count)
  }
  const hit = shared && shared.x === x && shared.dataId === x.dataId && shared.tape === tape
  if (hit && !shared!.signs.isDisposed && !x.isDisposed) {
    updateRunningStatsFrom(state, shared!.mean, shared!.variance, count)
    return shared!.signs as tf.Tensor4D
  }
  releaseShared()
  let stats: { mean: Float32Array; variance: Float32Array } | undefined
  const signs = tf.keep(signOfBatchNorm(x, state, count, (mean, variance) => (stats = { mean, variance })))
  shared = { x, dataId: x.dataId, tape, signs, ...stats! }
  return signs
}

function signOfBatchNorm(
  x: tf.Tensor4D,
  state: BatchNormState,
  count: number,
  onStats?: (mean: Float32Array, variance: Float32Array) => void
): tf.Tensor4D {
  const { gamma, beta } = state
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc
    const [input, scale, shift] = args as tf.Tensor[]
    const [mean, variance] = tf.engine().runKernel(BATCH_NORM_STATS, { x: input }, {}) as tf.Tensor[]
    const m = mean.dataSync() as Float32Array
    const v = variance.dataSync() as Float32Array
    updateRunningStatsFrom(state, m, v, count)
    onStats?.(m, v)
    const inputs: tf.NamedTensorMap = { x: input, mean, variance }
    if (scale) {
      inputs.gamma = scale
      inputs.beta = shift
    }
    const [signs, mask] = tf.engine().runKernel(BATCH_NORM_SIGN, inputs, { eps: BN_EPS }) as tf.Tensor[]
    save(scale ? [input, mean, variance, mask, scale] : [input, mean, variance, mask])
    return {
      value: signs,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sm, sv, smask, sg] = saved
        return fusedBackward(dy as tf.Tensor, sx, sm, sv, sg, smask)
      }
    }
  })
  return (gamma && beta ? op(x, gamma, beta) : op(x)) as tf.Tensor4D
}

/**
 * relu(x) whose backward pass keeps the *output* (dy where y > 0, the same mask as x > 0) on the native backend, so
 * a binary op's pre-activation conv output is not kept alive: the output is kept anyway by whatever consumes it (the
 * edge mixture). Elsewhere tf.relu.
 */
export function reluKeepingOutput(x: tf.Tensor4D): tf.Tensor4D {
  if (!useFusedKernels()) return tf.relu(x)
  return reluOutputGrad(x) as tf.Tensor4D
}

const reluOutputGrad = tf.customGrad((x, save) => {
  const y = tf.relu(x as tf.Tensor)
  ;(save as tf.GradSaveFunc)([y])
  return {
    value: y,
    // dy where y > 0, +0 elsewhere (MASK_GRADIENT 'positive'), as tf.relu's gradient dy·step(x).
    gradFunc: (dy, [kept]) => [maskGradient(dy as tf.Tensor, kept, 'positive')]
  }
})
