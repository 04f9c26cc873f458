import { PNG } from 'pngjs'
import { formatDatasetSpec, type DatasetSample, type DatasetSummary } from '../../shared/datasets'
import { channelStats, classCounts } from './stats'
import type { Dataset, ImageSet } from './types'

export interface SummaryOptions {
  /** Sample images per class (the first ones of the train split, so the same every time). Default 1. */
  samplesPerClass?: number
  /** At most this many samples in all (CIFAR-100 has 100 classes). Default 20. */
  maxSamples?: number
}

/** One image of a set as a PNG data URL: small, and an <img> shows it as is. */
export function imageDataUrl(set: ImageSet, index: number): string {
  const { width, height, channels } = set
  const png = new PNG({ width, height })
  const pixel = width * height * channels
  const src = set.images.subarray(index * pixel, (index + 1) * pixel)
  for (let p = 0; p < width * height; p++) {
    png.data[4 * p] = src[p * channels]
    png.data[4 * p + 1] = src[p * channels + (channels === 3 ? 1 : 0)]
    png.data[4 * p + 2] = src[p * channels + (channels === 3 ? 2 : 0)]
    png.data[4 * p + 3] = 255
  }
  return 'data:image/png;base64,' + PNG.sync.write(png).toString('base64')
}

/** What the UI shows about a dataset: classes, counts, shape, statistics, samples. Validated by datasetSummarySchema. */
export function summarizeDataset(dataset: Dataset, options: SummaryOptions = {}): DatasetSummary {
  const perClass = options.samplesPerClass ?? 1
  const maxSamples = options.maxSamples ?? 20
  const { mean, std } = channelStats(dataset.train)
  const samples: DatasetSample[] = []
  const taken = new Array<number>(dataset.classes.length).fill(0)
  for (let i = 0; i < dataset.train.count && samples.length < maxSamples; i++) {
    const label = dataset.train.labels[i]
    if (taken[label] >= perClass) continue
    taken[label]++
    samples.push({
      split: 'train',
      index: i,
      label,
      className: dataset.classes[label],
      dataUrl: imageDataUrl(dataset.train, i)
    })
  }
  samples.sort((a, b) => a.label - b.label || a.index - b.index)
  const split = (set: ImageSet): DatasetSummary['splits']['train'] => ({
    count: set.count,
    perClass: classCounts(set.labels, dataset.classes.length)
  })
  return {
    spec: formatDatasetSpec(dataset.spec),
    kind: dataset.kind,
    name: dataset.name,
    source: dataset.source,
    classes: [...dataset.classes],
    inputShape: [dataset.shape.height, dataset.shape.width, dataset.shape.channels],
    splits: { train: split(dataset.train), test: split(dataset.test) },
    mean,
    std,
    samples
  }
}
