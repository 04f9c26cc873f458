import { BatchLoader, SEARCH_AUGMENTATION, type AugmentOptions } from './batches'
import { Rng } from './rng'
import type { DatasetView } from './splits'

export interface BatchBenchmarkOptions {
  /** Default 64 (BNAS search). */
  batchSize?: number
  /** Default 32×32×3 (CIFAR). */
  height?: number
  width?: number
  channels?: number
  /** Images to draw from when no view is given. Default 4096 random images. */
  images?: number
  /** Stop after this many seconds of batches (after a warm-up). Default 1. */
  seconds?: number
  /** Default: the search augmentation (crop with padding 4, flip). */
  augment?: AugmentOptions
  /** Measure on real data instead of random bytes. */
  view?: DatasetView
}

export interface BatchBenchmarkResult {
  batchSize: number
  shape: [number, number, number]
  batches: number
  seconds: number
  batchesPerSecond: number
  imagesPerSecond: number
}

/** Batches per second of the BatchLoader, for the benchmark command: assembly, augmentation and normalisation only. */
export function benchmarkBatches(options: BatchBenchmarkOptions = {}): BatchBenchmarkResult {
  const batchSize = options.batchSize ?? 64
  const view = options.view ?? randomView(options)
  const loader = new BatchLoader(view, {
    batchSize,
    seed: 1,
    augment: options.augment ?? SEARCH_AUGMENTATION,
    normalize: { mean: new Array(view.channels).fill(0.5), std: new Array(view.channels).fill(0.25) }
  })
  for (let i = 0; i < 20; i++) loader.next() // let the JIT settle
  const seconds = options.seconds ?? 1
  const start = performance.now()
  let batches = 0
  let elapsed = 0
  do {
    for (let i = 0; i < 10; i++) loader.next()
    batches += 10
    elapsed = (performance.now() - start) / 1000
  } while (elapsed < seconds)
  return {
    batchSize,
    shape: [view.height, view.width, view.channels],
    batches,
    seconds: elapsed,
    batchesPerSecond: batches / elapsed,
    imagesPerSecond: (batches * batchSize) / elapsed
  }
}

function randomView(options: BatchBenchmarkOptions): DatasetView {
  const height = options.height ?? 32
  const width = options.width ?? 32
  const channels = options.channels ?? 3
  const count = options.images ?? 4096
  const rng = new Rng(7)
  const images = new Uint8Array(count * height * width * channels)
  for (let i = 0; i < images.length; i++) images[i] = (rng.next() * 256) | 0
  const labels = Int32Array.from({ length: count }, (_, i) => i % 10)
  const indices = Int32Array.from({ length: count }, (_, i) => i)
  return { images, labels, indices, count, classCount: 10, height, width, channels }
}
