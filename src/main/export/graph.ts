import * as tf from '@tensorflow/tfjs-core'
import { FinalCell, FinalNetwork } from '../engine/network'
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
import type { BnParams, ConvGeometry, ExportGraph, ModelMeta, Step } from './steps'

// The export graph's types and shape inference live in steps.ts (free of TF.js, for the packed runtime).
export * from './steps'

/** How the lowering reads a tensor's values (synchronously, or from values read ahead: see lowerNetworkAsync). */
type ReadValues = (v: tf.Tensor) => Float32Array

const readSync: ReadValues = (v) => Float32Array.from(v.dataSync())

function bnParams(bn: BatchNorm2d, data: ReadValues): BnParams {
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
function alphaOf(weight: tf.Variable, data: ReadValues): Float32Array {
  return tf.tidy(() => data(tf.mean(tf.abs(weight), [0, 1, 2])))
}

class Lowering {
  readonly steps: Step[] = []
  private counter = 0

  constructor(private readonly data: ReadValues) {}

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
        bn: bnParams(m.bn, this.data),
        weight: this.data(m.conv.weight),
        alpha: alphaOf(m.conv.weight, this.data),
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
      this.steps.push({ op: 'bn', name, input, output, bn: bnParams(m, this.data) })
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
        weight: this.data(m.weight),
        bias: m.bias ? this.data(m.bias) : undefined,
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
        weight: this.data(m.weight),
        bias: this.data(m.bias),
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

/**
 * Lowers a final network (eval mode: BN with running statistics, no drop-path) to an export graph. Reads tensors
 * synchronously: on backends that cannot (webgpu in Node), use lowerNetworkAsync.
 */
export function lowerNetwork(net: FinalNetwork, meta: ModelMeta, read: ReadValues = readSync): ExportGraph {
  const lowering = new Lowering(read)
  const input = 'input'
  const names = net.namedChildren().map(([child]) => child)
  let s0 = lowering.module(net.stems[0], input, names[0])
  let s1 = net.stems.length === 1 ? s0 : lowering.module(net.stems[1], s0, names[1])
  for (const cell of net.cells) [s0, s1] = [s1, lowering.cell(cell, s0, s1, `cells.${cell.plan.index}`)]
  const pooled = lowering.module(net.globalPooling, s1, 'global_pooling')
  const output = lowering.module(net.classifier, pooled, 'classifier')
  return { meta, input, output, steps: lowering.steps }
}

/**
 * lowerNetwork on every backend: webgpu has no synchronous reads in Node (its readSync needs OffscreenCanvas). A first
 * pass starts an asynchronous read of each tensor the lowering needs, in the order it needs them (derived ones such as
 * α included, read before their tidy frees them); a second pass lowers with those values.
 */
export async function lowerNetworkAsync(net: FinalNetwork, meta: ModelMeta): Promise<ExportGraph> {
  const reads: Array<Promise<Float32Array>> = []
  lowerNetwork(net, meta, (v) => {
    // A kept clone shares v's data, so a derived tensor freed by its tidy stays readable until the read is done.
    const held = tf.keep(tf.clone(v))
    reads.push(
      held
        .data()
        .then((d) => Float32Array.from(d as Float32Array))
        .finally(() => held.dispose())
    )
    return new Float32Array(v.size)
  })
  const values = await Promise.all(reads)
  let next = 0
  return lowerNetwork(net, meta, () => values[next++])
}
