import type { Macro } from '../engine/network'
import type { Genotype } from '../../shared/genotype'

// The export graph as data, with its shape inference: no TF.js and no engine code at run time (type imports only),
// so the packed runtime can use it in a browser bundle. graph.ts lowers the engine's network to it.

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
