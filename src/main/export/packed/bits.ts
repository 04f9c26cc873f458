/**
 * The bit-packing convention of the packed 1-bit model (written down in ../README.md, tested in test/export):
 * - 32 values per 32-bit word, little-endian words; value c of a group lies in word ⌊c/32⌋, bit c mod 32 (bit 0 =
 *   least significant).
 * - SIGN plane: bit 1 means −1, bit 0 means +1 (or 0 / padding when the MASK plane says so).
 * - MASK plane ("nonzero"): bit 1 means the value is ±1, bit 0 means it is 0. torch.sign(0) = 0 and the convolution's
 *   zero padding make the binary activations ternary; the mask keeps them exact.
 * - Pad value: channels past the last real one (C rounded up to a multiple of 32) have 0 in both planes, so they stand
 *   for the value 0 and add nothing to any dot product. Taps outside the image are the value 0 too (PyTorch pads
 *   convolutions with zeros).
 * - Weights: [C_out][kh][kw][⌈C_in/32⌉ words]; activations: [N][H][W][⌈C/32⌉ words].
 * Dot product of two ternary vectors: Σ popcount(ma & mb) − 2·Σ popcount((sa ^ sb) & ma & mb).
 */
export const BITS_PER_WORD = 32

export function wordsFor(channels: number): number {
  return Math.ceil(channels / BITS_PER_WORD)
}

/** Packs groups of `channels` values (consecutive in `values`) into sign and mask planes. */
export function packSigns(
  values: ArrayLike<number>,
  channels: number
): { sign: Uint32Array; mask: Uint32Array; zeros: number } {
  const groups = values.length / channels
  if (!Number.isInteger(groups)) throw new Error(`packSigns: ${values.length} values are not groups of ${channels}`)
  const words = wordsFor(channels)
  const sign = new Uint32Array(groups * words)
  const mask = new Uint32Array(groups * words)
  let zeros = 0
  for (let g = 0; g < groups; g++) {
    for (let c = 0; c < channels; c++) {
      const v = values[g * channels + c]
      const word = g * words + (c >>> 5)
      const bit = 1 << (c & 31)
      if (v < 0) {
        sign[word] |= bit
        mask[word] |= bit
      } else if (v > 0) mask[word] |= bit
      else zeros++
    }
  }
  return { sign, mask, zeros }
}

/** The inverse of packSigns: −1, 0 or +1 per value. */
export function unpackSigns(sign: Uint32Array, mask: Uint32Array | undefined, channels: number): Float32Array {
  const words = wordsFor(channels)
  const groups = sign.length / words
  const out = new Float32Array(groups * channels)
  for (let g = 0; g < groups; g++) {
    for (let c = 0; c < channels; c++) {
      const word = g * words + (c >>> 5)
      const bit = 1 << (c & 31)
      const nonzero = mask ? (mask[word] & bit) !== 0 : true
      out[g * channels + c] = nonzero ? ((sign[word] & bit) !== 0 ? -1 : 1) : 0
    }
  }
  return out
}

export function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555)
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333)
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff
}

/**
 * A binary conv weight [kh, kw, C_in, C_out] re-laid as [C_out][kh][kw][words] sign bits, plus a mask plane only when
 * some weight is exactly 0 (sign(0) = 0 then).
 */
export function packConvWeight(
  weight: Float32Array,
  kernel: number,
  cin: number,
  cout: number
): { sign: Uint32Array; mask?: Uint32Array } {
  const taps = kernel * kernel
  const transposed = new Float32Array(weight.length)
  for (let t = 0; t < taps; t++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let co = 0; co < cout; co++) transposed[(co * taps + t) * cin + ci] = weight[(t * cin + ci) * cout + co]
    }
  }
  const { sign, mask, zeros } = packSigns(transposed, cin)
  return zeros > 0 ? { sign, mask } : { sign }
}
