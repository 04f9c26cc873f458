import type { Module } from '../nn'
import type { LayerRecord, Shape3, Traceable } from '../network'
import { summarizeLayer, type LayerSummary } from './layers'

/** Totals under one accounting of the reduction residual convs. */
export interface SummaryTotals {
  binaryParams: number
  floatParams: number
  bops: number
  flops: number
  /** OPs = BOPs/64 + FLOPs (Bi-Real / ReActNet convention, spec 8.2). */
  ops: number
  /** 1 bit per binary weight, 32 bits per other parameter. */
  sizeBits: number
  sizeBytes: number
}

/** Costs of one top-level block: a stem, a cell, or the head. */
export interface BlockSummary {
  name: string
  /** 'normal' / 'reduction' for cells. */
  role: 'stem' | 'normal' | 'reduction' | 'head'
  output: Shape3
  binaryParams: number
  floatParams: number
  bops: number
  flops: number
}

export interface ModelSummary {
  input: Shape3
  output: Shape3
  /** Every trainable scalar of the built network (BN running statistics are buffers, not counted). */
  trainableParams: number
  /** BN running mean/var: state, not parameters. */
  bufferScalars: number
  /** As the code runs it: the 2×2 residual convs are float (spec section 0). */
  totals: SummaryTotals
  /** The other accounting: the residual convs' weights as 1-bit and their MACs as BOPs (biases stay 32-bit). */
  totalsResidualBinary: SummaryTotals
  /** Share of the residual convs, float accounting, so readers see what moves between the two. */
  residualConvs: { count: number; params: number; macs: number }
  blocks: BlockSummary[]
  layers: LayerSummary[]
}

function totalsOf(layers: LayerSummary[]): SummaryTotals {
  const sum = (key: 'binaryParams' | 'floatParams' | 'bops' | 'flops') =>
    layers.reduce((total, layer) => total + layer[key], 0)
  const [binaryParams, floatParams, bops, flops] = [sum('binaryParams'), sum('floatParams'), sum('bops'), sum('flops')]
  const sizeBits = binaryParams + 32 * floatParams
  return {
    binaryParams,
    floatParams,
    bops,
    flops,
    ops: bops / 64 + flops,
    sizeBits,
    sizeBytes: Math.ceil(sizeBits / 8)
  }
}

/** The residual convs re-counted as binary convs: weights 1-bit, MACs as BOPs, bias still 32-bit. */
function residualAsBinary(layer: LayerSummary): LayerSummary {
  if (layer.kind !== 'residual-conv') return layer
  const { weights } = layer
  return { ...layer, binaryParams: weights, floatParams: layer.floatParams - weights, bops: layer.flops, flops: 0 }
}

/** Cells of a cell network, residual blocks of the binary ResNet baseline: one summary block each. */
const REPEATED_BLOCKS = new Set(['cells', 'blocks'])

function blockOf(name: string): string {
  const parts = name.split('.')
  return REPEATED_BLOCKS.has(parts[0]) ? `${parts[0]}.${parts[1]}` : parts[0]
}

function roleOf(block: string, reductionCells: ReadonlySet<string>): BlockSummary['role'] {
  if (REPEATED_BLOCKS.has(block.split('.')[0])) return reductionCells.has(block) ? 'reduction' : 'normal'
  return block.startsWith('stem') ? 'stem' : 'head'
}

/**
 * Summarises a built network for one input image [H, W, C] by walking its real module tree (`trace`). The sum of the
 * walked layers' parameters must equal the network's own parameter count: a module the walk missed (or counted twice)
 * fails here instead of silently skewing the numbers.
 */
export function summarizeNetwork(network: Module & Traceable, input: Shape3): ModelSummary {
  const records: LayerRecord[] = []
  const blockShapes = new Map<string, Shape3>()
  const output = network.trace('', [input], records, blockShapes)
  const layers = records.map(summarizeLayer)
  const trainableParams = network.parameterCount()
  const walked = layers.reduce((sum, layer) => sum + layer.binaryParams + layer.floatParams, 0)
  if (walked !== trainableParams) {
    throw new Error(`summary walked ${walked} parameters but the network has ${trainableParams}: a layer was missed`)
  }
  // A block that halves the map: a cell with the 2×2 residual conv, or a ResNet block with a downsample shortcut.
  const reductionCells = new Set(
    layers
      .filter((layer) => layer.kind === 'residual-conv' || /^blocks\.\d+\.downsample\./.test(layer.name))
      .map((layer) => blockOf(layer.name))
  )
  const blocks: BlockSummary[] = []
  for (const layer of layers) {
    const name = blockOf(layer.name)
    let block = blocks[blocks.length - 1]
    if (!block || block.name !== name) {
      const role = roleOf(name, reductionCells)
      const shape = blockShapes.get(name) ?? layer.output
      block = { name, role, output: shape, binaryParams: 0, floatParams: 0, bops: 0, flops: 0 }
      blocks.push(block)
    }
    block.binaryParams += layer.binaryParams
    block.floatParams += layer.floatParams
    block.bops += layer.bops
    block.flops += layer.flops
  }
  const residual = layers.filter((layer) => layer.kind === 'residual-conv')
  return {
    input,
    output,
    trainableParams,
    bufferScalars: network.namedBuffers().reduce((sum, [, v]) => sum + v.size, 0),
    totals: totalsOf(layers),
    totalsResidualBinary: totalsOf(layers.map(residualAsBinary)),
    residualConvs: {
      count: residual.length,
      params: residual.reduce((sum, layer) => sum + layer.floatParams, 0),
      macs: residual.reduce((sum, layer) => sum + layer.flops, 0)
    },
    blocks,
    layers
  }
}
