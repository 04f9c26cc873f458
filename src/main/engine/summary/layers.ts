import { AvgPool3x3, BatchNorm2d, Conv2d, GlobalAvgPool, Linear, MaxPool3x3, ReLU, Zero } from '../nn'
import type { LayerRecord, Shape3 } from '../network'
import { AvgPool2x2, BinaryDepthwiseConv2d } from '../network/baselines/layers'

export type LayerKind =
  | 'binary-conv'
  | 'conv'
  | 'residual-conv'
  | 'linear'
  | 'batchnorm'
  | 'max-pool'
  | 'avg-pool'
  | 'zeroise'
  | 'relu'
  | 'global-pool'

/** One leaf layer of a built network with what it costs. */
export interface LayerSummary {
  /** Dotted name, as in namedParameters ('cells.6.preprocess_res.1'). */
  name: string
  kind: LayerKind
  /** e.g. '3x3 s2 p1 d2', for convs. */
  geometry?: string
  input: Shape3
  output: Shape3
  /** Weight scalars of a conv or linear layer (without bias). */
  weights: number
  /** Weights binarized to 1 bit (XNOR-Net sign·α; the per-channel α are derived, not stored parameters). */
  binaryParams: number
  /** Every other trainable scalar: BN γ/β, float conv weights, biases, the classifier. */
  floatParams: number
  /** Binary multiply-accumulates per image. */
  bops: number
  /** Float multiply-accumulates per image (convs and the classifier; BN, pooling, adds not counted, spec 8.2). */
  flops: number
}

/**
 * The reduction cells' float 2×2 residual conv (`preprocess_res`). The authors' BinOp recognises it by 'res' in its
 * module name; here its own name part identifies it.
 */
export function isResidualConv(name: string): boolean {
  return /(^|\.)preprocess_res\./.test(name)
}

function trainableCount(record: LayerRecord): number {
  return record.module.namedParameters().reduce((sum, [, v]) => sum + v.size, 0)
}

/** Costs of one leaf record, from the module's own attributes and the traced output shape. */
export function summarizeLayer(record: LayerRecord): LayerSummary {
  const { name, module, input, output } = record
  const base = {
    name,
    input,
    output,
    weights: 0,
    binaryParams: 0,
    floatParams: trainableCount(record),
    bops: 0,
    flops: 0
  }
  if (module instanceof Conv2d) {
    const macs = output[0] * output[1] * module.outChannels * module.inChannels * module.kernel * module.kernel
    const weights = module.weight.size
    base.weights = weights
    const geometry =
      `${module.kernel}x${module.kernel} s${module.stride} p${module.padding}` +
      (module.dilation > 1 ? ` d${module.dilation}` : '')
    if (module.binary) {
      return {
        ...base,
        kind: 'binary-conv',
        geometry,
        binaryParams: weights,
        floatParams: base.floatParams - weights,
        bops: macs
      }
    }
    return { ...base, kind: isResidualConv(name) ? 'residual-conv' : 'conv', geometry, flops: macs }
  }
  if (module instanceof BinaryDepthwiseConv2d) {
    // The baselines' binarized depthwise conv (DARTS' separable convs): k·k MACs per output value.
    const weights = module.weight.size
    const geometry =
      `dw ${module.kernel}x${module.kernel} s${module.stride} p${module.padding}` +
      (module.dilation > 1 ? ` d${module.dilation}` : '')
    const bops = output[0] * output[1] * output[2] * module.kernel * module.kernel
    return { ...base, kind: 'binary-conv', geometry, weights, binaryParams: weights, floatParams: 0, bops }
  }
  if (module instanceof Linear) {
    return { ...base, kind: 'linear', weights: module.weight.size, flops: module.inFeatures * module.outFeatures }
  }
  if (module instanceof BatchNorm2d) return { ...base, kind: 'batchnorm' }
  if (module instanceof MaxPool3x3) return { ...base, kind: 'max-pool' }
  if (module instanceof AvgPool3x3 || module instanceof AvgPool2x2) return { ...base, kind: 'avg-pool' }
  if (module instanceof Zero) return { ...base, kind: 'zeroise' }
  if (module instanceof ReLU) return { ...base, kind: 'relu' }
  if (module instanceof GlobalAvgPool) return { ...base, kind: 'global-pool' }
  throw new Error(`${name}: no cost model for a ${module.constructor.name}`)
}
