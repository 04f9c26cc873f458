import { describe, expect, it } from 'vitest'
import {
  BatchLoader,
  benchmarkBatches,
  channelStats,
  loadDataset,
  searchSplit,
  SEARCH_AUGMENTATION,
  testSplit,
  trainSplit,
  viewOf,
  type Dataset
} from '../../src/main/datasets'
import type { ImageSet } from '../../src/main/datasets'
import { sameBytes } from './helpers'

const synthetic = loadDataset('synthetic:400?seed=4')

/** A tiny set whose pixel values encode (image, y, x, c), to follow pixels through augmentation. */
function codedSet(count: number, size: number, channels: number): ImageSet {
  const images = new Uint8Array(count * size * size * channels)
  for (let n = 0; n < count; n++) {
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < channels; c++) {
          images[((n * size + y) * size + x) * channels + c] = 1 + ((n * 37 + y * size + x + 50 * c) % 250)
        }
  }
  return {
    count,
    height: size,
    width: size,
    channels,
    images,
    labels: Int32Array.from({ length: count }, (_, i) => i % 3)
  }
}

describe('splits', () => {
  it('search split: first half for weights, second half for alpha, in dataset order (spec 5.1)', () => {
    const { weights, alpha } = searchSplit(synthetic)
    expect(weights.count).toBe(200)
    expect(alpha.count).toBe(200)
    expect(Array.from(weights.indices)).toEqual([...Array(200).keys()])
    expect(Array.from(alpha.indices)).toEqual(Array.from({ length: 200 }, (_, i) => 200 + i))
  })

  it('subsets and shuffles are seeded, deterministic and disjoint', () => {
    const a = searchSplit(synthetic, { subset: 100, seed: 3 })
    const b = searchSplit(synthetic, { subset: 100, seed: 3 })
    const c = searchSplit(synthetic, { subset: 100, seed: 4 })
    expect(a.weights.indices).toEqual(b.weights.indices)
    expect(a.alpha.indices).toEqual(b.alpha.indices)
    expect(a.weights.indices).not.toEqual(c.weights.indices)
    const all = new Set([...a.weights.indices, ...a.alpha.indices])
    expect(all.size).toBe(100)
    expect(Math.max(...a.weights.indices)).toBeLessThan(Math.min(...a.alpha.indices)) // kept in dataset order
    const shuffled = searchSplit(synthetic, { shuffle: true, seed: 1, trainPortion: 0.75 })
    expect(shuffled.weights.count).toBe(300)
    expect(new Set([...shuffled.weights.indices, ...shuffled.alpha.indices]).size).toBe(400)
  })

  it('class-ordered data (image folders) is shuffled before the cut, so both halves see every class', () => {
    const set = codedSet(40, 4, 1)
    set.labels = Int32Array.from({ length: 40 }, (_, i) => (i < 20 ? 0 : 1))
    const ordered: Dataset = { ...synthetic, classes: ['a', 'b'], train: set, test: set, classOrdered: true }
    const { weights, alpha } = searchSplit(ordered, { seed: 2 })
    for (const part of [weights, alpha]) expect(new Set(Array.from(part.indices, (i) => set.labels[i])).size).toBe(2)
  })

  it('train and test views, with subsets', () => {
    expect(trainSplit(synthetic).count).toBe(400)
    expect(testSplit(synthetic).count).toBe(80)
    expect(trainSplit(synthetic, { subset: 50, seed: 1 }).indices).toEqual(
      trainSplit(synthetic, { subset: 50, seed: 1 }).indices
    )
    expect(testSplit(synthetic, { subset: 10 }).count).toBe(10)
  })
})

describe('BatchLoader', () => {
  const set = codedSet(10, 6, 3)
  const view = viewOf(set, 3)

  it('without augmentation: exact pixels through the lookup table, NHWC, in order', () => {
    const normalize = { mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2] }
    const loader = new BatchLoader(view, { batchSize: 4, shuffle: false, normalize })
    const batches = [...loader.epochBatches()]
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2])
    expect(batches[0].shape).toEqual([4, 6, 6, 3])
    expect(Array.from(batches[2].labels)).toEqual([2, 0])
    const first = batches[0].images
    for (let i = 0; i < 4 * 108; i++) {
      const c = i % 3
      expect(first[i]).toBeCloseTo((set.images[i] / 255 - normalize.mean[c]) / normalize.std[c], 5)
    }
  })

  it('random crop with padding shifts the image and fills zeros; flip mirrors; both seeded', () => {
    const loader = new BatchLoader(view, { batchSize: 10, shuffle: false, augment: { padding: 2, flip: true } })
    const batch = loader.next()
    const again = new BatchLoader(view, { batchSize: 10, shuffle: false, augment: { padding: 2, flip: true } }).next()
    expect(batch.images).toEqual(again.images)
    // Each output image must be some shift (|dy|,|dx| <= 2) of the source, maybe mirrored, with zeros outside.
    let shifted = 0
    let flipped = 0
    for (let n = 0; n < 10; n++) {
      const out = batch.images.subarray(n * 108, (n + 1) * 108)
      const matches: string[] = []
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++)
          for (const flip of [false, true]) {
            let ok = true
            for (let y = 0; y < 6 && ok; y++)
              for (let x = 0; x < 6 && ok; x++)
                for (let c = 0; c < 3 && ok; c++) {
                  const sx = (flip ? 5 - x : x) + dx
                  const sy = y + dy
                  const want =
                    sy < 0 || sy > 5 || sx < 0 || sx > 5 ? 0 : set.images[((n * 6 + sy) * 6 + sx) * 3 + c] / 255
                  ok = Math.abs(out[(y * 6 + x) * 3 + c] - want) < 1e-6
                }
            if (ok) matches.push(`${dy},${dx},${flip}`)
          }
      expect(matches.length, `image ${n}`).toBe(1)
      if (!matches[0].startsWith('0,0')) shifted++
      if (matches[0].endsWith('true')) flipped++
    }
    expect(shifted).toBeGreaterThan(3)
    expect(flipped).toBeGreaterThan(1)
    expect(flipped).toBeLessThan(10)
  })

  it('flip works for one-channel images too', () => {
    const gray = codedSet(4, 5, 1)
    const batch = new BatchLoader(viewOf(gray, 3), {
      batchSize: 4,
      shuffle: false,
      seed: 3,
      augment: { flip: true }
    }).next()
    for (let n = 0; n < 4; n++) {
      const row = Array.from(batch.images.subarray(n * 25, n * 25 + 5), (v) => Math.round(v * 255))
      const src = Array.from(gray.images.subarray(n * 25, n * 25 + 5))
      expect([src, [...src].reverse()]).toContainEqual(row)
    }
  })

  it('cutout zeroes a square after normalisation', () => {
    const big = codedSet(8, 16, 3)
    const normalize = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }
    const batch = new BatchLoader(viewOf(big, 3), {
      batchSize: 8,
      shuffle: false,
      normalize,
      augment: { cutout: 6 }
    }).next()
    for (let n = 0; n < 8; n++) {
      const zeros = batch.images.subarray(n * 768, (n + 1) * 768).filter((v) => v === 0).length / 3
      expect(zeros).toBeGreaterThanOrEqual(9) // at least a 3×3 corner of the 6×6 square stays inside
      expect(zeros).toBeLessThanOrEqual(36)
    }
  })

  it('shuffles every epoch, each image once per epoch, and next() streams across epochs', () => {
    const loader = new BatchLoader(view, { batchSize: 3, seed: 5 })
    const epoch1 = [...loader.epochBatches()].flatMap((b) => Array.from(b.indices))
    const epoch2 = [...loader.epochBatches()].flatMap((b) => Array.from(b.indices))
    expect([...epoch1].sort((a, b) => a - b)).toEqual([...Array(10).keys()])
    expect([...epoch2].sort((a, b) => a - b)).toEqual([...Array(10).keys()])
    expect(epoch1).not.toEqual(epoch2)
    const stream = new BatchLoader(view, { batchSize: 4, seed: 5, dropLast: true })
    expect(stream.batchesPerEpoch).toBe(2)
    const sizes = Array.from({ length: 5 }, () => stream.next().size)
    expect(sizes).toEqual([4, 4, 4, 4, 4])
    expect(stream.epoch).toBe(3)
  })

  it('the search loaders on a real split give CIFAR-shaped float batches', () => {
    const { weights, alpha } = searchSplit(synthetic)
    const normalize = channelStats(synthetic.train)
    const w = new BatchLoader(weights, { batchSize: 64, seed: 2, augment: SEARCH_AUGMENTATION, normalize })
    const a = new BatchLoader(alpha, { batchSize: 64, seed: 3, augment: SEARCH_AUGMENTATION, normalize })
    expect(w.batchesPerEpoch).toBe(4)
    const batch = a.next()
    expect(batch.shape).toEqual([64, 32, 32, 3])
    expect(batch.images).toBeInstanceOf(Float32Array)
    expect(batch.images.length).toBe(64 * 32 * 32 * 3)
    expect(Array.from(batch.indices).every((i) => i >= 200)).toBe(true)
    expect(Array.from(w.next().indices).every((i) => i < 200)).toBe(true)
  })

  it('benchmarkBatches reports batches per second for CIFAR-shaped data', () => {
    const result = benchmarkBatches({ seconds: 0.3 })
    expect(result.batchSize).toBe(64)
    expect(result.shape).toEqual([32, 32, 3])
    expect(result.batchesPerSecond).toBeGreaterThan(20) // ~900/s measured on the 2-core dev machine
  })
})

describe('synthetic data', () => {
  it('is deterministic per seed, balanced, and differs between seeds', () => {
    const again = loadDataset('synthetic:400?seed=4')
    expect(sameBytes(again.train.images, synthetic.train.images)).toBe(true)
    expect(sameBytes(again.test.images, synthetic.test.images)).toBe(true)
    expect(sameBytes(loadDataset('synthetic:400?seed=5').train.images, synthetic.train.images)).toBe(false)
    const counts = new Array(10).fill(0)
    synthetic.train.labels.forEach((l) => counts[l]++)
    expect(counts).toEqual(new Array(10).fill(40))
  })

  it('is learnable: a nearest-class-mean of simple features separates the classes far above chance', () => {
    // Features: mean colour plus mean absolute horizontal and vertical differences (stripe orientation).
    const features = (set: ImageSet, n: number): number[] => {
      const { height: h, width: w, channels: ch } = set
      const img = set.images.subarray(n * h * w * ch, (n + 1) * h * w * ch)
      const f = new Array(ch + 3).fill(0)
      for (let y = 0; y < h - 1; y++)
        for (let x = 0; x < w - 1; x++) {
          const i = (y * w + x) * ch
          for (let c = 0; c < ch; c++) f[c] += img[i + c] / (h * w)
          f[ch] += Math.abs(img[i] - img[i + ch]) / (h * w)
          f[ch + 1] += Math.abs(img[i] - img[i + w * ch]) / (h * w)
          f[ch + 2] += Math.abs(img[i] - img[i + w * ch + ch]) / (h * w)
        }
      return f
    }
    const k = synthetic.classes.length
    const means = Array.from({ length: k }, () => new Array(6).fill(0))
    for (let n = 0; n < synthetic.train.count; n++) {
      features(synthetic.train, n).forEach((v, j) => (means[synthetic.train.labels[n]][j] += v / 40))
    }
    let correct = 0
    for (let n = 0; n < synthetic.test.count; n++) {
      const f = features(synthetic.test, n)
      const dist = means.map((m) => m.reduce((s, v, j) => s + (v - f[j]) ** 2, 0))
      if (dist.indexOf(Math.min(...dist)) === synthetic.test.labels[n]) correct++
    }
    expect(correct / synthetic.test.count).toBeGreaterThan(0.75) // chance is 0.1; measured 0.9
  })
})

describe('misuse is a RangeError, not a data error', () => {
  it('rejects bad loader and split options with exact messages', () => {
    const view = viewOf(codedSet(5, 4, 1), 3)
    expect(() => new BatchLoader(view, { batchSize: 0 })).toThrow(
      new RangeError('batchSize must be a positive integer, got 0')
    )
    expect(() => new BatchLoader(view, { batchSize: 8, dropLast: true })).toThrow(
      new RangeError('5 images are fewer than one batch of 8 with dropLast')
    )
    expect(() => new BatchLoader(view, { batchSize: 2, normalize: { mean: [0], std: [0] } })).toThrow(
      new RangeError('std of channel 0 must be positive, got 0')
    )
    expect(() => searchSplit(synthetic, { trainPortion: 1 })).toThrow(
      new RangeError('trainPortion must be in (0, 1), got 1')
    )
    expect(() => trainSplit(synthetic, { subset: 0 })).toThrow(
      new RangeError('train split: subset must be a positive integer, got 0')
    )
  })
})

describe('BatchLoader state for checkpoints', () => {
  const view = viewOf(codedSet(23, 6, 3), 3)
  const options = { batchSize: 5, seed: 9, augment: { padding: 2, flip: true, cutout: 2 } }

  it('a restored loader continues with exactly the same batches, mid-epoch and across epochs', () => {
    const reference = new BatchLoader(view, options)
    const first = [...reference.epochBatches()]
    reference.next()
    reference.next()
    const saved = JSON.parse(JSON.stringify(reference.saveState()))
    const expected = [reference.next(), reference.next(), reference.next(), reference.next()]
    const restored = new BatchLoader(view, options)
    restored.restoreState(saved)
    for (const batch of expected) {
      const got = restored.next()
      expect(Array.from(got.indices)).toEqual(Array.from(batch.indices))
      expect(sameBytes(got.images, batch.images)).toBe(true)
    }
    expect(restored.epoch).toBe(reference.epoch)
    expect(first).toHaveLength(5)
  })

  it('epochBatches() after a mid-epoch restore yields the rest of that epoch', () => {
    const reference = new BatchLoader(view, options)
    const epoch = reference.epochBatches()
    epoch.next()
    epoch.next()
    const saved = reference.saveState()
    const rest = [...epoch].map((b) => Array.from(b.indices))
    const restored = new BatchLoader(view, options)
    restored.restoreState(saved)
    expect([...restored.epochBatches()].map((b) => Array.from(b.indices))).toEqual(rest)
    expect(Array.from(restored.next().indices)).toEqual(Array.from(reference.next().indices))
  })

  it('rejects a state that is not one', () => {
    expect(() =>
      new BatchLoader(view, options).restoreState({ epochs: 1, cursor: 99, epochOrderRng: 1, augmentRng: 1 })
    ).toThrow(new RangeError('cursor 99 is past the 23 images of the view'))
  })
})
