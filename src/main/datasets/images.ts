import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import type { FolderFit } from '../../shared/datasets'
import { DatasetError } from './errors'

/** Decoded pixels, always 8-bit RGBA (what both decoders give, whatever the file's colour type). */
export interface RgbaImage {
  width: number
  height: number
  data: Uint8Array
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff
}

/**
 * Decodes a PNG or JPEG, chosen by its leading bytes rather than its name. Grayscale, palette and 16-bit PNGs come
 * out as 8-bit RGBA; so do grayscale JPEGs. JPEG decoding is strict: a truncated file is an error, not a half-grey
 * image that would quietly poison training.
 */
export function decodeImage(path: string, bytes: Buffer): RgbaImage {
  try {
    if (isPng(bytes)) {
      const png = PNG.sync.read(bytes)
      return {
        width: png.width,
        height: png.height,
        data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length)
      }
    }
    if (isJpeg(bytes)) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false })
      return { width: img.width, height: img.height, data: img.data }
    }
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    throw new DatasetError(path, `does not decode as ${isPng(bytes) ? 'PNG' : 'JPEG'} (${why})`)
  }
  throw new DatasetError(path, 'is not a PNG or JPEG image (unrecognised leading bytes)')
}

/**
 * RGBA to `channels` planes of floats: alpha is premultiplied (a transparent pixel is black: it carries no signal);
 * one channel uses the ITU-R 601 luma weights, as PIL's convert('L') does.
 */
function toChannels(image: RgbaImage, channels: 1 | 3): Float32Array {
  const { data } = image
  const pixels = image.width * image.height
  const out = new Float32Array(pixels * channels)
  for (let p = 0; p < pixels; p++) {
    const a = data[4 * p + 3] / 255
    const r = data[4 * p] * a
    const g = data[4 * p + 1] * a
    const b = data[4 * p + 2] * a
    if (channels === 1) out[p] = 0.299 * r + 0.587 * g + 0.114 * b
    else {
      out[3 * p] = r
      out[3 * p + 1] = g
      out[3 * p + 2] = b
    }
  }
  return out
}

interface Taps {
  start: Int32Array
  count: Int32Array
  weights: Float32Array
  maxTaps: number
}

/**
 * Per output coordinate, the input samples and weights of a triangle (bilinear) filter with half-pixel centres.
 * When shrinking, the triangle is widened by the scale factor, as PIL does, so that every input pixel contributes
 * (plain bilinear would skip pixels and alias). Growing it is exactly bilinear; the same size is the identity.
 */
function filterTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize
  const support = Math.max(scale, 1)
  const maxTaps = Math.ceil(support) * 2 + 1
  const start = new Int32Array(outSize)
  const count = new Int32Array(outSize)
  const weights = new Float32Array(outSize * maxTaps)
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale
    const lo = Math.max(0, Math.floor(center - support))
    const hi = Math.min(inSize, Math.ceil(center + support))
    let total = 0
    let n = 0
    for (let i = lo; i < hi; i++, n++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - center) / support))
      weights[o * maxTaps + n] = w
      total += w
    }
    for (let k = 0; k < n; k++) weights[o * maxTaps + k] /= total
    start[o] = lo
    count[o] = n
  }
  return { start, count, weights, maxTaps }
}

/**
 * The centred square of an image, its side the shorter side (of an odd difference, the extra pixel is dropped on
 * the right or at the bottom). Resizing that square equals resizing the shorter side to the size and then
 * cropping the centre, up to where the edge falls: the aspect ratio is kept, the longer side's ends are dropped.
 */
export function centreSquare(image: RgbaImage): RgbaImage {
  const side = Math.min(image.width, image.height)
  if (image.width === image.height) return image
  const left = Math.floor((image.width - side) / 2)
  const top = Math.floor((image.height - side) / 2)
  const data = new Uint8Array(side * side * 4)
  for (let y = 0; y < side; y++) {
    const from = ((top + y) * image.width + left) * 4
    data.set(image.data.subarray(from, from + side * 4), y * side * 4)
  }
  return { width: side, height: side, data }
}

/**
 * Decoded image to `size`×`size`×`channels` uint8, written at `out[offset...]`. With fit 'stretch' the whole image is
 * squeezed to the square, as torchvision's Resize((s, s)) does; with 'crop' its centred square is resized (aspect
 * ratio kept). Deterministic (no randomness, fixed arithmetic order).
 */
export function resizeInto(
  input: RgbaImage,
  size: number,
  channels: 1 | 3,
  out: Uint8Array,
  offset: number,
  fit: FolderFit = 'stretch'
): void {
  const image = fit === 'crop' ? centreSquare(input) : input
  const src = toChannels(image, channels)
  const { width, height } = image
  const tx = filterTaps(width, size)
  const ty = filterTaps(height, size)
  // Horizontal pass: height × size.
  const mid = new Float32Array(height * size * channels)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < size; x++) {
      const base = x * tx.maxTaps
      for (let c = 0; c < channels; c++) {
        let acc = 0
        for (let k = 0; k < tx.count[x]; k++)
          acc += tx.weights[base + k] * src[(y * width + tx.start[x] + k) * channels + c]
        mid[(y * size + x) * channels + c] = acc
      }
    }
  }
  // Vertical pass straight into the uint8 output.
  for (let y = 0; y < size; y++) {
    const base = y * ty.maxTaps
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < channels; c++) {
        let acc = 0
        for (let k = 0; k < ty.count[y]; k++)
          acc += ty.weights[base + k] * mid[((ty.start[y] + k) * size + x) * channels + c]
        out[offset + (y * size + x) * channels + c] = Math.min(255, Math.max(0, Math.round(acc)))
      }
    }
  }
}
