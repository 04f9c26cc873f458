import type { DatasetKind, DatasetSpec } from '../../shared/datasets'

/** Height, width and channels of one image. */
export interface ImageShape {
  height: number
  width: number
  channels: number
}

/**
 * A set of images in memory, kept as uint8 (a quarter of float32): `images` is one NHWC buffer of
 * count × height × width × channels bytes, `labels` one int32 per image (what tf.oneHot and losses take).
 */
export interface ImageSet extends ImageShape {
  count: number
  images: Uint8Array
  labels: Int32Array
}

/** A whole dataset as loaded: both splits, their classes, and whether the train images are sorted by class. */
export interface Dataset {
  spec: DatasetSpec
  kind: DatasetKind
  /** Human name, e.g. "CIFAR-10". */
  name: string
  /** Absolute folder the files came from; null for generated data. */
  source: string | null
  classes: string[]
  shape: ImageShape
  train: ImageSet
  test: ImageSet
  /**
   * True when train images are grouped by class (image folders). Splitting such a set in dataset order would give
   * each half different classes, so the splits shuffle it first.
   */
  classOrdered: boolean
}

/** Creates an empty ImageSet of the given shape. */
export function allocateImageSet(count: number, shape: ImageShape): ImageSet {
  return {
    ...shape,
    count,
    images: new Uint8Array(count * shape.height * shape.width * shape.channels),
    labels: new Int32Array(count)
  }
}
