import { assertGenotype } from '../../shared/genotype'
import type { NetworkCost } from '../../shared/study'
import { summarizeFinalNetwork } from '../engine/summary'
import type { Macro } from '../engine/network'

export interface TrainedNetworkShape {
  architecture?: string
  genotype?: unknown
  cells: number
  channels: number
  classes: number
  macro: Macro
  inputShape: [number, number, number]
}

/**
 * The one place the report asks what a trained network costs (OPs = BOPs/64 + FLOPs, spec 8.2). The cell network is
 * summarised by building it (no weights are trained or run). The baseline architectures have no summary in this
 * code yet, so their cost is null and the report says so rather than guessing.
 */
export function trainedNetworkCost(shape: TrainedNetworkShape): NetworkCost | null {
  if (shape.architecture !== undefined && shape.architecture !== 'cell') return null
  const summary = summarizeFinalNetwork({
    genotype: assertGenotype(shape.genotype, 'the trained genotype'),
    cells: shape.cells,
    channels: shape.channels,
    classes: shape.classes,
    macro: shape.macro,
    input: shape.inputShape
  })
  const t = summary.totals
  return {
    ops: t.ops,
    bops: t.bops,
    flops: t.flops,
    binaryParams: t.binaryParams,
    floatParams: t.floatParams,
    sizeBytes: t.sizeBytes
  }
}
