import * as tf from '@tensorflow/tfjs-core'
import { BatchNorm2d, Module, type ForwardContext, type Rng } from '../../nn'
import { conv2dTorch, torchOutSize, type WeightGradientMode } from '../../ops'
import type { LayerRecord, Shape3, Traceable } from '../trace'

/**
 * Layers the hand-designed baselines need beyond the BNAS op space: Bi-Real's 2×2 average-pool shortcut, DARTS'
 * depthwise convolutions (binarized), and the identity of DARTS' skip_connect. Each one walks itself for the summary
 * (Traceable) and src/main/engine/summary/layers.ts knows their cost.
 */

/**
 * nn.AvgPool2d(2, stride 2, ceil_mode=True): Bi-Real's downsampling shortcut. Ceil mode (a last window that overhangs
 * the map averages its in-image taps only) gives ⌈h/2⌉, the size the block's stride-2 3×3 conv gives, so odd maps
 * (7×7 in the last stage of a 28×28 input) work; at even sizes it is exactly PyTorch's default floor mode.
 */
export class AvgPool2x2 extends Module implements Traceable {
  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    const [, h, w] = x.shape
    return tf.tidy(() => {
      const padded =
        h % 2 === 0 && w % 2 === 0
          ? x
          : tf.pad(x, [
              [0, 0],
              [0, h % 2],
              [0, w % 2],
              [0, 0]
            ])
      // tfjs' avgPool divides by the 4 taps of each window in both passes here (no padding of its own); the scale
      // turns that into the mean of the in-image taps, the same in the gradient.
      const meanOf4 = tf.avgPool(padded, 2, 2, 'valid')
      return h % 2 === 0 && w % 2 === 0 ? meanOf4 : tf.mul(meanOf4, overhangScale(h, w))
    })
  }

  trace(prefix: string, [[h, w, c]]: Shape3[], records: LayerRecord[]): Shape3 {
    const output: Shape3 = [Math.ceil(h / 2), Math.ceil(w / 2), c]
    records.push({ name: prefix, module: this, input: [h, w, c], output })
    return output
  }
}

/** 4 / (in-image taps) per output position of a 2×2 stride-2 window on an h×w map, shape [1, ⌈h/2⌉, ⌈w/2⌉, 1]. */
function overhangScale(h: number, w: number): tf.Tensor4D {
  const [ho, wo] = [Math.ceil(h / 2), Math.ceil(w / 2)]
  const scale = new Float32Array(ho * wo)
  for (let i = 0; i < ho; i++) {
    for (let j = 0; j < wo; j++) scale[i * wo + j] = 4 / (Math.min(2, h - 2 * i) * Math.min(2, w - 2 * j))
  }
  return tf.tensor4d(scale, [1, ho, wo, 1])
}

/** DARTS' Identity (skip_connect at stride 1): no parameters, no cost, not recorded by the summary. */
export class Identity extends Module implements Traceable {
  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return x
  }

  trace(_prefix: string, [input]: Shape3[]): Shape3 {
    return input
  }
}

export interface DepthwiseOptions {
  stride?: 1 | 2
  padding?: number
  dilation?: 1 | 2
  weightGradient?: WeightGradientMode
  rng: Rng
}

/**
 * A binarized depthwise conv (nn.Conv2d(C, C, k, groups=C, bias=False) with BinOp's weight binarization): forward
 * sign(W)·α_c with α_c = mean |W| over the k×k taps of channel c, as XNOR-Net scales each output channel.
 *
 * The weight is stored [k, k, 1, C] (one input channel per group, C outputs) so "per output channel" means the same
 * axes as for a dense binary conv. Two parts of BinOp degenerate with one input channel per group and are adapted:
 * - the latent weight is not mean-centred over its input channel (that would set it to 0): it is only clamped to
 *   [−1, 1] before each step ({@link clampLatent}); it is therefore not listed by binaryWeights(), whose weights the
 *   training loop centres.
 * - the 'xnor' gradient keeps the transform's α and sign terms but scales by n = k·k instead of n·(1 − 1/C_in),
 *   which is 0 for one input channel; 'ste' passes the gradient where |W| ≤ 1.
 */
export class BinaryDepthwiseConv2d extends Module implements Traceable {
  readonly channels: number
  readonly kernel: number
  readonly stride: 1 | 2
  readonly padding: number
  readonly dilation: 1 | 2
  readonly weightGradient: WeightGradientMode
  readonly weight: tf.Variable

  constructor(channels: number, kernel: number, opts: DepthwiseOptions) {
    super()
    this.channels = channels
    this.kernel = kernel
    this.stride = opts.stride ?? 1
    this.padding = opts.padding ?? 0
    this.dilation = opts.dilation ?? 1
    this.weightGradient = opts.weightGradient ?? 'xnor'
    // PyTorch's default init for a grouped conv: fan_in = k·k (one input channel per group).
    const bound = 1 / Math.sqrt(kernel * kernel)
    const values = opts.rng.uniformArray(kernel * kernel * channels, -bound, bound)
    this.weight = this.registerParameter('weight', tf.tensor4d(values, [kernel, kernel, 1, channels]))
  }

  /** The weight the conv applies, sign(W)·α_c, as [k, k, 1, C]. */
  binarized(): tf.Tensor4D {
    const latent = this.weight as unknown as tf.Tensor4D
    return (this.weightGradient === 'ste' ? binarizeDepthwiseSte : binarizeDepthwiseXnor)(latent) as tf.Tensor4D
  }

  /** BinOp's clamp to [−1, 1] of the latent weight (without the centring, see the class comment). In place. */
  clampLatent(): void {
    tf.tidy(() => this.weight.assign(tf.clipByValue(this.weight, -1, 1)))
  }

  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    if (x.shape[3] !== this.channels) {
      throw new Error(`depthwise conv expects ${this.channels} channels, gets ${x.shape[3]}`)
    }
    return tf.tidy(() => {
      // Run as a dense conv whose [k, k, C, C] weight is zero off the channel diagonal: the same values and gradients
      // (the zeros add exact zeros), but through conv2dTorch, i.e. the native backend's oneDNN kernels with their
      // dilation and stride support. tfjs' depthwise kernels are plain JavaScript there, and tfjs-core has no
      // gradient for dilated depthwise convs: measured, a DARTS V2 training step (5 cells, C = 8, batch 32, 28×28)
      // took 17 s with them against 0.6–0.8 s this way (native backend, one thread). The summary counts the depthwise conv's k·k MACs per output.
      const diagonal = tf.reshape(tf.eye(this.channels), [1, 1, this.channels, this.channels])
      const dense = tf.mul(this.binarized(), diagonal) as tf.Tensor4D
      return conv2dTorch(x, dense, { stride: this.stride, padding: this.padding, dilation: this.dilation })
    })
  }

  trace(prefix: string, [input]: Shape3[], records: LayerRecord[]): Shape3 {
    const [h, w, c] = input
    if (c !== this.channels) throw new Error(`${prefix}: depthwise conv expects ${this.channels} channels, gets ${c}`)
    const size = (n: number) => torchOutSize(n, this.kernel, this.stride, this.padding, this.dilation)
    const output: Shape3 = [size(h), size(w), c]
    records.push({ name: prefix, module: this, input, output })
    return output
  }
}

/** Axes of a [k, k, 1, C] weight that one channel's α averages over. */
const TAPS = [0, 1, 2]

function scaledSign(w: tf.Tensor): { sign: tf.Tensor; alpha: tf.Tensor } {
  return { sign: tf.sign(w), alpha: tf.mean(tf.abs(w), TAPS, true) }
}

const binarizeDepthwiseXnor = tf.customGrad((latent, save) => {
  const w = latent as tf.Tensor
  ;(save as tf.GradSaveFunc)([w])
  const { sign, alpha } = scaledSign(w)
  return {
    value: tf.mul(sign, alpha),
    gradFunc: (dy, [kept]) => {
      const [kh, kw] = kept.shape
      const n = kh * kw
      const { sign: s, alpha: a } = scaledSign(kept)
      const inRange = tf.cast(tf.lessEqual(tf.abs(kept), 1), 'float32')
      const direct = tf.mul(tf.mul(dy, a), inRange)
      const viaAlpha = tf.mul(s, tf.div(tf.sum(tf.mul(s, dy), TAPS, true), n))
      return [tf.mul(tf.add(direct, viaAlpha), n)]
    }
  }
})

const binarizeDepthwiseSte = tf.customGrad((latent, save) => {
  const w = latent as tf.Tensor
  ;(save as tf.GradSaveFunc)([w])
  const { sign, alpha } = scaledSign(w)
  return {
    value: tf.mul(sign, alpha),
    gradFunc: (dy, [kept]) => [tf.where(tf.lessEqual(tf.abs(kept), 1), dy, tf.zerosLike(dy))]
  }
})

/**
 * BN(C) → sign (clipped STE) → binarized depthwise conv: the first half of a binary separable conv, in the order of
 * the BNAS binary ops (the BN before the sign sets what the sign sees). Children 'bn', 'conv'.
 */
export class BinaryDepthwiseBlock extends Module implements Traceable {
  readonly bn: BatchNorm2d
  readonly conv: BinaryDepthwiseConv2d

  constructor(channels: number, kernel: number, opts: DepthwiseOptions) {
    super()
    this.bn = this.registerModule('bn', new BatchNorm2d(channels, { affine: true }))
    this.conv = this.registerModule('conv', new BinaryDepthwiseConv2d(channels, kernel, opts))
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => this.conv.forward(this.bn.forwardSign(x, ctx), ctx))
  }

  trace(prefix: string, [input]: Shape3[], records: LayerRecord[]): Shape3 {
    if (input[2] !== this.bn.channels) throw new Error(`${prefix}: expects ${this.bn.channels} channels`)
    records.push({ name: `${prefix}.bn`, module: this.bn, input, output: input })
    return this.conv.trace(`${prefix}.conv`, [input], records)
  }
}

/** Every binarized depthwise conv under `module`: the training loop clamps their latent weights before each step. */
export function depthwiseConvsOf(module: Module): BinaryDepthwiseConv2d[] {
  const found: BinaryDepthwiseConv2d[] = []
  const walk = (m: Module): void => {
    if (m instanceof BinaryDepthwiseConv2d) found.push(m)
    for (const [, child] of m.namedChildren()) walk(child)
  }
  walk(module)
  return found
}
