import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { afterAll, describe, expect, it } from 'vitest'
import { loadDataset, summarizeDataset } from '../../src/main/datasets'
import { datasetSummarySchema } from '../../src/shared/datasets'
import { sameBytes, snapshot, tempFolder } from './helpers'

const { dir, cleanup } = tempFolder()
afterAll(cleanup)

type Pixel = (x: number, y: number) => [number, number, number, number]

function png(path: string, width: number, height: number, pixel: Pixel, colorType: 0 | 2 | 6 = 6): void {
  const image = new PNG({ width, height, colorType, inputColorType: 6, inputHasAlpha: true })
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) image.data.set(pixel(x, y), 4 * (y * width + x))
  writeFileSync(path, PNG.sync.write(image, { colorType, inputColorType: 6, inputHasAlpha: true }))
}

function jpg(path: string, width: number, height: number, pixel: Pixel): void {
  const data = Buffer.alloc(width * height * 4)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), 4 * (y * width + x))
  writeFileSync(path, jpeg.encode({ width, height, data }, 95).data)
}

const solid =
  (r: number, g: number, b: number, a = 255): Pixel =>
  () => [r, g, b, a]

/** Mean of each channel of one image of a set. */
function imageMean(images: Uint8Array, index: number, size: number, channels: number): number[] {
  const bytes = size * size * channels
  const sums = new Array(channels).fill(0)
  for (let i = 0; i < bytes; i++) sums[i % channels] += images[index * bytes + i]
  return sums.map((s) => s / (size * size))
}

describe('image folder', () => {
  const root = join(dir, 'flat')
  for (const name of ['cat', 'dog', 'empty-is-not-here']) mkdirSync(join(root, name), { recursive: true })
  // cats: red-ish PNGs of several sizes, one grayscale PNG and one with alpha; dogs: blue JPEGs.
  png(join(root, 'cat', 'a.png'), 32, 32, (x, y) => [(x * 8) % 256, (y * 8) % 256, 7, 255], 2)
  png(join(root, 'cat', 'b.png'), 100, 60, solid(200, 30, 30))
  png(join(root, 'cat', 'c.PNG'), 17, 45, solid(90, 90, 90), 0)
  png(join(root, 'cat', 'd.png'), 8, 8, solid(200, 100, 50, 0)) // fully transparent
  jpg(join(root, 'dog', 'a.jpg'), 64, 48, solid(20, 40, 220))
  jpg(join(root, 'dog', 'b.jpeg'), 31, 33, solid(20, 40, 220))
  jpg(join(root, 'dog', 'c.JPG'), 300, 200, solid(20, 40, 220))
  png(join(root, 'dog', 'd.png'), 5, 5, solid(20, 40, 220))
  writeFileSync(join(root, 'dog', 'notes.txt'), 'not an image, ignored')
  writeFileSync(join(root, '.DS_Store'), 'ignored')
  png(join(root, 'empty-is-not-here', 'x.png'), 4, 4, solid(0, 255, 0))

  it('reads PNG and JPEG of any size into size×size×3, all to train with test=0', () => {
    const before = snapshot(root)
    const dataset = loadDataset(`folder:${root}?test=0`)
    expect(dataset.classes).toEqual(['cat', 'dog', 'empty-is-not-here'])
    expect(dataset.shape).toEqual({ height: 32, width: 32, channels: 3 })
    expect(dataset.train.count).toBe(9)
    expect(dataset.test.count).toBe(0)
    expect(Array.from(dataset.train.labels)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2])
    const { images } = dataset.train
    // a.png is 32×32 RGB: copied exactly.
    for (const [x, y] of [
      [0, 0],
      [5, 3],
      [31, 31]
    ]) {
      expect(Array.from(images.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3))).toEqual([
        (x * 8) % 256,
        (y * 8) % 256,
        7
      ])
    }
    // Solid colours stay solid whatever the resize; grayscale PNG replicated; transparent premultiplied to black.
    expect(imageMean(images, 1, 32, 3)).toEqual([200, 30, 30])
    expect(imageMean(images, 2, 32, 3)).toEqual([90, 90, 90])
    expect(imageMean(images, 3, 32, 3)).toEqual([0, 0, 0])
    for (const i of [4, 5, 6]) {
      imageMean(images, i, 32, 3).forEach((v, c) => expect(Math.abs(v - [20, 40, 220][c])).toBeLessThan(4)) // JPEG is lossy
    }
    expect(imageMean(images, 7, 32, 3)).toEqual([20, 40, 220])
    expect(snapshot(root)).toEqual(before)
  })

  it('converts to one channel with luma weights and honours size', () => {
    const dataset = loadDataset(`folder:${root}?size=8&channels=1&test=0`)
    expect(dataset.shape).toEqual({ height: 8, width: 8, channels: 1 })
    expect(imageMean(dataset.train.images, 1, 8, 1)).toEqual([Math.round(0.299 * 200 + 0.587 * 30 + 0.114 * 30)])
  })

  it('resizes bilinearly with half-pixel centres (upscale) and averages when shrinking', () => {
    const small = join(dir, 'resize')
    mkdirSync(join(small, 'a'), { recursive: true })
    mkdirSync(join(small, 'b'), { recursive: true })
    png(join(small, 'a', 'ramp.png'), 2, 2, (x) => [x * 255, x * 255, x * 255, 255], 0)
    // A one-pixel checkerboard shrunk by 2 must be grey, not a copy of every other pixel (aliasing).
    png(join(small, 'b', 'checker.png'), 16, 16, (x, y) => ((x + y) % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255]), 0)
    const up = loadDataset(`folder:${small}?size=4&channels=1&test=0`)
    // PIL / OpenCV bilinear of [0, 255] to 4 samples: 0, 63.75, 191.25, 255.
    expect(Array.from(up.train.images.subarray(0, 4))).toEqual([0, 64, 191, 255])
    expect(Array.from(up.train.images.subarray(12, 16))).toEqual([0, 64, 191, 255])
    const down = loadDataset(`folder:${small}?size=8&channels=1&test=0`)
    const checker = down.train.images.subarray(64, 128)
    for (let y = 1; y < 7; y++) for (let x = 1; x < 7; x++) expect(checker[y * 8 + x]).toBe(128)
  })

  it('holds out a seeded share of each class as the test set', () => {
    const many = join(dir, 'many')
    for (const c of ['x', 'y']) {
      mkdirSync(join(many, c), { recursive: true })
      for (let i = 0; i < 10; i++) png(join(many, c, `${i}.png`), 4, 4, solid(c === 'x' ? i : 100 + i, 0, 0))
    }
    const a = loadDataset(`folder:${many}?size=4&test=0.3&seed=1`)
    const b = loadDataset(`folder:${many}?size=4&test=0.3&seed=1`)
    const c = loadDataset(`folder:${many}?size=4&test=0.3&seed=2`)
    expect(a.train.count).toBe(14)
    expect(a.test.count).toBe(6)
    expect(Array.from(a.test.labels)).toEqual([0, 0, 0, 1, 1, 1])
    expect(sameBytes(a.test.images, b.test.images)).toBe(true)
    expect(sameBytes(a.test.images, c.test.images)).toBe(false)
    // Every image is in exactly one split: the red values seen are all 20 files.
    const reds = [...a.train.images.filter((_, i) => i % 48 === 0), ...a.test.images.filter((_, i) => i % 48 === 0)]
    expect(reds.sort((p, q) => p - q)).toEqual([...Array(10).keys(), ...Array.from({ length: 10 }, (_, i) => 100 + i)])
  })

  it('uses train/ and test/ sub-folders when both exist', () => {
    const split = join(dir, 'split')
    for (const part of ['train', 'test']) {
      for (const c of ['p', 'q']) {
        mkdirSync(join(split, part, c), { recursive: true })
        png(join(split, part, c, '1.png'), 6, 6, solid(part === 'train' ? 10 : 20, 0, 0))
      }
    }
    png(join(split, 'train', 'q', '2.png'), 6, 6, solid(10, 0, 0))
    const dataset = loadDataset(`folder:${split}?size=6`)
    expect(dataset.classes).toEqual(['p', 'q'])
    expect(Array.from(dataset.train.labels)).toEqual([0, 1, 1])
    expect(Array.from(dataset.test.labels)).toEqual([0, 1])
    const summary = datasetSummarySchema.parse(summarizeDataset(dataset))
    expect(summary.splits).toEqual({ train: { count: 3, perClass: [1, 2] }, test: { count: 2, perClass: [1, 1] } })
    expect(summary.samples).toHaveLength(2)
    const decoded = PNG.sync.read(Buffer.from(summary.samples[0].dataUrl.split(',')[1], 'base64'))
    expect([decoded.width, decoded.height, decoded.data[0], decoded.data[3]]).toEqual([6, 6, 10, 255])
  })

  it('decodes formats the test encoders cannot write: gray and CMYK JPEG, progressive, palette, 16-bit, gray+alpha', () => {
    // test/fixtures/datasets/formats: made with ImageMagick, see its README.md.
    const fixtures = fileURLToPath(new URL('../fixtures/datasets/formats', import.meta.url))
    const dataset = loadDataset(`folder:${fixtures}?size=8&test=0`)
    expect(dataset.classes).toEqual(['color', 'gray'])
    const means = [0, 1, 2, 3, 4, 5].map((i) => imageMean(dataset.train.images, i, 8, 3).map(Math.round))
    expect(means).toEqual([
      [10, 200, 29], // cmyk.jpg (lossy by one)
      [10, 200, 30], // palette.png
      [10, 200, 30], // progressive.jpg
      [50, 50, 50], // gray-alpha.png: 100 at alpha 128, premultiplied
      [100, 100, 100], // gray.jpg
      [128, 128, 128] // gray16.png: 0x8080 scaled to 8 bits
    ])
  })
})
