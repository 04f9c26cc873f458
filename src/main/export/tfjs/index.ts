import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import type { BnParams, ExportGraph } from '../graph'
import { folderIO } from './file-io'
import { BnasBatchNorm, BnasBinaryConv2D, BnasPool3x3, BnasTorchConv2D, BnasZeroise } from './layers'

export { folderIO } from './file-io'
export { BNAS_LAYER_CLASSES } from './layers'

type Named = Record<string, tf.Tensor>

function bnValues(bn: BnParams, prefix = ''): Named {
  const out: Named = {
    [`${prefix}moving_mean`]: tf.tensor(bn.mean),
    [`${prefix}moving_variance`]: tf.tensor(bn.variance)
  }
  if (bn.gamma) out[`${prefix}gamma`] = tf.tensor(bn.gamma)
  if (bn.beta) out[`${prefix}beta`] = tf.tensor(bn.beta)
  return out
}

/** Sets a layer's weights by their names (tfjs lists trainable weights before non-trainable ones). */
function setNamedWeights(layer: tfl.layers.Layer, named: Named): void {
  const ordered = layer.weights.map((w) => {
    const key = w.originalName.split('/').pop()!
    const value = named[key]
    if (!value) throw new Error(`${layer.name}: no value for weight ${key}`)
    return value
  })
  layer.setWeights(ordered)
}

/** Layer names must be unique and simple: the engine's state-dict names with dots as underscores. */
function layerName(name: string, used: Set<string>): string {
  let base = name.replace(/[^A-Za-z0-9_]/g, '_')
  let candidate = base
  for (let i = 1; used.has(candidate); i++) candidate = `${base}_${i}`
  base = candidate
  used.add(base)
  return base
}

/**
 * A tfjs-layers functional model of the lowered network: input [N, H, W, C] (NHWC, normalised), output logits
 * [N, classes]. The weights are the engine's (latent binary weights included, so the model could be fine-tuned).
 */
export function buildLayersModel(graph: ExportGraph): tfl.LayersModel {
  const [h, w, c] = graph.meta.inputShape
  const input = tfl.input({ shape: [h, w, c], name: 'input' })
  const values = new Map<string, tfl.SymbolicTensor>([[graph.input, input]])
  const get = (name: string): tfl.SymbolicTensor => values.get(name)!
  const used = new Set<string>(['input'])
  const weights: Array<[tfl.layers.Layer, Named]> = []
  for (const step of graph.steps) {
    const name = layerName(step.name, used)
    let layer: tfl.layers.Layer
    switch (step.op) {
      case 'bn':
        layer = new BnasBatchNorm({ channels: step.bn.mean.length, affine: !!step.bn.gamma, name })
        weights.push([layer, bnValues(step.bn)])
        break
      case 'conv':
      case 'binconv': {
        const { kernel: k, cin, cout, stride, padding, dilation } = step
        const conv = { filters: cout, kernelSize: k, stride, padding, dilation, name }
        const kernel = tf.tensor(step.weight, [k, k, cin, cout])
        if (step.op === 'conv') {
          layer = new BnasTorchConv2D({ ...conv, useBias: !!step.bias })
          weights.push([layer, step.bias ? { kernel, bias: tf.tensor(step.bias) } : { kernel }])
        } else {
          layer = new BnasBinaryConv2D({ ...conv, affine: !!step.bn.gamma })
          weights.push([layer, { ...bnValues(step.bn, 'bn_'), kernel }])
        }
        break
      }
      case 'relu':
        layer = tfl.layers.reLU({ name })
        break
      case 'maxpool':
      case 'avgpool':
        layer = new BnasPool3x3({ mode: step.op === 'maxpool' ? 'max' : 'avg', stride: step.stride, name })
        break
      case 'zero':
        layer = new BnasZeroise({ stride: step.stride, name })
        break
      case 'add':
        layer = tfl.layers.add({ name })
        break
      case 'concat':
        layer = tfl.layers.concatenate({ axis: -1, name })
        break
      case 'gap':
        layer = tfl.layers.globalAveragePooling2d({ dataFormat: 'channelsLast', name })
        break
      case 'linear':
        layer = tfl.layers.dense({ units: step.outFeatures, useBias: true, name })
        weights.push([
          layer,
          { kernel: tf.tensor(step.weight, [step.inFeatures, step.outFeatures]), bias: tf.tensor(step.bias) }
        ])
        break
    }
    const inputs = 'inputs' in step ? step.inputs.map(get) : get(step.input)
    const out = layer.apply(inputs) as tfl.SymbolicTensor
    values.set(step.output, out)
  }
  const model = tfl.model({ inputs: input, outputs: get(graph.output), name: 'bnas' })
  for (const [layer, tensors] of weights) {
    setNamedWeights(layer, tensors)
    tf.dispose(Object.values(tensors))
  }
  return model
}

/** Writes model.json and weights.bin into `dir` (created if needed). */
export async function saveTfjsModel(graph: ExportGraph, dir: string): Promise<tf.io.SaveResult> {
  const model = buildLayersModel(graph)
  try {
    return await model.save(folderIO(dir, { bnas: graph.meta }))
  } finally {
    model.dispose()
  }
}

/** Loads a saved model back (the project's layers are registered by importing this module). */
export function loadTfjsModel(dir: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(folderIO(dir))
}
