import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import {
  avgPool3x3Torch,
  batchNorm,
  binarizeWeight,
  conv2dTorch,
  maxPool3x3Torch,
  signSte,
  torchOutSize,
  zeroise
} from '../../engine/ops'

/**
 * The project's TF.js layers: the BNAS ops as tfjs-layers classes with explicit class names (they survive
 * minification) and full configs, registered with tf.serialization so `tf.loadLayersModel` rebuilds a saved model
 * once this module is imported. Each layer computes with the engine's own ops, so a reloaded model gives the engine's
 * outputs. Inference only: batch norm always uses its running statistics.
 */

type Shape = Array<number | null>
type Kwargs = Record<string, unknown>

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor4D {
  return (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D
}

function singleShape(inputShape: Shape | Shape[]): Shape {
  return Array.isArray(inputShape[0]) ? (inputShape[0] as Shape) : (inputShape as Shape)
}

const size = (n: number | null, k: number, s: number, p: number, d = 1): number | null =>
  n === null ? null : torchOutSize(n, k, s, p, d)

type AddWeight = (name: string, init: 'ones' | 'zeros', trainable: boolean) => tfl.LayerVariable

/** BN weights in a fixed order: [gamma, beta,] moving_mean, moving_variance. */
function addBnWeights(add: AddWeight, affine: boolean) {
  const gamma = affine ? add('gamma', 'ones', true) : undefined
  const beta = affine ? add('beta', 'zeros', true) : undefined
  return { gamma, beta, mean: add('moving_mean', 'zeros', false), variance: add('moving_variance', 'ones', false) }
}

const initializer = (init: 'ones' | 'zeros') => (init === 'ones' ? tfl.initializers.ones() : tfl.initializers.zeros())

type BnWeights = ReturnType<typeof addBnWeights>

function applyBn(x: tf.Tensor4D, w: BnWeights): tf.Tensor4D {
  return batchNorm(
    x,
    {
      runningMean: w.mean.read() as tf.Variable,
      runningVar: w.variance.read() as tf.Variable,
      gamma: w.gamma?.read(),
      beta: w.beta?.read()
    },
    false
  )
}

/** nn.BatchNorm2d in eval mode (eps 1e-5). */
export class BnasBatchNorm extends tfl.layers.Layer {
  static className = 'BnasBatchNorm'
  readonly channels: number
  readonly affine: boolean
  private bn?: BnWeights

  constructor(config: { channels: number; affine: boolean; name?: string }) {
    super(config)
    this.channels = config.channels
    this.affine = config.affine
  }

  override build(): void {
    this.bn = addBnWeights(
      (name, init, trainable) =>
        this.addWeight(name, [this.channels], 'float32', initializer(init), undefined, trainable),
      this.affine
    )
    this.built = true
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => applyBn(one(inputs), this.bn!))
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), channels: this.channels, affine: this.affine }
  }
}

interface ConvConfig {
  filters: number
  kernelSize: number
  stride: 1 | 2
  padding: number
  dilation: 1 | 2
}

/** A float conv with PyTorch geometry (symmetric zero padding), weight [kh, kw, C_in, C_out], optional bias. */
export class BnasTorchConv2D extends tfl.layers.Layer {
  static className = 'BnasTorchConv2D'
  readonly conv: ConvConfig
  readonly useBias: boolean
  private kernel?: tfl.LayerVariable
  private bias?: tfl.LayerVariable

  constructor(config: ConvConfig & { useBias: boolean; name?: string }) {
    super(config)
    this.conv = {
      filters: config.filters,
      kernelSize: config.kernelSize,
      stride: config.stride,
      padding: config.padding,
      dilation: config.dilation
    }
    this.useBias = config.useBias
  }

  override build(inputShape: Shape | Shape[]): void {
    const cin = singleShape(inputShape)[3] as number
    const { kernelSize: k, filters } = this.conv
    this.kernel = this.addWeight('kernel', [k, k, cin, filters], 'float32', tfl.initializers.zeros())
    if (this.useBias) this.bias = this.addWeight('bias', [filters], 'float32', tfl.initializers.zeros())
    this.built = true
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w] = singleShape(inputShape)
    const { kernelSize: k, stride: s, padding: p, dilation: d, filters } = this.conv
    return [n, size(h, k, s, p, d), size(w, k, s, p, d), filters]
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const y = conv2dTorch(one(inputs), this.kernel!.read() as tf.Tensor4D, this.conv)
      return this.bias ? tf.add(y, this.bias.read()) : y
    })
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.conv, useBias: this.useBias }
  }
}

/**
 * The binary conv block (BinReLUConvBN / BinDilConv): BN → sign (sign(0) = 0) → conv with sign(W)·α (α = mean |W| per
 * output channel, from the stored latent weight) → ReLU.
 */
export class BnasBinaryConv2D extends tfl.layers.Layer {
  static className = 'BnasBinaryConv2D'
  readonly conv: ConvConfig
  readonly affine: boolean
  private bn?: BnWeights
  private kernel?: tfl.LayerVariable

  constructor(config: ConvConfig & { affine: boolean; name?: string }) {
    super(config)
    this.conv = {
      filters: config.filters,
      kernelSize: config.kernelSize,
      stride: config.stride,
      padding: config.padding,
      dilation: config.dilation
    }
    this.affine = config.affine
  }

  override build(inputShape: Shape | Shape[]): void {
    const cin = singleShape(inputShape)[3] as number
    const { kernelSize: k, filters } = this.conv
    this.bn = addBnWeights(
      (name, init, trainable) =>
        this.addWeight(`bn_${name}`, [cin], 'float32', initializer(init), undefined, trainable),
      this.affine
    )
    this.kernel = this.addWeight('kernel', [k, k, cin, filters], 'float32', tfl.initializers.zeros())
    this.built = true
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w] = singleShape(inputShape)
    const { kernelSize: k, stride: s, padding: p, dilation: d, filters } = this.conv
    return [n, size(h, k, s, p, d), size(w, k, s, p, d), filters]
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const signs = signSte(applyBn(one(inputs), this.bn!))
      const weight = binarizeWeight(this.kernel!.read() as tf.Tensor4D)
      return tf.relu(conv2dTorch(signs, weight, this.conv))
    })
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.conv, affine: this.affine }
  }
}

/** 3×3 pooling with padding 1 and PyTorch semantics: max pads with −∞, avg has count_include_pad = False. */
export class BnasPool3x3 extends tfl.layers.Layer {
  static className = 'BnasPool3x3'
  readonly mode: 'max' | 'avg'
  readonly stride: 1 | 2

  constructor(config: { mode: 'max' | 'avg'; stride: 1 | 2; name?: string }) {
    super(config)
    this.mode = config.mode
    this.stride = config.stride
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w, c] = singleShape(inputShape)
    return [n, size(h, 3, this.stride, 1), size(w, 3, this.stride, 1), c]
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return (this.mode === 'max' ? maxPool3x3Torch : avgPool3x3Torch)(one(inputs), this.stride)
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode, stride: this.stride }
  }
}

/** Zeroise: x·0, after x[:, ::2, ::2] at stride 2 (kept in the graph so the cell's node sums stay correct). */
export class BnasZeroise extends tfl.layers.Layer {
  static className = 'BnasZeroise'
  readonly stride: 1 | 2

  constructor(config: { stride: 1 | 2; name?: string }) {
    super(config)
    this.stride = config.stride
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w, c] = singleShape(inputShape)
    const half = (v: number | null) => (v === null ? null : Math.ceil(v / 2))
    return this.stride === 2 ? [n, half(h), half(w), c] : [n, h, w, c]
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    return zeroise(one(inputs), this.stride)
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), stride: this.stride }
  }
}

export const BNAS_LAYER_CLASSES = [BnasBatchNorm, BnasTorchConv2D, BnasBinaryConv2D, BnasPool3x3, BnasZeroise]
for (const cls of BNAS_LAYER_CLASSES)
  tf.serialization.registerClass(
    cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>
  )
