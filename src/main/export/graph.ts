import * as tf from '@tensorflow/tfjs-core'
import { FinalCell, FinalNetwork, type Macro } from '../engine/network'
import {
  AvgPool3x3,
  BatchNorm2d,
  BinaryConvBlock,
  Conv2d,
  FloatConvBlock,
  GlobalAvgPool,
  Linear,
  MaxPool3x3,
  ReLU,
  Sequential,
  Zero,
  type Module
} from '../engine/nn'
import type { Genotype } from '../../shared/genotype'

/**
 * The exported network as plain data: a list of steps in execution order over named values (SSA), NHWC, weights
 * [kh, kw, C_in, C_out]. Every exporter (TF.js, ONNX, packed) and the packed runtime work from this one description,
 * lowered once from the engine's module tree, so all formats compute the same function.
 */
export interface BnParams {
  mean: Float32Array
  variance: Float32Array
  /** Present only for affine BNs. */
  gamma?: Float32Array
  beta?: Float32Array
}

export interface ConvGeometry {
  kernel: number
  cin: number
  cout: number
  stride: 1 | 2
  padding: number
  dilation: 1 | 2
}

export type Step =
  | { op: 'bn'; name: string; input: string; output: string; bn: BnParams }
  | ({
      op: 'conv'
      name: string
      input: string
      output: string
      weight: Float32Array
      bias?: Float32Array
    } & ConvGeometry)
  | ({
      op: 'binconv'
      name: string
      input: string
      output: string
      /** BN → sign(x) (sign(0) = 0) → conv with sign(W)·α (α per output channel) → ReLU. */
      bn: BnParams
      /** The latent weight [kh, kw, C_in, C_out]; the forward uses sign(weight)·alpha. */
      weight: Float32Array
      /** mean |W| per output channel, computed with the engine's own ops. */
      alpha: Float32Array
    } & ConvGeometry)
  | { op: 'relu'; name: string; input: string; output: string }
  | { op: 'maxpool' | 'avgpool' | 'zero'; name: string; input: string; output: string; stride: 1 | 2 }
  | { op: 'add'; name: string; inputs: [string, string]; output: string }
  | { op: 'concat'; name: string; inputs: string[]; output: string }
  | { op: 'gap'; name: string; input: string; output: string }
  | {
      op: 'linear'
      name: string
      input: string
      output: string
      weight: Float32Array
      bias: Float32Array
      inFeatures: number
      outFeatures: number
    }

export interface ModelMeta {
  genotype: Genotype
  cells: number
  channels: number
  classes: number
  macro: Macro
  inputShape: [number, number, number]
  classNames: string[]
  normalize: { mean: number[]; std: number[] }
}

export interface ExportGraph {
  meta: ModelMeta
  input: string
  output: string
  steps: Step[]
}

export function stepInputs(step: Step): string[] {
  return 'inputs' in step ? step.inputs : [step.input]
}

function data(v: tf.Tensor): Float32Array {
  return Float32Array.from(v.dataSync())
}

function bnParams(bn: BatchNorm2d): BnParams {
  const own = new Map([...bn.namedParameters(), ...bn.namedBuffers()])
  const get = (key: string): Float32Array | undefined => {
    const v = own.get(key)
    return v ? data(v) : undefined
  }
  return { mean: get('running_mean')!, variance: get('running_var')!, gamma: get('weight'), beta: get('bias') }
}

function geometry(conv: Conv2d): ConvGeometry {
  return {
    kernel: conv.kernel,
    cin: conv.inChannels,
    cout: conv.outChannels,
    stride: conv.stride,
    padding: conv.padding,
    dilation: conv.dilation
  }
}

/** α exactly as the engine's binarizeWeight computes it: mean |W| over kh, kw, C_in. */
function alphaOf(weight: tf.Variable): Float32Array {
  return tf.tidy(() => data(tf.mean(tf.abs(weight), [0, 1, 2])))
}

class Lowering {
  readonly steps: Step[] = []
  private counter = 0

  private value(name: string): string {
    return `${name}#${this.counter++}`
  }

  module(m: Module, input: string, name: string): string {
    if (m instanceof BinaryConvBlock) {
      const output = this.value(name)
      this.steps.push({
        op: 'binconv',
        name,
        input,
        output,
        bn: bnParams(m.bn),
        weight: data(m.conv.weight),
        alpha: alphaOf(m.conv.weight),
        ...geometry(m.conv)
      })
      return output
    }
    if (m instanceof FloatConvBlock) {
      const normed = this.module(m.bn, input, `${name}.bn`)
      return this.relu(this.module(m.conv, normed, `${name}.op.0`), `${name}.op.1`)
    }
    if (m instanceof Sequential) {
      return m.namedChildren().reduce((x, [child, sub]) => this.module(sub, x, `${name}.${child}`), input)
    }
    if (m instanceof BatchNorm2d) {
      const output = this.value(name)
      this.steps.push({ op: 'bn', name, input, output, bn: bnParams(m) })
      return output
    }
    if (m instanceof Conv2d) {
      if (m.binary) throw new Error(`${name}: a binary conv outside a BinaryConvBlock cannot be exported`)
      const output = this.value(name)
      this.steps.push({
        op: 'conv',
        name,
        input,
        output,
        weight: data(m.weight),
        bias: m.bias ? data(m.bias) : undefined,
        ...geometry(m)
      })
      return output
    }
    if (m instanceof ReLU) return this.relu(input, name)
    if (m instanceof MaxPool3x3 || m instanceof AvgPool3x3 || m instanceof Zero) {
      const output = this.value(name)
      const op = m instanceof MaxPool3x3 ? 'maxpool' : m instanceof AvgPool3x3 ? 'avgpool' : 'zero'
      this.steps.push({ op, name, input, output, stride: m.stride })
      return output
    }
    if (m instanceof GlobalAvgPool) {
      const output = this.value(name)
      this.steps.push({ op: 'gap', name, input, output })
      return output
    }
    if (m instanceof Linear) {
      const output = this.value(name)
      this.steps.push({
        op: 'linear',
        name,
        input,
        output,
        weight: data(m.weight),
        bias: data(m.bias),
        inFeatures: m.inFeatures,
        outFeatures: m.outFeatures
      })
      return output
    }
    throw new Error(`${name}: no export for module ${m.constructor.name}`)
  }

  relu(input: string, name: string): string {
    const output = this.value(name)
    this.steps.push({ op: 'relu', name, input, output })
    return output
  }

  cell(cell: FinalCell, s0: string, s1: string, name: string): string {
    const [name0, name1] = cell.namedChildren().map(([child]) => child)
    const states = [
      this.module(cell.preprocess0, s0, `${name}.${name0}`),
      this.module(cell.preprocess1, s1, `${name}.${name1}`)
    ]
    for (let node = 0; node < cell.ops.length / 2; node++) {
      const [a, b] = [2 * node, 2 * node + 1].map((i) =>
        this.module(cell.ops[i], states[cell.indices[i]], `${name}._ops.${i}`)
      )
      const output = this.value(`${name}.node${node}`)
      this.steps.push({ op: 'add', name: `${name}.node${node}`, inputs: [a, b], output })
      states.push(output)
    }
    const concat = this.value(`${name}.concat`)
    this.steps.push({ op: 'concat', name: `${name}.concat`, inputs: cell.concat.map((i) => states[i]), output: concat })
    if (cell.plan.index === 0) return concat
    const skip = cell.preprocessRes ? this.module(cell.preprocessRes, s1, `${name}.preprocess_res`) : s1
    const output = this.value(`${name}.out`)
    this.steps.push({ op: 'add', name: `${name}.skip`, inputs: [concat, skip], output })
    return output
  }
}

/** Lowers a final network (eval mode: BN with running statistics, no drop-path) to an export graph. */
export function lowerNetwork(net: FinalNetwork, meta: ModelMeta): ExportGraph {
  const lowering = new Lowering()
  const input = 'input'
  const names = net.namedChildren().map(([child]) => child)
  let s0 = lowering.module(net.stems[0], input, names[0])
  let s1 = net.stems.length === 1 ? s0 : lowering.module(net.stems[1], s0, names[1])
  for (const cell of net.cells) [s0, s1] = [s1, lowering.cell(cell, s0, s1, `cells.${cell.plan.index}`)]
  const pooled = lowering.module(net.globalPooling, s1, 'global_pooling')
  const output = lowering.module(net.classifier, pooled, 'classifier')
  return { meta, input, output, steps: lowering.steps }
}

/** Output shape [H, W, C] of every value for one input image, from the geometry of the steps. */
export function inferShapes(graph: ExportGraph): Map<string, [number, number, number]> {
  const shapes = new Map<string, [number, number, number]>([[graph.input, graph.meta.inputShape]])
  const out = (size: number, k: number, s: number, p: number, d = 1): number =>
    Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1
  for (const step of graph.steps) {
    const get = (name: string): [number, number, number] => {
      const shape = shapes.get(name)
      if (!shape) throw new Error(`${step.name}: input '${name}' is not computed before it is used`)
      return shape
    }
    switch (step.op) {
      case 'conv':
      case 'binconv': {
        const [h, w, c] = get(step.input)
        if (c !== step.cin) throw new Error(`${step.name}: input has ${c} channels, the conv expects ${step.cin}`)
        const { kernel: k, stride: s, padding: p, dilation: d } = step
        shapes.set(step.output, [out(h, k, s, p, d), out(w, k, s, p, d), step.cout])
        break
      }
      case 'maxpool':
      case 'avgpool': {
        const [h, w, c] = get(step.input)
        shapes.set(step.output, [out(h, 3, step.stride, 1), out(w, 3, step.stride, 1), c])
        break
      }
      case 'zero': {
        const [h, w, c] = get(step.input)
        shapes.set(step.output, step.stride === 2 ? [Math.ceil(h / 2), Math.ceil(w / 2), c] : [h, w, c])
        break
      }
      case 'add': {
        const [a, b] = step.inputs.map(get)
        if (a.join() !== b.join()) throw new Error(`${step.name}: adding shapes ${a} and ${b}`)
        shapes.set(step.output, a)
        break
      }
      case 'concat': {
        const parts = step.inputs.map(get)
        shapes.set(step.output, [parts[0][0], parts[0][1], parts.reduce((sum, p) => sum + p[2], 0)])
        break
      }
      case 'gap':
        shapes.set(step.output, [1, 1, get(step.input)[2]])
        break
      case 'linear':
        get(step.input)
        shapes.set(step.output, [1, 1, step.outFeatures])
        break
      default:
        shapes.set(step.output, get(step.input))
    }
  }
  return shapes
}
