import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  binaryConv2d,
  binaryConv2dReference,
  loadNativeAddon,
  nativeAddonStatus,
  packSigns,
  registerNativeBackend,
  type BinaryConvOptions
} from '../../src/main/engine/native'
import { randomValues, relativeError, runOn, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('binary conv')

interface BinaryCase {
  name: string
  input: [number, number, number, number]
  k: number
  cout: number
  options: BinaryConvOptions
}

// The four binary ops at stride 1 and 2; 40 input channels span two packed words, 20 outputs leave a partial vector.
const CASES: BinaryCase[] = [
  { name: 'bin_conv_3x3 s1', input: [2, 8, 8, 8], k: 3, cout: 8, options: { padding: 1 } },
  { name: 'bin_conv_3x3 s2, 7×7, batch 1', input: [1, 7, 7, 16], k: 3, cout: 16, options: { padding: 1, stride: 2 } },
  { name: 'bin_conv_5x5 s1, C_in 40, C_out 20', input: [2, 9, 9, 40], k: 5, cout: 20, options: { padding: 2 } },
  { name: 'bin_conv_5x5 s2', input: [2, 8, 8, 32], k: 5, cout: 32, options: { padding: 2, stride: 2 } },
  { name: 'bin_dil_conv_3x3 s1', input: [2, 9, 9, 8], k: 3, cout: 8, options: { padding: 2, dilation: 2 } },
  { name: 'bin_dil_conv_3x3 s2', input: [2, 8, 8, 8], k: 3, cout: 8, options: { padding: 2, dilation: 2, stride: 2 } },
  { name: 'bin_dil_conv_5x5 s1, 7×7', input: [1, 7, 7, 8], k: 5, cout: 8, options: { padding: 4, dilation: 2 } },
  {
    name: 'bin_dil_conv_5x5 s2, 9×9, C_out 33',
    input: [2, 9, 9, 24],
    k: 5,
    cout: 33,
    options: { padding: 4, dilation: 2, stride: 2 }
  }
]

describe.skipIf(!status.available)(`bit-packed binary conv${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  it('packs 32 channels a word, bit 1 = negative, a nonzero plane for sign(0) = 0, zero past C', () => {
    const addon = loadNativeAddon()
    // 2 pixels × 34 channels: pixel 0 has c0 = −1, c1 = 0, c2 = +2, c33 = −0.5; pixel 1 is all −1.
    const values = new Float32Array(68).fill(1)
    values[0] = -1
    values[1] = 0
    values[2] = 2
    values[33] = -0.5
    for (let c = 34; c < 68; c++) values[c] = -1
    const packed = packSigns(addon, values, 34)
    expect(packed.wordsPerPixel).toBe(2)
    expect(packed.signs[0]).toBe(0b1)
    expect(packed.nonzero[0]).toBe(0xffffffff - 0b10)
    expect(packed.signs[1]).toBe(0b10)
    expect(packed.nonzero[1]).toBe(0b11)
    expect(packed.signs[2]).toBe(0xffffffff)
    expect(packed.signs[3]).toBe(0b11) // channel bits past 34 stay 0
    expect(packed.nonzero[3]).toBe(0b11)
  })

  for (const [c, path, filterZeros] of CASES.flatMap((c) =>
    (['auto', 'scalar'] as const).flatMap((p) => [[c, p, 0.05] as const, [c, p, 0] as const])
  )) {
    it(`${c.name} (${path === 'auto' ? status.available && status.info.binaryConv : 'scalar path'}), ${filterZeros ? 'W with zeros' : 'W without zeros'}: XNOR/popcount equals sign(x) ⊛ sign(W)·α computed in float`, async () => {
      expect(loadNativeAddon().setBinaryConvPath(path)).toBe(
        path === 'scalar' ? 'scalar-popcount' : status.available && status.info.binaryConv
      )
      const [n, h, w, cin] = c.input
      // Exact zeros in x and W: sign(0) = 0 makes those taps ternary, like the zero padding at the borders.
      const x = { values: randomValues(n * h * w * cin, 21, 0.1), shape: [...c.input] }
      // With and without exact zeros in W: a zero-free filter takes the faster one-popcount path.
      const filter = { values: randomValues(c.k * c.k * cin * c.cout, 22, filterZeros), shape: [c.k, c.k, cin, c.cout] }
      const alpha = { values: randomValues(c.cout, 23).map((v) => Math.abs(v) + 0.01), shape: [c.cout] }
      const run =
        (f: typeof binaryConv2d) =>
        (a: tf.Tensor, b: tf.Tensor, s: tf.Tensor): tf.Tensor =>
          f(a as tf.Tensor4D, b as tf.Tensor4D, s as tf.Tensor1D, c.options)
      const [expected] = await runOn('cpu', [x, filter, alpha], run(binaryConv2dReference))
      const [actual] = await runOn('native', [x, filter, alpha], run(binaryConv2d))
      expect(actual.length).toBe(expected.length)
      expect(relativeError(actual, expected)).toBeLessThan(1e-5)
      // Every output is an integer multiple of its channel's α.
      const scales = alpha.values
      for (let i = 0; i < actual.length; i += 7) {
        const units = actual[i] / scales[i % c.cout]
        expect(Math.abs(units - Math.round(units))).toBeLessThan(1e-3)
      }
      loadNativeAddon().setBinaryConvPath('auto')
    })
  }

  it('falls back to the float computation on other backends', async () => {
    await tf.setBackend('cpu')
    const x = tf.tensor4d(randomValues(1 * 5 * 5 * 4, 3, 0.2), [1, 5, 5, 4])
    const w = tf.tensor4d(randomValues(3 * 3 * 4 * 4, 4), [3, 3, 4, 4])
    const alpha = tf.tensor1d([0.5, 1, 1.5, 2])
    const y = binaryConv2d(x, w, alpha, { padding: 1 })
    expect(y.shape).toEqual([1, 5, 5, 4])
    expect(
      relativeError(
        (await y.data()) as Float32Array,
        (await binaryConv2dReference(x, w, alpha, { padding: 1 }).data()) as Float32Array
      )
    ).toBe(0)
    tf.dispose([x, w, alpha, y])
  })
})
