import { DatasetError } from './errors'
import { permutation, Rng } from './rng'
import type { Dataset, ImageSet, ImageShape } from './types'

/**
 * A selection of images of one ImageSet, by index: no pixels are copied. `images` and `labels` are the whole
 * underlying set; `indices` says which of its images belong to the view, in the view's order.
 */
export interface DatasetView extends ImageShape {
  images: Uint8Array
  labels: Int32Array
  indices: Int32Array
  count: number
  classCount: number
}

export interface SplitOptions {
  /** Seed of the subset choice and of the shuffle. Default 0. */
  seed?: number
  /** Use only this many images of the split (seeded random choice, kept in dataset order). Default: all. */
  subset?: number
  /**
   * Shuffle before cutting the search split in two. Default: only for class-ordered data (image folders). CIFAR and
   * MNIST files are already in random order, and BNAS (spec 5.1) cuts CIFAR-10's train set in dataset order.
   */
  shuffle?: boolean
  /** Share of the (subset of the) train set that trains the weights; the rest trains α. Default 0.5 (spec 5.1). */
  trainPortion?: number
}

export interface SearchSplit {
  /** First part: updates the network weights w. */
  weights: DatasetView
  /** Second part: updates the architecture parameters α. */
  alpha: DatasetView
}

function view(set: ImageSet, indices: Int32Array, classCount: number): DatasetView {
  const { images, labels, height, width, channels } = set
  return { images, labels, indices, count: indices.length, classCount, height, width, channels }
}

/** Indices of a split, optionally a seeded subset and/or a seeded shuffle. */
function chooseIndices(set: ImageSet, options: SplitOptions, shuffle: boolean, what: string): Int32Array {
  const n = set.count
  const subset = options.subset ?? n
  if (!Number.isInteger(subset) || subset < 1)
    throw new RangeError(`${what}: subset must be a positive integer, got ${subset}`)
  if (subset >= n && !shuffle) return Int32Array.from({ length: n }, (_, i) => i)
  const order = permutation(n, new Rng(options.seed ?? 0))
  const chosen = order.slice(0, Math.min(subset, n))
  return shuffle ? chosen : chosen.sort()
}

/**
 * The search split of BNAS / DARTS (spec 5.1): the train set cut in two, the first `trainPortion` for the weights,
 * the rest for α. Disjoint by construction; the same options give the same split.
 */
export function searchSplit(dataset: Dataset, options: SplitOptions = {}): SearchSplit {
  const portion = options.trainPortion ?? 0.5
  if (!(portion > 0 && portion < 1)) throw new RangeError(`trainPortion must be in (0, 1), got ${portion}`)
  const indices = chooseIndices(dataset.train, options, options.shuffle ?? dataset.classOrdered, 'search split')
  const cut = Math.floor(indices.length * portion)
  if (cut < 1 || cut >= indices.length) {
    throw new DatasetError(
      dataset.source ?? dataset.name,
      `${indices.length} train images are too few to split at ${portion}`
    )
  }
  const classCount = dataset.classes.length
  return {
    weights: view(dataset.train, indices.subarray(0, cut), classCount),
    alpha: view(dataset.train, indices.subarray(cut), classCount)
  }
}

/** The whole train set (or a seeded subset), for final training. */
export function trainSplit(dataset: Dataset, options: Omit<SplitOptions, 'trainPortion'> = {}): DatasetView {
  return view(
    dataset.train,
    chooseIndices(dataset.train, options, options.shuffle ?? false, 'train split'),
    dataset.classes.length
  )
}

/** The test set (or a seeded subset), for evaluation. */
export function testSplit(dataset: Dataset, options: Omit<SplitOptions, 'trainPortion'> = {}): DatasetView {
  if (dataset.test.count === 0) throw new DatasetError(dataset.source ?? dataset.name, 'has no test images')
  return view(
    dataset.test,
    chooseIndices(dataset.test, options, options.shuffle ?? false, 'test split'),
    dataset.classes.length
  )
}

/** A whole ImageSet as a view (for tests and for data that is not a Dataset). */
export function viewOf(set: ImageSet, classCount: number): DatasetView {
  return view(
    set,
    Int32Array.from({ length: set.count }, (_, i) => i),
    classCount
  )
}
