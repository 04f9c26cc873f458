import type { TrainArchitecture, TrainConfig } from '../../shared/jobs'
import type { NetworkCost } from '../../shared/study'
import { summarizeTrainNetwork, type Macro } from '../engine/network'

export interface TrainedNetworkShape {
  /** Absent in models saved before the baselines existed: those are cell networks. */
  architecture?: TrainArchitecture
  genotype?: TrainConfig['genotype']
  cells: number
  channels: number
  classes: number
  macro: Macro
  inputShape: [number, number, number]
}

/**
 * The one place the report asks what a trained network costs (OPs = BOPs/64 + FLOPs, spec 8.2): the network the run
 * trained (the BNAS cell network or a baseline) is built from what its model file records and summarised; nothing is
 * trained or run. Residual convs count as float, as the code runs them.
 */
export function trainedNetworkCost(shape: TrainedNetworkShape): NetworkCost {
  const summary = summarizeTrainNetwork({
    architecture: shape.architecture ?? 'cell',
    genotype: shape.genotype,
    cells: shape.cells,
    channels: shape.channels,
    macro: shape.macro,
    input: shape.inputShape,
    classes: shape.classes
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
