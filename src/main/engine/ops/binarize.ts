import * as tf from '@tensorflow/tfjs-core'
import './register-gradients'
import { hostValues, nativeHostKernels, useFusedKernels } from './fused'

/** How the gradient reaches the latent weight of a binarized conv. */
export type WeightGradientMode = 'xnor' | 'ste'

export interface BinarizeOptions {
  /**
   * 'xnor' (default, spec section 0): the authors' `updateBinaryGradWeight` transform, including its n·(1 − 1/C_in)
   * factor that the published learning rates depend on. 'ste': the plain straight-through gradient of sign(W)·α with α
   * treated as a constant and the gradient passed where |W| ≤ 1 (a documented deviation, not the paper's).
   */
  gradient?: WeightGradientMode
}

/** Axes of a [kh, kw, C_in, C_out] weight that one output channel's scaling factor averages over. */
const PER_OUTPUT_AXES = [0, 1, 2]

/**
 * XNOR-Net weight binarization (BinOp.binarizeConvParams): sign(W)·α_o with α_o = mean |W| over kh, kw, C_in, one
 * factor per output channel. W is the latent weight, already centred and clamped by {@link centerAndClampLatent}.
 *
 * The gradient replaces the gradient g with respect to the binarized weight by BinOp.updateBinaryGradWeight:
 *   n·(1 − 1/C_in)·[ α_o·1(|W| ≤ 1)·g + sign(W)·(1/n)·Σ_{kh,kw,C_in}(sign(W) ⊙ g) ],  n = kh·kw·C_in.
 */
export function binarizeWeight(latent: tf.Tensor4D, options: BinarizeOptions = {}): tf.Tensor4D {
  if (options.gradient !== 'ste' && useFusedKernels()) return binarizeXnorHost(latent) as tf.Tensor4D
  return (options.gradient === 'ste' ? binarizeSte : binarizeXnor)(latent) as tf.Tensor4D
}

function scaledSign(w: tf.Tensor): { sign: tf.Tensor; alpha: tf.Tensor } {
  const alpha = tf.mean(tf.abs(w), PER_OUTPUT_AXES, true)
  return { sign: tf.sign(w), alpha }
}

const binarizeXnor = tf.customGrad((latent, save) => {
  const w = latent as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([w])
  const { sign, alpha } = scaledSign(w)
  return {
    value: tf.mul(sign, alpha),
    gradFunc: (dy, saved) => {
      const [kept] = saved
      const [kh, kw, cin] = kept.shape
      const n = kh * kw * cin
      const { sign: s, alpha: a } = scaledSign(kept)
      // α_o · 1(|W| ≤ 1) · g, with the indicator as a 0/1 mask (no broadcast copy of α).
      const inRange = tf.cast(tf.lessEqual(tf.abs(kept), 1), 'float32')
      const direct = tf.mul(tf.mul(dy, a), inRange)
      const viaAlpha = tf.mul(s, tf.div(tf.sum(tf.mul(s, dy), PER_OUTPUT_AXES, true), n))
      return [tf.mul(tf.add(direct, viaAlpha), n * (1 - 1 / cin))]
    }
  }
})

const binarizeSte = tf.customGrad((latent, save) => {
  const w = latent as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([w])
  const { sign, alpha } = scaledSign(w)
  return {
    value: tf.mul(sign, alpha),
    gradFunc: (dy, saved) => {
      const [kept] = saved
      return [tf.where(tf.lessEqual(tf.abs(kept), 1), dy, tf.zerosLike(dy))]
    }
  }
})

/**
 * BinOp steps a–c, run on every latent weight before each forward pass in training: subtract the mean over the
 * input-channel axis (axis 2 of [kh, kw, C_in, C_out]) and clamp to [−1, 1]. Mutates the variable in place.
 */
export function centerAndClampLatent(w: tf.Variable): void {
  if (useFusedKernels()) {
    centerAndClampHost(w)
    return
  }
  tf.tidy(() => {
    const centred = tf.sub(w, tf.mean(w, 2, true))
    w.assign(tf.clipByValue(centred, -1, 1))
  })
}

/*
 * Host-side versions for the native backend, whose tensors live in typed arrays. A binary conv's weight is small
 * (k·k·C_in·C_out values), so one pass replaces the 4 forward and 14 backward tf ops (each a kernel call, an
 * allocation and bookkeeping) that dominated per-op overhead. The passes run in the addon (nativeHostKernels); the
 * JS functions below are the same arithmetic (sums in double, each result rounded to float32 as the native Mean/Sum
 * kernels do), kept as the reference the addon is tested against and as the fallback.
 */

/** [kh·kw·C_in, C_out] view: output channel o of element i is i % C_out. */
function perOutputAlpha(w: Float32Array, cout: number): Float64Array {
  const sums = new Float64Array(cout)
  for (let i = 0; i < w.length; i++) sums[i % cout] += Math.abs(w[i])
  const n = w.length / cout
  for (let o = 0; o < cout; o++) sums[o] = Math.fround(sums[o] / n)
  return sums
}

/** sign(W)·α_o into out. */
export function binarizeWeightArrays(w: Float32Array, cout: number, out: Float32Array): void {
  const alpha = perOutputAlpha(w, cout)
  for (let i = 0; i < w.length; i++) out[i] = Math.sign(w[i]) * alpha[i % cout]
}

/** The gradient transform of g (the binarized weight's gradient) into out (the latent weight's). */
export function binarizeWeightGradArrays(
  ws: Float32Array,
  g: Float32Array,
  cin: number,
  cout: number,
  out: Float32Array
): void {
  const n = ws.length / cout
  const f = Math.fround
  const factor = f(n * (1 - 1 / cin))
  const a = perOutputAlpha(ws, cout)
  // (1/n)·Σ_{kh,kw,C_in} sign(W)·g per output channel.
  const viaAlpha = new Float64Array(cout)
  for (let i = 0; i < ws.length; i++) viaAlpha[i % cout] += Math.sign(ws[i]) * g[i]
  for (let o = 0; o < cout; o++) viaAlpha[o] = f(f(viaAlpha[o]) / n)
  for (let i = 0; i < ws.length; i++) {
    const o = i % cout
    const direct = Math.abs(ws[i]) <= 1 ? f(g[i] * a[o]) : 0
    out[i] = f(f(direct + Math.sign(ws[i]) * viaAlpha[o]) * factor)
  }
}

/** W − mean over C_in (axis 2) per (kh, kw, C_out), clamped to [−1, 1], into out. */
export function centerAndClampArrays(values: Float32Array, cin: number, cout: number, out: Float32Array): void {
  const means = new Float64Array(cout)
  for (let p = 0; p < values.length / (cin * cout); p++) {
    const base = p * cin * cout
    means.fill(0)
    for (let c = 0; c < cin; c++) {
      for (let o = 0; o < cout; o++) means[o] += values[base + c * cout + o]
    }
    for (let o = 0; o < cout; o++) means[o] = Math.fround(means[o] / cin)
    for (let c = 0; c < cin; c++) {
      for (let o = 0; o < cout; o++) {
        const i = base + c * cout + o
        out[i] = Math.min(1, Math.max(-1, Math.fround(values[i] - means[o])))
      }
    }
  }
}

const binarizeXnorHost = tf.customGrad((latent, save) => {
  const w = latent as tf.Tensor
  const keep = save as tf.GradSaveFunc
  keep([w])
  const cout = w.shape[3]!
  const values = hostValues(w) as Float32Array
  const out = new Float32Array(values.length)
  const host = nativeHostKernels()
  if (host) host.binarizeWeight(values, cout, out)
  else binarizeWeightArrays(values, cout, out)
  return {
    value: tf.tensor(out, w.shape, 'float32'),
    gradFunc: (dy, saved) => {
      const [kept] = saved
      const cin = kept.shape[2]!
      const ws = hostValues(kept) as Float32Array
      const g = hostValues(dy as tf.Tensor) as Float32Array
      const grad = new Float32Array(ws.length)
      const kernels = nativeHostKernels()
      if (kernels) kernels.binarizeWeightGrad(ws, g, cin, cout, grad)
      else binarizeWeightGradArrays(ws, g, cin, cout, grad)
      return [tf.tensor(grad, kept.shape, 'float32')]
    }
  }
})

/** centerAndClampLatent in one host pass. */
function centerAndClampHost(w: tf.Variable): void {
  const [, , cin, cout] = w.shape as number[]
  const values = hostValues(w) as Float32Array
  const out = new Float32Array(values.length)
  const host = nativeHostKernels()
  if (host) host.centerAndClamp(values, cin, cout, out)
  else centerAndClampArrays(values, cin, cout, out)
  const next = tf.tensor(out, w.shape, 'float32')
  w.assign(next)
  next.dispose()
}
