// Model summary: 1-bit / 32-bit parameters, BOPs, FLOPs, OPs and size, from the real module tree of a built network.
export { summarizeNetwork } from './summary'
export type { BlockSummary, ModelSummary, SummaryTotals } from './summary'
export { summarizeLayer, isResidualConv } from './layers'
export type { LayerKind, LayerSummary } from './layers'
export { formatSummaryTable, humanBytes, scientific } from './format'
export { summarizeFinalNetwork } from './build'
export type { FinalSummaryConfig } from './build'
