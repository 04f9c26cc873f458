import type { Genotype } from '../../../shared/genotype'
import { FinalNetwork, type Macro, type Shape3 } from '../network'
import { summarizeNetwork, type ModelSummary } from './summary'

export interface FinalSummaryConfig {
  genotype: Genotype
  cells: number
  channels: number
  classes: number
  macro: Macro
  /** One image, [H, W, C]. */
  input: Shape3
}

/**
 * Builds the final network the config describes (weights are allocated, nothing is run) and summarises it. The network
 * is disposed afterwards. Needs an initialised TF.js backend; the cheap pure-JS cpu backend is enough.
 */
export function summarizeFinalNetwork(config: FinalSummaryConfig): ModelSummary {
  const network = new FinalNetwork({
    genotype: config.genotype,
    cells: config.cells,
    channels: config.channels,
    classes: config.classes,
    macro: config.macro,
    inputChannels: config.input[2],
    seed: 0
  })
  try {
    return summarizeNetwork(network, config.input)
  } finally {
    network.dispose()
  }
}
