import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { afterAll, describe, expect, it } from 'vitest'
import { loadDataset } from '../../src/main/datasets'
import { centreSquare, decodeImage } from '../../src/main/datasets/images'
import { snapshot, tempFolder } from './helpers'

/**
 * fit=crop on real PNG and JPEG files: pictures wider or taller than square keep their aspect ratio and lose the ends
 * of their longer side, where fit=stretch squeezes the whole picture in. The pictures have a green centre square and
 * red bands beyond it, so which pixels survive is plain to see.
 */
const { dir, cleanup } = tempFolder('bnas-crop-')
afterAll(cleanup)

const RED: [number, number, number] = [220, 20, 20]
const GREEN: [number, number, number] = [20, 200, 40]

/** width×height with the centred min-side square green and the rest red. */
function pixels(width: number, height: number): Buffer {
  const side = Math.min(width, height)
  const left = Math.floor((width - side) / 2)
  const top = Math.floor((height - side) / 2)
  const data = Buffer.alloc(width * height * 4)
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const inside = x >= left && x < left + side && y >= top && y < top + side
      data.set([...(inside ? GREEN : RED), 255], 4 * (y * width + x))
    }
  return data
}

function writePng(path: string, width: number, height: number): void {
  const image = new PNG({ width, height })
  pixels(width, height).copy(image.data)
  writeFileSync(path, PNG.sync.write(image))
}

function writeJpeg(path: string, width: number, height: number): void {
  writeFileSync(path, jpeg.encode({ width, height, data: pixels(width, height) }, 95).data)
}

const root = join(dir, 'photos')
mkdirSync(join(root, 'wide'), { recursive: true })
mkdirSync(join(root, 'tall'), { recursive: true })
writePng(join(root, 'wide', 'a.png'), 120, 40) // 3:1, the green square in the middle third
writeJpeg(join(root, 'wide', 'b.jpg'), 97, 64)
writePng(join(root, 'tall', 'a.png'), 30, 90)
writeJpeg(join(root, 'tall', 'b.jpg'), 48, 80)

/** Per image: the share of its pixels that are red (r clearly above g). */
function redShare(images: Uint8Array, index: number, size: number): number {
  let red = 0
  for (let p = 0; p < size * size; p++) {
    const r = images[(index * size * size + p) * 3]
    const g = images[(index * size * size + p) * 3 + 1]
    if (r > g + 60) red++
  }
  return red / (size * size)
}

describe('image folder with fit=crop', () => {
  it('keeps the centred square of every picture, where stretch keeps all of it squeezed', () => {
    const before = snapshot(root)
    const crop = loadDataset(`folder:${root}?size=16&fit=crop&test=0`)
    const stretch = loadDataset(`folder:${root}?size=16&test=0`)
    expect(crop.spec).toMatchObject({ fit: 'crop', size: 16 })
    expect(crop.shape).toEqual({ height: 16, width: 16, channels: 3 })
    expect(crop.train.count).toBe(4)
    for (let i = 0; i < 4; i++) {
      // The crop is the green square alone (JPEG blurs an edge pixel at most).
      expect(redShare(crop.train.images, i, 16)).toBeLessThan(0.07)
      // Stretched, the red bands are squeezed in: from a third (80×64... 97 wide) to two thirds of the picture.
      expect(redShare(stretch.train.images, i, 16)).toBeGreaterThan(0.25)
    }
    expect(snapshot(root)).toEqual(before) // only read
  })

  it('takes the exact centre: the offset is the floor of half the difference', () => {
    const image = decodeImage('x.png', readPng(7, 4))
    const square = centreSquare(image)
    expect([square.width, square.height]).toEqual([4, 4])
    // Columns 1..4 of the 7 survive: the red value of pixel (0, 0) of the square is column 1's.
    const column = (x: number) => square.data[4 * x]
    expect([0, 1, 2, 3].map(column)).toEqual([1, 2, 3, 4].map((x) => x * 30))
    expect(centreSquare({ width: 3, height: 3, data: new Uint8Array(36) }).width).toBe(3)
  })

  it('says what is wrong with an unknown fit, before reading anything', () => {
    expect(() => loadDataset(`folder:${root}?fit=zoom`)).toThrow(/option fit must be stretch or crop, got 'zoom'/)
  })
})

/** A 7×4 PNG whose red channel is 30·x, to see which columns a crop keeps. */
function readPng(width: number, height: number): Buffer {
  const image = new PNG({ width, height })
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) image.data.set([x * 30, 0, 0, 255], 4 * (y * width + x))
  return PNG.sync.write(image)
}
