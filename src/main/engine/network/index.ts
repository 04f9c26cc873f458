// Networks of the method built on the nn modules: the search supernet and the final binary networks (spec 3).
export { Supernet } from './supernet'
export type { SupernetOptions } from './supernet'
export { FinalNetwork } from './final-network'
export type { FinalNetworkOptions } from './final-network'
export { FinalCell } from './final-cell'
export type { FinalForwardContext, Macro } from './final-cell'
export { MixedOp, SearchCell, ModuleList } from './search-cell'
export { dropPath } from './drop-path'
export { CELL_MULTIPLIER, isReductionCell, planCells, reductionIndices } from './macro'
export type { CellPlan } from './macro'
export { traceModule } from './trace'
export type { LayerRecord, Shape3, Traceable } from './trace'
export { buildTrainNetwork, channelsForOps, latentWeightPreparer, summarizeTrainNetwork } from './architectures'
export type {
  BaselineArchitecture,
  TrainNetwork,
  TrainNetworkData,
  TrainNetworkSettings,
  TrainSummaryConfig
} from './architectures'
export { BinaryResNet18, BiRealBlock } from './baselines/binary-resnet18'
export type { BinaryResNet18Options } from './baselines/binary-resnet18'
export { DartsBinaryNetwork, DartsBinaryCell, createBinaryDartsOp } from './baselines/darts-v2-binary'
export type { DartsBinaryNetworkOptions } from './baselines/darts-v2-binary'
export { AvgPool2x2, BinaryDepthwiseConv2d, BinaryDepthwiseBlock, Identity } from './baselines/layers'
