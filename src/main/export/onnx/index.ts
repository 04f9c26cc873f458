import type { BnParams, ExportGraph } from '../graph'
import { bnInverse } from '../packed/runtime/reference'
import { ATTR, ONNX_FLOAT, ONNX_INT64, onnxRoot } from './schema'

/**
 * ONNX export (opset 13, standard ops only) of a lowered network. Layout is ONNX's own: input `input` [N, C, H, W]
 * (normalised as the model was trained), output `logits` [N, classes].
 *
 * - BN: Sub(mean) → Mul(1/√(var+eps)) → Mul(γ) → Add(β), the engine's own order of float32 ops (a fused
 *   BatchNormalization rounds differently, which could move a value across 0 before a Sign).
 * - Binary conv: the BN above → Sign (sign(0) = 0, as torch.sign) → Conv with the constant weight sign(W)·α (exactly the
 *   binarized weight the engine uses) → Relu. Explicit symmetric pads, strides and dilations give PyTorch's geometry.
 * - Pools: MaxPool (pads never win) and AveragePool with count_include_pad = 0, kernel 3, pads 1.
 * - Zeroise: Mul(x, 0), after Slice(steps 2) at stride 2, so NaN/Inf propagate as the authors' x.mul(0.).
 * - Head: GlobalAveragePool → Flatten → Gemm.
 */
export interface OnnxExportOptions {
  producerVersion?: string
}

interface Tensor {
  name: string
  dims: number[]
  data_type: number
  raw_data: Uint8Array
}

function floatTensor(name: string, dims: number[], values: Float32Array): Tensor {
  return {
    name,
    dims,
    data_type: ONNX_FLOAT,
    raw_data: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength))
  }
}

function int64Tensor(name: string, values: number[]): Tensor {
  const bytes = new Uint8Array(values.length * 8)
  const view = new DataView(bytes.buffer)
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true))
  return { name, dims: [values.length], data_type: ONNX_INT64, raw_data: bytes }
}

/** [kh, kw, C_in, C_out] → [C_out, C_in, kh, kw]. */
function toOihw(
  weight: Float32Array,
  k: number,
  cin: number,
  cout: number,
  map?: (v: number, o: number) => number
): Float32Array {
  const out = new Float32Array(weight.length)
  for (let ky = 0; ky < k; ky++) {
    for (let kx = 0; kx < k; kx++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let co = 0; co < cout; co++) {
          const v = weight[((ky * k + kx) * cin + ci) * cout + co]
          out[((co * cin + ci) * k + ky) * k + kx] = map ? map(v, co) : v
        }
      }
    }
  }
  return out
}

type Attr = { name: string; type: number; i?: number; ints?: number[]; f?: number }

class OnnxBuilder {
  readonly nodes: Array<{ input: string[]; output: string[]; name: string; op_type: string; attribute: Attr[] }> = []
  readonly initializers: Tensor[] = []
  private counter = 0

  constant(name: string, dims: number[], values: Float32Array): string {
    const unique = `${name}_${this.counter++}`
    this.initializers.push(floatTensor(unique, dims, values))
    return unique
  }

  ints(name: string, values: number[]): string {
    const unique = `${name}_${this.counter++}`
    this.initializers.push(int64Tensor(unique, values))
    return unique
  }

  node(op: string, inputs: string[], name: string, attribute: Attr[] = [], output?: string): string {
    const out = output ?? `${name}:${op}_${this.counter++}`
    this.nodes.push({ input: inputs, output: [out], name: `${name}/${op}_${this.counter++}`, op_type: op, attribute })
    return out
  }

  bn(x: string, bn: BnParams, name: string): string {
    const c = bn.mean.length
    const shape = [1, c, 1, 1]
    let y = this.node('Sub', [x, this.constant(`${name}.running_mean`, shape, bn.mean)], name)
    y = this.node('Mul', [y, this.constant(`${name}.inv_std`, shape, bnInverse(bn))], name)
    if (bn.gamma) y = this.node('Mul', [y, this.constant(`${name}.weight`, shape, bn.gamma)], name)
    if (bn.beta) y = this.node('Add', [y, this.constant(`${name}.bias`, shape, bn.beta)], name)
    return y
  }
}

const ints = (name: string, values: number[]): Attr => ({ name, type: ATTR.INTS, ints: values })
const int = (name: string, value: number): Attr => ({ name, type: ATTR.INT, i: value })

export function exportOnnx(graph: ExportGraph, options: OnnxExportOptions = {}): Uint8Array {
  const b = new OnnxBuilder()
  const values = new Map<string, string>([[graph.input, 'input']])
  const get = (name: string): string => values.get(name)!
  for (const step of graph.steps) {
    const name = step.name
    let out: string
    switch (step.op) {
      case 'bn':
        out = b.bn(get(step.input), step.bn, name)
        break
      case 'binconv':
      case 'conv': {
        const { kernel: k, cin, cout, stride, padding: p, dilation } = step
        let x = get(step.input)
        let weight: Float32Array
        if (step.op === 'binconv') {
          x = b.node('Sign', [b.bn(x, step.bn, `${name}.bn`)], name)
          const alpha = step.alpha
          weight = toOihw(step.weight, k, cin, cout, (v, o) => Math.fround(Math.sign(v) * alpha[o]))
        } else weight = toOihw(step.weight, k, cin, cout)
        const inputs = [x, b.constant(`${name}.weight`, [cout, cin, k, k], weight)]
        if (step.op === 'conv' && step.bias) inputs.push(b.constant(`${name}.bias`, [cout], step.bias))
        out = b.node('Conv', inputs, name, [
          ints('kernel_shape', [k, k]),
          ints('pads', [p, p, p, p]),
          ints('strides', [stride, stride]),
          ints('dilations', [dilation, dilation])
        ])
        if (step.op === 'binconv') out = b.node('Relu', [out], name)
        break
      }
      case 'relu':
        out = b.node('Relu', [get(step.input)], name)
        break
      case 'maxpool':
      case 'avgpool': {
        const attrs = [
          ints('kernel_shape', [3, 3]),
          ints('pads', [1, 1, 1, 1]),
          ints('strides', [step.stride, step.stride])
        ]
        if (step.op === 'avgpool') attrs.push(int('count_include_pad', 0))
        out = b.node(step.op === 'maxpool' ? 'MaxPool' : 'AveragePool', [get(step.input)], name, attrs)
        break
      }
      case 'zero': {
        let x = get(step.input)
        if (step.stride === 2) {
          x = b.node(
            'Slice',
            [
              x,
              b.ints('starts', [0, 0]),
              b.ints('ends', [2 ** 62, 2 ** 62]),
              b.ints('axes', [2, 3]),
              b.ints('steps', [2, 2])
            ],
            name
          )
        }
        out = b.node('Mul', [x, b.constant(`${name}.zero`, [], new Float32Array([0]))], name)
        break
      }
      case 'add':
        out = b.node('Add', step.inputs.map(get), name)
        break
      case 'concat':
        out = b.node('Concat', step.inputs.map(get), name, [int('axis', 1)])
        break
      case 'gap':
        out = b.node('Flatten', [b.node('GlobalAveragePool', [get(step.input)], name)], name, [int('axis', 1)])
        break
      case 'linear':
        out = b.node(
          'Gemm',
          [
            get(step.input),
            b.constant(`${name}.weight`, [step.inFeatures, step.outFeatures], step.weight),
            b.constant(`${name}.bias`, [step.outFeatures], step.bias)
          ],
          name,
          [],
          step.output === graph.output ? 'logits' : undefined
        )
        break
    }
    values.set(step.output, out)
  }
  const [h, w, c] = graph.meta.inputShape
  const tensorType = (dims: Array<number | string>) => ({
    tensor_type: {
      elem_type: ONNX_FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) }
    }
  })
  const root = onnxRoot()
  const Model = root.lookupType('onnx.ModelProto')
  const model = {
    ir_version: 7,
    opset_import: [{ domain: '', version: 13 }],
    producer_name: 'bnas-studio',
    producer_version: options.producerVersion ?? '0',
    doc_string: 'BNAS final network (Kim, Singh, Choi, ECCV 2020), exported by BNAS Studio. Input NCHW, normalised.',
    metadata_props: [{ key: 'bnas.meta', value: JSON.stringify(graph.meta) }],
    graph: {
      name: 'bnas',
      node: b.nodes,
      initializer: b.initializers,
      input: [{ name: 'input', type: tensorType(['N', c, h, w]) }],
      output: [{ name: 'logits', type: tensorType(['N', graph.meta.classes]) }]
    }
  }
  const problem = Model.verify(model)
  if (problem) throw new Error(`ONNX export: ${problem}`)
  return Model.encode(Model.fromObject(model)).finish()
}

/** NHWC images → NCHW, the ONNX model's input layout. */
export function nhwcToNchw(images: Float32Array, batch: number, [h, w, c]: [number, number, number]): Float32Array {
  const out = new Float32Array(images.length)
  for (let n = 0; n < batch; n++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) out[((n * c + ch) * h + y) * w + x] = images[((n * h + y) * w + x) * c + ch]
      }
    }
  }
  return out
}
