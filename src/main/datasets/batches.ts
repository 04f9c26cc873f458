import { permutation, Rng } from './rng'
import type { DatasetView } from './splits'
import type { ImageShape } from './types'

/** Train-time augmentation, as in DARTS/BNAS: random crop with zero padding, horizontal flip, cutout. */
export interface AugmentOptions {
  /** Pad by this many zero pixels on each side, then crop back at a random offset. 0 = off. */
  padding?: number
  /** Mirror left-right with probability 1/2. */
  flip?: boolean
  /** Side of a square zeroed (after normalisation, as DARTS' Cutout) at a random centre. 0 = off. */
  cutout?: number
}

/** BNAS search (spec 5.1): crop 32 with padding 4 and flip, no cutout. */
export const SEARCH_AUGMENTATION: AugmentOptions = { padding: 4, flip: true, cutout: 0 }

export interface BatchLoaderOptions {
  batchSize: number
  /** Seed of the order and of the augmentation. Default 0. */
  seed?: number
  /** A new random order every epoch (a SubsetRandomSampler). Default true; false keeps the view's order. */
  shuffle?: boolean
  /** Leave out the last, smaller batch of an epoch. Default false (as PyTorch's DataLoader). */
  dropLast?: boolean
  /** Default: none (evaluation). */
  augment?: AugmentOptions
  /** Per-channel mean and std of [0, 1] pixels; batches hold (x/255 - mean) / std. Default: x/255 only. */
  normalize?: { mean: number[]; std: number[] }
}

/** A BatchLoader's position, for checkpoints (plain numbers, JSON-safe). */
export interface BatchLoaderState {
  epochs: number
  cursor: number
  /** Order generator state at the start of the current epoch. */
  epochOrderRng: number
  augmentRng: number
}

/** One batch, ready for tf.tensor4d(images, shape) and tf.tensor1d(labels, 'int32'). */
export interface Batch {
  /** NHWC float32, normalised and augmented. A new buffer every batch: a tensor may keep it without copying. */
  images: Float32Array
  labels: Int32Array
  /** [size, height, width, channels]. */
  shape: [number, number, number, number]
  size: number
  /** Which images of the underlying set are in the batch (into view.images, not into view.indices). */
  indices: Int32Array
}

/**
 * Batches from a DatasetView. Per image the work is row copies (TypedArray.set of subarrays) into a uint8 scratch
 * buffer (the random crop is a shifted row copy), then one pass through a 256-entry lookup table per channel to
 * float32 that also reads flipped images mirrored, and Float32Array.fill for cutout: no per-pixel arithmetic.
 */
export class BatchLoader {
  readonly batchesPerEpoch: number
  /** Separate generators for the order and the augmentation, so a saved state can rebuild the order alone. */
  private readonly orderRng: Rng
  private readonly augmentRng: Rng
  private epochOrderRng = 0
  private resumed = false
  private readonly lut: Float32Array[]
  private readonly scratch: Uint8Array
  private order: Int32Array = new Int32Array(0)
  private cursor = 0
  private epochs = 0

  constructor(
    readonly view: DatasetView,
    readonly options: BatchLoaderOptions
  ) {
    const { batchSize } = options
    // Programming errors are RangeErrors; DatasetError is kept for problems with the user's data.
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`)
    }
    if (view.count === 0) throw new RangeError('the view holds no images')
    const full = Math.floor(view.count / batchSize)
    this.batchesPerEpoch = options.dropLast ? full : Math.ceil(view.count / batchSize)
    if (this.batchesPerEpoch === 0) {
      throw new RangeError(`${view.count} images are fewer than one batch of ${batchSize} with dropLast`)
    }
    this.orderRng = new Rng(options.seed ?? 0)
    this.augmentRng = new Rng((options.seed ?? 0) + 0x3c6ef372)
    this.epochOrderRng = this.orderRng.state
    this.lut = buildLookup(view.channels, options.normalize)
    this.scratch = new Uint8Array(batchSize * view.height * view.width * view.channels)
  }

  /** Epochs started so far. */
  get epoch(): number {
    return this.epochs
  }

  private newEpoch(): void {
    this.epochOrderRng = this.orderRng.state
    this.order =
      this.options.shuffle === false
        ? this.view.indices
        : gather(this.view.indices, permutation(this.view.count, this.orderRng))
    this.cursor = 0
    this.epochs++
  }

  private batchesLeftInEpoch(): number {
    const remaining = this.order.length - this.cursor
    const size = this.options.batchSize
    return this.options.dropLast ? Math.floor(remaining / size) : Math.ceil(remaining / size)
  }

  /** One pass over the view in a new order (or the rest of the epoch a restoreState() came back into). */
  *epochBatches(): Generator<Batch> {
    if (!this.resumed) this.newEpoch()
    this.resumed = false
    while (this.batchesLeftInEpoch() > 0) yield this.take()
    this.cursor = this.order.length // the next next() starts a new epoch
  }

  /**
   * The next batch of an endless stream that reshuffles at each epoch end: what the α step draws from its queue.
   * (The reference code draws next(iter(valid_queue)), a fresh permutation per step; an endless stream samples the
   * same way, without replacement within an epoch.)
   */
  next(): Batch {
    this.resumed = false
    if (this.batchesLeftInEpoch() === 0) this.newEpoch()
    return this.take()
  }

  /**
   * Where the loader stands, as four numbers for a checkpoint: restoreState() on a loader built with the same view
   * and options continues with exactly the batches (order and augmentation) this one would have produced.
   */
  saveState(): BatchLoaderState {
    return {
      epochs: this.epochs,
      cursor: this.cursor,
      epochOrderRng: this.epochOrderRng,
      augmentRng: this.augmentRng.state
    }
  }

  restoreState(state: BatchLoaderState): void {
    const { epochs, cursor, epochOrderRng, augmentRng } = state
    if (![epochs, cursor, epochOrderRng, augmentRng].every(Number.isInteger) || epochs < 0 || cursor < 0) {
      throw new RangeError(`not a BatchLoader state: ${JSON.stringify(state)}`)
    }
    this.orderRng.state = epochOrderRng
    this.order = new Int32Array(0)
    this.epochs = 0
    if (epochs > 0) this.newEpoch() // the same permutation again, from the same generator state
    if (cursor > this.order.length)
      throw new RangeError(`cursor ${cursor} is past the ${this.order.length} images of the view`)
    this.epochs = epochs
    this.cursor = cursor
    this.augmentRng.state = augmentRng
    this.resumed = epochs > 0 && cursor < this.order.length
  }

  private take(): Batch {
    const size = Math.min(this.options.batchSize, this.order.length - this.cursor)
    const indices = this.order.slice(this.cursor, this.cursor + size)
    this.cursor += size
    return this.assemble(indices)
  }

  /** Builds a batch from image indices of the underlying set (also used by the benchmark and by tests). */
  assemble(indices: Int32Array): Batch {
    const { height, width, channels, images, labels } = this.view
    const augment = this.options.augment ?? {}
    const padding = augment.padding ?? 0
    const cutout = augment.cutout ?? 0
    const imageBytes = height * width * channels
    const rowBytes = width * channels
    const size = indices.length
    const u8 = this.scratch.subarray(0, size * imageBytes)
    const batchLabels = new Int32Array(size)
    const cutouts: number[] = []
    const flips = new Uint8Array(size)
    for (let s = 0; s < size; s++) {
      const src = indices[s] * imageBytes
      const dst = s * imageBytes
      batchLabels[s] = labels[indices[s]]
      const dy = padding ? this.augmentRng.int(2 * padding + 1) - padding : 0
      const dx = padding ? this.augmentRng.int(2 * padding + 1) - padding : 0
      const flip = augment.flip ? this.augmentRng.next() < 0.5 : false
      if (cutout) cutouts.push(this.augmentRng.int(height), this.augmentRng.int(width))
      if (dy === 0 && dx === 0) u8.set(images.subarray(src, src + imageBytes), dst)
      else shiftedCopy(images, src, u8, dst, height, rowBytes, channels, dy, dx)
      flips[s] = flip ? 1 : 0
    }
    const out = normalise(u8, this.lut, this.view, flips)
    if (cutout) {
      for (let s = 0; s < size; s++)
        applyCutout(out, s * imageBytes, height, width, channels, cutouts[2 * s], cutouts[2 * s + 1], cutout)
    }
    return { images: out, labels: batchLabels, shape: [size, height, width, channels], size, indices }
  }
}

function gather(source: Int32Array, order: Int32Array): Int32Array {
  const out = new Int32Array(order.length)
  for (let i = 0; i < order.length; i++) out[i] = source[order[i]]
  return out
}

/** 256 floats per channel: the normalised value of every possible byte. */
function buildLookup(channels: number, normalize: BatchLoaderOptions['normalize']): Float32Array[] {
  return Array.from({ length: channels }, (_, c) => {
    const mean = normalize ? normalize.mean[c] : 0
    const std = normalize ? normalize.std[c] : 1
    if (!(std > 0)) throw new RangeError(`std of channel ${c} must be positive, got ${std}`)
    return Float32Array.from({ length: 256 }, (_, v) => (v / 255 - mean) / std)
  })
}

/**
 * The image shifted by (dy, dx) with zeros coming in: torchvision's pad-then-crop, where the crop's top-left corner
 * is (padding + dy, padding + dx) of the padded image. Whole rows are copied with set().
 */
function shiftedCopy(
  images: Uint8Array,
  src: number,
  out: Uint8Array,
  dst: number,
  height: number,
  rowBytes: number,
  channels: number,
  dy: number,
  dx: number
): void {
  const shift = dx * channels
  const from = Math.max(0, -shift) // first output byte of a row that has a source
  const to = Math.min(rowBytes, rowBytes - shift) // one past the last
  for (let y = 0; y < height; y++) {
    const row = dst + y * rowBytes
    const sy = y + dy
    if (sy < 0 || sy >= height || from >= to) {
      out.fill(0, row, row + rowBytes)
      continue
    }
    const srcRow = src + sy * rowBytes
    out.set(images.subarray(srcRow + from + shift, srcRow + to + shift), row + from)
    if (from > 0) out.fill(0, row, row + from)
    if (to < rowBytes) out.fill(0, row + to, row + rowBytes)
  }
}

/**
 * uint8 to normalised float32 through the lookup tables, one pass; a flipped image is read right to left in the
 * same pass, so mirroring costs no extra copy.
 */
function normalise(u8: Uint8Array, lut: Float32Array[], shape: ImageShape, flips: Uint8Array): Float32Array {
  const { height, width, channels } = shape
  const out = new Float32Array(u8.length)
  const imageBytes = height * width * channels
  const rowBytes = width * channels
  for (let s = 0; s < flips.length; s++) {
    const base = s * imageBytes
    if (!flips[s]) {
      lookupRun(u8, out, base, base + imageBytes, lut, channels)
      continue
    }
    for (let y = 0; y < height; y++) {
      const row = base + y * rowBytes
      if (channels === 3) {
        const [r, g, b] = lut
        for (let o = row, i = row + rowBytes - 3; o < row + rowBytes; o += 3, i -= 3) {
          out[o] = r[u8[i]]
          out[o + 1] = g[u8[i + 1]]
          out[o + 2] = b[u8[i + 2]]
        }
      } else {
        for (let x = 0; x < width; x++) {
          const o = row + x * channels
          const i = row + (width - 1 - x) * channels
          for (let c = 0; c < channels; c++) out[o + c] = lut[c][u8[i + c]]
        }
      }
    }
  }
  return out
}

/** Lookup of a contiguous run of whole pixels, specialised for the common channel counts. */
function lookupRun(
  u8: Uint8Array,
  out: Float32Array,
  from: number,
  to: number,
  lut: Float32Array[],
  channels: number
): void {
  if (channels === 3) {
    const [r, g, b] = lut
    for (let i = from; i < to; i += 3) {
      out[i] = r[u8[i]]
      out[i + 1] = g[u8[i + 1]]
      out[i + 2] = b[u8[i + 2]]
    }
  } else if (channels === 1) {
    const l = lut[0]
    for (let i = from; i < to; i++) out[i] = l[u8[i]]
  } else {
    for (let i = from; i < to; i++) out[i] = lut[(i - from) % channels][u8[i]]
  }
}

/** Zeroes a size×size square centred at (cy, cx), clipped to the image (DARTS' Cutout, applied after Normalize). */
function applyCutout(
  out: Float32Array,
  dst: number,
  height: number,
  width: number,
  channels: number,
  cy: number,
  cx: number,
  size: number
): void {
  const half = Math.floor(size / 2)
  const y0 = Math.max(0, cy - half)
  const y1 = Math.min(height, cy + half)
  const x0 = Math.max(0, cx - half)
  const x1 = Math.min(width, cx + half)
  for (let y = y0; y < y1; y++) out.fill(0, dst + (y * width + x0) * channels, dst + (y * width + x1) * channels)
}
