import * as tf from '@tensorflow/tfjs-core'
import {
  avgPool3x3Torch,
  batchNorm,
  batchNormSignSte,
  binarizeWeight,
  conv2dTorch,
  maxPool3x3Torch,
  reluKeepingOutput,
  zeroise
} from '../ops'
import { binaryConvReluInference, useBinaryInferenceKernel } from '../ops/binary-inference'
import { conv2dReluFused, useFusedKernels } from '../ops/fused'
import type { WeightGradientMode } from '../ops'
import { Module, type ForwardContext } from './module'
import type { Rng } from './rng'

/**
 * nn.BatchNorm2d(channels, affine): eps 1e-5, momentum 0.1, γ = 1, β = 0. Parameter and buffer names follow PyTorch
 * ('weight', 'bias', 'running_mean', 'running_var') so state dicts line up name for name.
 */
export class BatchNorm2d extends Module {
  readonly channels: number
  readonly affine: boolean
  private readonly gamma?: tf.Variable
  private readonly beta?: tf.Variable
  private readonly runningMean: tf.Variable
  private readonly runningVar: tf.Variable

  constructor(channels: number, opts: { affine: boolean }) {
    super()
    this.channels = channels
    this.affine = opts.affine
    if (opts.affine) {
      this.gamma = this.registerParameter('weight', tf.ones([channels]))
      this.beta = this.registerParameter('bias', tf.zeros([channels]))
    }
    this.runningMean = this.registerBuffer('running_mean', tf.zeros([channels]))
    this.runningVar = this.registerBuffer('running_var', tf.ones([channels]))
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return batchNorm(
      x,
      { runningMean: this.runningMean, runningVar: this.runningVar, gamma: this.gamma, beta: this.beta },
      ctx.training
    )
  }

  /** sign(BN(x)) with the clipped STE: the start of a binary op, fused on the native backend in training. */
  forwardSign(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return batchNormSignSte(
      x,
      { runningMean: this.runningMean, runningVar: this.runningVar, gamma: this.gamma, beta: this.beta },
      ctx.training
    )
  }
}

export interface Conv2dOptions {
  stride?: 1 | 2
  padding?: number
  dilation?: 1 | 2
  /** Default false: every conv of the method is bias-free except the reduction residual 2×2 conv. */
  bias?: boolean
  /** Binarize the weight (XNOR-Net, spec 2.1): forward sign(W)·α, latent weight listed by binaryWeights(). */
  binary?: boolean
  /** Gradient of a binary weight: 'xnor' (authors' transform, default) or 'ste'. */
  weightGradient?: WeightGradientMode
  rng: Rng
}

/**
 * nn.Conv2d with weight [kh, kw, C_in, C_out] and PyTorch's padding/stride/dilation geometry. Initialised like
 * PyTorch's default (kaiming_uniform with a = √5, i.e. U(±1/√fan_in), and the bias U(±1/√fan_in)).
 */
export class Conv2d extends Module {
  readonly inChannels: number
  readonly outChannels: number
  readonly kernel: number
  readonly stride: 1 | 2
  readonly padding: number
  readonly dilation: 1 | 2
  readonly binary: boolean
  readonly weightGradient: WeightGradientMode
  readonly weight: tf.Variable
  readonly bias?: tf.Variable

  constructor(cin: number, cout: number, kernel: number, opts: Conv2dOptions) {
    super()
    this.inChannels = cin
    this.outChannels = cout
    this.kernel = kernel
    this.stride = opts.stride ?? 1
    this.padding = opts.padding ?? 0
    this.dilation = opts.dilation ?? 1
    this.binary = opts.binary ?? false
    this.weightGradient = opts.weightGradient ?? 'xnor'
    if (this.binary && opts.bias) throw new Error('a binarized conv has no bias (BinOp binarizes weights only)')
    const bound = 1 / Math.sqrt(cin * kernel * kernel)
    const shape: [number, number, number, number] = [kernel, kernel, cin, cout]
    const values = opts.rng.uniformArray(kernel * kernel * cin * cout, -bound, bound)
    this.weight = this.registerParameter('weight', tf.tensor4d(values, shape), { binary: this.binary })
    if (opts.bias) this.bias = this.registerParameter('bias', tf.tensor1d(opts.rng.uniformArray(cout, -bound, bound)))
  }

  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const y = conv2dTorch(x, this.effectiveWeight(), {
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation
      })
      return this.bias ? tf.add(y, this.bias) : y
    })
  }

  /**
   * relu(forward(x)): the conv blocks' conv → ReLU. In inference, binary, on native or webgpu: the bit-packed binary
   * kernel where it pays (ops/binary-inference.ts). On the native backend one fused kernel (the ReLU inside the conv,
   * no pre-activation tensor); elsewhere the conv, then a ReLU whose gradient keeps its output.
   */
  forwardRelu(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    // In inference a binary conv's input is already signs (BN → sign), so the bit-packed kernel gives the same values.
    if (this.binary && !ctx.training && useBinaryInferenceKernel(this.inChannels, this.kernel)) {
      return binaryConvReluInference(x, this.weight as unknown as tf.Tensor4D, {
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation
      })
    }
    if (this.bias || !useFusedKernels()) return tf.tidy(() => reluKeepingOutput(this.forward(x, ctx)))
    return tf.tidy(() =>
      conv2dReluFused(
        x,
        this.effectiveWeight(),
        { stride: this.stride, padding: this.padding, dilation: this.dilation },
        ctx.differentiate
      )
    )
  }

  /** The weight the conv applies: sign(W)·α of the latent weight when binary, W itself otherwise. */
  private effectiveWeight(): tf.Tensor4D {
    const latent = this.weight as unknown as tf.Tensor4D
    return this.binary ? binarizeWeight(latent, { gradient: this.weightGradient }) : latent
  }
}

/**
 * nn.Linear with weight [in, out] (PyTorch stores [out, in]) and PyTorch's default U(±1/√in) initialisation.
 * forward() accepts [N, 1, 1, in] (after global pooling) and returns [N, 1, 1, out]; forward2d() is the plain form.
 */
export class Linear extends Module {
  readonly inFeatures: number
  readonly outFeatures: number
  readonly weight: tf.Variable
  readonly bias: tf.Variable

  constructor(inFeatures: number, outFeatures: number, opts: { rng: Rng }) {
    super()
    this.inFeatures = inFeatures
    this.outFeatures = outFeatures
    const bound = 1 / Math.sqrt(inFeatures)
    this.weight = this.registerParameter(
      'weight',
      tf.tensor2d(opts.rng.uniformArray(inFeatures * outFeatures, -bound, bound), [inFeatures, outFeatures])
    )
    this.bias = this.registerParameter('bias', tf.tensor1d(opts.rng.uniformArray(outFeatures, -bound, bound)))
  }

  forward2d(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(x, this.weight as unknown as tf.Tensor2D), this.bias))
  }

  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const [n] = x.shape
      return tf.reshape(this.forward2d(tf.reshape(x, [n, -1])), [n, 1, 1, this.outFeatures])
    })
  }
}

export class ReLU extends Module {
  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return tf.relu(x)
  }
}

/** nn.MaxPool2d(3, stride, padding=1). */
export class MaxPool3x3 extends Module {
  constructor(readonly stride: 1 | 2) {
    super()
  }

  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return maxPool3x3Torch(x, this.stride)
  }
}

/** nn.AvgPool2d(3, stride, padding=1, count_include_pad=False). */
export class AvgPool3x3 extends Module {
  constructor(readonly stride: 1 | 2) {
    super()
  }

  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return avgPool3x3Torch(x, this.stride)
  }
}

/** The Zeroise op (authors' `Zero`): zeros of the (strided) input's shape, kept in the graph. */
export class Zero extends Module {
  constructor(readonly stride: 1 | 2) {
    super()
  }

  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return zeroise(x, this.stride)
  }
}

/** nn.AdaptiveAvgPool2d(1): [N, H, W, C] → [N, 1, 1, C]. */
export class GlobalAvgPool extends Module {
  forward(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor4D {
    return tf.mean(x, [1, 2], true)
  }
}
