import * as tf from '@tensorflow/tfjs-core'
import type { WeightGradientMode } from '../ops'
import { BatchNorm2d, Conv2d, ReLU } from './layers'
import { Module, Sequential, type ForwardContext } from './module'
import type { Rng } from './rng'

export interface ConvBlockOptions {
  stride?: 1 | 2
  padding?: number
  dilation?: 1 | 2
  /** BN affine: true in final networks, false during search (and for the CIFAR stride-2 preprocess0). */
  affine: boolean
  rng: Rng
}

/**
 * The authors' BinReLUConvBN / BinDilConv: BN(C_in) → sign (clipped STE) → binarized conv (no bias) → ReLU.
 * Children are named like the PyTorch modules ('bn', 'op.0' = conv) so parameter names match the authors' state dicts.
 */
export class BinaryConvBlock extends Module {
  readonly bn: BatchNorm2d
  readonly conv: Conv2d

  constructor(
    cin: number,
    cout: number,
    kernel: number,
    opts: ConvBlockOptions & { weightGradient?: WeightGradientMode }
  ) {
    super()
    this.bn = this.registerModule('bn', new BatchNorm2d(cin, { affine: opts.affine }))
    this.conv = new Conv2d(cin, cout, kernel, {
      stride: opts.stride,
      padding: opts.padding,
      dilation: opts.dilation,
      binary: true,
      weightGradient: opts.weightGradient,
      rng: opts.rng
    })
    this.registerModule('op', new Sequential(this.conv, new ReLU()))
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => this.conv.forwardRelu(this.bn.forwardSign(x, ctx), ctx))
  }
}

/**
 * The authors' ReLUConvBN (the name is historical: the order really is BN(C_in) → float conv (no bias) → ReLU).
 * Search-phase preprocessing (affine false) and the CIFAR stem (affine true).
 */
export class FloatConvBlock extends Module {
  readonly bn: BatchNorm2d
  readonly conv: Conv2d

  constructor(cin: number, cout: number, kernel: number, opts: ConvBlockOptions) {
    super()
    this.bn = this.registerModule('bn', new BatchNorm2d(cin, { affine: opts.affine }))
    this.conv = new Conv2d(cin, cout, kernel, {
      stride: opts.stride,
      padding: opts.padding,
      dilation: opts.dilation,
      rng: opts.rng
    })
    this.registerModule('op', new Sequential(this.conv, new ReLU()))
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => this.conv.forwardRelu(this.bn.forward(x, ctx), ctx))
  }
}

/**
 * The reduction cell's float residual `preprocess_res`: BN(C_prev, affine) → Conv2d(C_prev → cout, 2×2, stride 2, with
 * bias). Names '0.*' (BN) and '1.*' (conv) as the authors' nn.Sequential. Stays float in every phase (spec 0).
 */
export function createReductionResidual(cPrev: number, cout: number, opts: { rng: Rng }): Sequential {
  return new Sequential(
    new BatchNorm2d(cPrev, { affine: true }),
    new Conv2d(cPrev, cout, 2, { stride: 2, padding: 0, bias: true, rng: opts.rng })
  )
}
