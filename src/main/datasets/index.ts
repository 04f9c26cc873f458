/** Datasets: reading the standard formats offline, summaries for the UI, splits and fast batches for the engine. */
export { loadDataset } from './load'
export { DatasetError } from './errors'
export type { Dataset, ImageSet, ImageShape } from './types'
export { summarizeDataset, imageDataUrl, type SummaryOptions } from './summary'
export { channelStats, classCounts, type ChannelStats } from './stats'
export {
  searchSplit,
  trainSplit,
  testSplit,
  viewOf,
  type DatasetView,
  type SplitOptions,
  type SearchSplit
} from './splits'
export {
  BatchLoader,
  SEARCH_AUGMENTATION,
  type AugmentOptions,
  type Batch,
  type BatchLoaderOptions,
  type BatchLoaderState
} from './batches'
export { benchmarkBatches, type BatchBenchmarkOptions, type BatchBenchmarkResult } from './benchmark'
export { DEBIAN_FASHION_MNIST } from './mnist'
