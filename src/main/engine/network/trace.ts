import {
  BinaryConvBlock,
  BatchNorm2d,
  Conv2d,
  FloatConvBlock,
  GlobalAvgPool,
  Linear,
  Module,
  ReLU,
  Sequential
} from '../nn'
import { AvgPool3x3, MaxPool3x3, Zero } from '../nn'
import { torchOutSize } from '../ops'

/** Height, width, channels of one sample (NHWC without N). */
export type Shape3 = [number, number, number]

/**
 * One leaf module met while walking a network for a given input size: its dotted name (the same names as
 * namedParameters), the module object itself and the shapes it sees. The summary counts parameters and MACs from these
 * records, i.e. from the modules that were really built, never from a separate formula.
 */
export interface LayerRecord {
  name: string
  module: Module
  input: Shape3
  output: Shape3
}

/** A module whose data flow is not a plain chain (cells, networks) walks itself. */
export interface Traceable {
  trace(prefix: string, inputs: Shape3[], records: LayerRecord[], blocks?: Map<string, Shape3>): Shape3
}

function isTraceable(module: Module): module is Module & Traceable {
  return typeof (module as Partial<Traceable>).trace === 'function'
}

export function joinName(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name
}

function strided([h, w, c]: Shape3, stride: number, channels = c): Shape3 {
  // Pools (k 3, pad 1) and the strided Zeroise ([::2, ::2]) both give ceil(size / stride) = torch's (size-1)//s + 1.
  return [torchOutSize(h, 3, stride, 1), torchOutSize(w, 3, stride, 1), channels]
}

/**
 * Walks `module` on an input of `input` shape, appending a record per leaf, and returns the output shape.
 * Blocks of the nn library (BinaryConvBlock, FloatConvBlock, Sequential) are chains of their children in registration
 * order, so they are walked generically; the leaves compute their output size from their own attributes.
 */
export function traceModule(prefix: string, module: Module, input: Shape3, records: LayerRecord[]): Shape3 {
  if (isTraceable(module)) return module.trace(prefix, [input], records)
  const leaf = (output: Shape3): Shape3 => {
    records.push({ name: prefix, module, input, output })
    return output
  }
  const [h, w, c] = input
  if (module instanceof Conv2d) {
    if (module.inChannels !== c) throw new Error(`${prefix}: conv expects ${module.inChannels} channels, gets ${c}`)
    const size = (n: number) => torchOutSize(n, module.kernel, module.stride, module.padding, module.dilation)
    return leaf([size(h), size(w), module.outChannels])
  }
  if (module instanceof Linear) {
    if (module.inFeatures !== h * w * c) throw new Error(`${prefix}: linear expects ${module.inFeatures} features`)
    return leaf([1, 1, module.outFeatures])
  }
  if (module instanceof BatchNorm2d) {
    if (module.channels !== c) throw new Error(`${prefix}: batch norm expects ${module.channels} channels, gets ${c}`)
    return leaf(input)
  }
  if (module instanceof ReLU) return leaf(input)
  if (module instanceof GlobalAvgPool) return leaf([1, 1, c])
  if (module instanceof MaxPool3x3 || module instanceof AvgPool3x3 || module instanceof Zero) {
    return leaf(strided(input, module.stride))
  }
  if (module instanceof Sequential || module instanceof BinaryConvBlock || module instanceof FloatConvBlock) {
    // e.g. BinaryConvBlock = bn, op.0 (conv), op.1 (ReLU): the sign between bn and conv has no module and no cost.
    return module
      .namedChildren()
      .reduce((shape, [name, child]) => traceModule(joinName(prefix, name), child, shape, records), input)
  }
  throw new Error(`${prefix || 'module'}: cannot trace a ${module.constructor.name}`)
}
