import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { beforeAll, describe, expect, it } from 'vitest'
import { conv2dTorch, type TorchConvOptions } from '../../src/main/engine/ops/conv'
import { avgPool3x3Torch, maxPool3x3Torch } from '../../src/main/engine/ops/pool'
import { NATIVE_KERNEL_NAMES, nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'
import { randomValues, relativeError, runOn, nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('native kernels')

/** Values and gradients must agree with the cpu backend within this error relative to the reference's scale. */
const TOLERANCE = 1e-4

interface ConvCase {
  name: string
  /** [N, H, W, C_in] */
  input: [number, number, number, number]
  k: number
  cout: number
  options: TorchConvOptions
}

// Every conv geometry of the method (spec section 2): 3×3 p1, 5×5 p2, dilated 3×3 p2 and 5×5 p4, at stride 1 and 2;
// the 1×1 preprocess, the 2×2 stride-2 residual conv, the stem (C_in = 3); odd sizes and batch 1 included.
const CONV_CASES: ConvCase[] = [
  { name: 'bin_conv_3x3 s1', input: [2, 8, 8, 8], k: 3, cout: 8, options: { padding: 1 } },
  { name: 'bin_conv_3x3 s2', input: [2, 8, 8, 8], k: 3, cout: 8, options: { padding: 1, stride: 2 } },
  { name: 'bin_conv_5x5 s1, 9×9, batch 1', input: [1, 9, 9, 16], k: 5, cout: 16, options: { padding: 2 } },
  { name: 'bin_conv_5x5 s2, 7×7', input: [2, 7, 7, 8], k: 5, cout: 8, options: { padding: 2, stride: 2 } },
  { name: 'bin_dil_conv_3x3 s1, 7×7', input: [2, 7, 7, 8], k: 3, cout: 8, options: { padding: 2, dilation: 2 } },
  { name: 'bin_dil_conv_3x3 s2', input: [2, 8, 8, 8], k: 3, cout: 8, options: { padding: 2, dilation: 2, stride: 2 } },
  { name: 'bin_dil_conv_5x5 s1, 9×9', input: [1, 9, 9, 8], k: 5, cout: 8, options: { padding: 4, dilation: 2 } },
  {
    name: 'bin_dil_conv_5x5 s2, 9×9',
    input: [2, 9, 9, 8],
    k: 5,
    cout: 8,
    options: { padding: 4, dilation: 2, stride: 2 }
  },
  { name: '1x1 preprocess, 32 → 16', input: [2, 8, 8, 32], k: 1, cout: 16, options: {} },
  { name: '2x2 s2 residual conv', input: [2, 8, 8, 16], k: 2, cout: 32, options: { stride: 2 } },
  { name: 'stem 3x3, C_in 3, batch 1', input: [1, 16, 16, 3], k: 3, cout: 24, options: { padding: 1 } }
]

function convInputs(c: ConvCase, seed: number) {
  const [n, h, w, cin] = c.input
  const x = { values: randomValues(n * h * w * cin, seed), shape: [n, h, w, cin] }
  const filter = { values: randomValues(c.k * c.k * cin * c.cout, seed + 1), shape: [c.k, c.k, cin, c.cout] }
  return { x, filter }
}

/** Value and both gradients of conv2dTorch, the engine's conv, against a random upstream gradient. */
function convValueAndGrads(options: TorchConvOptions) {
  return (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor): tf.Tensor[] => {
    const y = conv2dTorch(x as tf.Tensor4D, w as tf.Tensor4D, options)
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv2dTorch(a as tf.Tensor4D, b as tf.Tensor4D, options), dy))
    )([x, w])
    return [y, ...grads]
  }
}

describe.skipIf(!status.available)(`native backend${skipReason}`, () => {
  beforeAll(async () => {
    await registerNativeBackend()
  })

  it('registers every cpu kernel under native, with its own conv and pooling kernels', async () => {
    await registerNativeBackend() // idempotent
    const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName)
    const native = new Set(tf.getKernelsForBackend('native').map((k) => k.kernelName))
    expect(cpu.filter((name) => !native.has(name))).toEqual([])
    for (const name of NATIVE_KERNEL_NAMES) {
      expect(native.has(name)).toBe(true)
      if (tf.getKernel(name, 'cpu'))
        expect(tf.getKernel(name, 'native')?.kernelFunc).not.toBe(tf.getKernel(name, 'cpu')?.kernelFunc)
    }
    expect(await tf.setBackend('native')).toBe(true)
  })

  for (const c of CONV_CASES) {
    it(`conv ${c.name}: value, input and filter gradients equal the cpu backend's`, async () => {
      const { x, filter } = convInputs(c, 11)
      const outShape = await runOn('cpu', [x, filter], (a, b) =>
        conv2dTorch(a as tf.Tensor4D, b as tf.Tensor4D, c.options)
      )
      const dyShape = tf.tidy(
        () => conv2dTorch(tf.zeros(c.input), tf.zeros([c.k, c.k, c.input[3], c.cout]), c.options).shape
      )
      expect(outShape[0].length).toBe(tf.util.sizeFromShape(dyShape))
      const dy = { values: randomValues(tf.util.sizeFromShape(dyShape), 99), shape: dyShape }
      const expected = await runOn('cpu', [x, filter, dy], convValueAndGrads(c.options))
      const actual = await runOn('native', [x, filter, dy], convValueAndGrads(c.options))
      expect(relativeError(actual[0], expected[0])).toBeLessThan(TOLERANCE)
      expect(relativeError(actual[1], expected[1])).toBeLessThan(TOLERANCE)
      expect(relativeError(actual[2], expected[2])).toBeLessThan(TOLERANCE)
    })
  }

  it('gives the same values with 2 threads (OpenMP teams in oneDNN and the binary conv)', async () => {
    const { setNativeThreads, binaryConv2d, binaryConv2dReference, loadNativeAddon } =
      await import('../../src/main/engine/native')
    const before = loadNativeAddon().info().threads
    setNativeThreads(2)
    try {
      for (const c of CONV_CASES.slice(0, 4)) {
        const { x, filter } = convInputs(c, 13)
        const dyShape = tf.tidy(
          () => conv2dTorch(tf.zeros(c.input), tf.zeros([c.k, c.k, c.input[3], c.cout]), c.options).shape
        )
        const dy = { values: randomValues(tf.util.sizeFromShape(dyShape), 98), shape: dyShape }
        const expected = await runOn('cpu', [x, filter, dy], convValueAndGrads(c.options))
        const actual = await runOn('native', [x, filter, dy], convValueAndGrads(c.options))
        expected.forEach((e, i) => expect(relativeError(actual[i], e)).toBeLessThan(TOLERANCE))
      }
      const x = { values: randomValues(4 * 9 * 9 * 16, 3, 0.1), shape: [4, 9, 9, 16] }
      const w = { values: randomValues(3 * 3 * 16 * 16, 4), shape: [3, 3, 16, 16] }
      const alpha = { values: new Float32Array(16).fill(0.5), shape: [16] }
      const run = (f: typeof binaryConv2d) => (a: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
        f(a as tf.Tensor4D, b as tf.Tensor4D, s as tf.Tensor1D, { padding: 1 })
      const [e] = await runOn('cpu', [x, w, alpha], run(binaryConv2dReference))
      const [a] = await runOn('native', [x, w, alpha], run(binaryConv2d))
      expect(relativeError(a, e)).toBeLessThan(1e-5)
    } finally {
      setNativeThreads(before)
    }
  })

  // tf's backprop kernels have no dilation; the native ones take an extra `dilations` attribute. Checked against the
  // engine's own formula (forward convs, transposes, reverse) computed on the cpu backend.
  for (const [k, p] of [
    [3, 2],
    [5, 4]
  ] as const) {
    it(`dilated ${k}×${k} (padding ${p}) input and filter gradients through the dilations attribute`, async () => {
      const c = 8
      const x = { values: randomValues(2 * 9 * 9 * c, 51), shape: [2, 9, 9, c] }
      const w = { values: randomValues(k * k * c * c, 52), shape: [k, k, c, c] }
      const dy = { values: randomValues(2 * 9 * 9 * c, 53), shape: [2, 9, 9, c] }
      const q = 2 * (k - 1) - p
      const pad4 = (t: tf.Tensor, n: number) =>
        tf.pad(t, [
          [0, 0],
          [n, n],
          [n, n],
          [0, 0]
        ])
      const expected = await runOn('cpu', [x, w, dy], (xs, ws, g) => [
        tf.conv2d(
          pad4(g, q) as tf.Tensor4D,
          tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D,
          1,
          'valid',
          'NHWC',
          2
        ),
        tf.transpose(
          tf.conv2d(
            tf.transpose(pad4(xs, p), [3, 1, 2, 0]) as tf.Tensor4D,
            tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D,
            2,
            'valid'
          ),
          [1, 2, 0, 3]
        )
      ])
      const attrs = { strides: [1, 1], dataFormat: 'NHWC', dilations: [2, 2] }
      const actual = await runOn('native', [x, w, dy], (xs, ws, g) => [
        tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: g, filter: ws }, {
          ...attrs,
          pad: [
            [0, 0],
            [p, p],
            [p, p],
            [0, 0]
          ],
          inputShape: [2, 9, 9, c]
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: pad4(xs, p), dy: g }, {
          ...attrs,
          pad: 'valid',
          filterShape: [k, k, c, c]
        } as unknown as tf.NamedAttrMap) as tf.Tensor
      ])
      expect(relativeError(actual[0], expected[0])).toBeLessThan(TOLERANCE)
      expect(relativeError(actual[1], expected[1])).toBeLessThan(TOLERANCE)
    })
  }

  // tf's own padding forms reach the kernel directly: a number, 'same' (asymmetric at stride 2), 'valid', explicit.
  const PAD_FORMS: {
    name: string
    pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding
    stride: number
    dilation?: number
  }[] = [
    { name: "'same' stride 2 (bottom/right only)", pad: 'same', stride: 2 },
    { name: "'same' stride 1", pad: 'same', stride: 1 },
    { name: 'number 1 stride 2', pad: 1, stride: 2 },
    { name: "'valid' stride 2 on odd size", pad: 'valid', stride: 2 },
    {
      name: 'explicit asymmetric',
      pad: [
        [0, 0],
        [0, 2],
        [1, 0],
        [0, 0]
      ],
      stride: 1
    },
    { name: "dilation 2 forward, 'same'", pad: 'same', stride: 1, dilation: 2 }
  ]
  for (const form of PAD_FORMS) {
    it(`conv2d with pad ${form.name} equals the cpu backend's (value${form.dilation ? '' : ' and gradients'})`, async () => {
      const x = { values: randomValues(2 * 9 * 9 * 8, 5), shape: [2, 9, 9, 8] }
      const w = { values: randomValues(3 * 3 * 8 * 8, 6), shape: [3, 3, 8, 8] }
      const run = (a: tf.Tensor, b: tf.Tensor): tf.Tensor[] => {
        const conv = (p: tf.Tensor, q: tf.Tensor) =>
          tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, form.stride, form.pad, 'NHWC', form.dilation ?? 1)
        const y = conv(a, b)
        if (form.dilation) return [y]
        return [y, ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(conv(p, q))))([a, b])]
      }
      const expected = await runOn('cpu', [x, w], run)
      const actual = await runOn('native', [x, w], run)
      expected.forEach((e, i) => expect(relativeError(actual[i], e)).toBeLessThan(TOLERANCE))
    })
  }

  const POOL_CASES: { name: string; shape: [number, number, number, number]; stride: 1 | 2 }[] = [
    { name: 'stride 1, 8×8', shape: [2, 8, 8, 8], stride: 1 },
    { name: 'stride 2, 8×8', shape: [2, 8, 8, 16], stride: 2 },
    { name: 'stride 2, 7×7, batch 1', shape: [1, 7, 7, 8], stride: 2 },
    { name: 'stride 1, 9×9', shape: [2, 9, 9, 8], stride: 1 }
  ]
  for (const p of POOL_CASES) {
    it(`max and avg pool 3×3 ${p.name}: values and gradients equal the cpu backend's`, async () => {
      const size = tf.util.sizeFromShape(p.shape)
      // Repeated values make ties: the gradient must go to the same (first) maximum as tf's.
      const x = { values: randomValues(size, 3).map((v) => Math.round(v * 4) / 4), shape: p.shape }
      const run = (a: tf.Tensor): tf.Tensor[] => {
        const a4 = a as tf.Tensor4D
        const weights = tf.tidy(() =>
          tf.add(tf.range(0, tf.util.sizeFromShape(maxPool3x3Torch(a4, p.stride).shape)), 1)
        )
        const loss = (f: (t: tf.Tensor4D) => tf.Tensor) => (t: tf.Tensor) =>
          tf.sum(tf.mul(tf.reshape(f(t as tf.Tensor4D), [-1]), weights))
        return [
          maxPool3x3Torch(a4, p.stride),
          avgPool3x3Torch(a4, p.stride),
          tf.avgPool(a4, 3, p.stride, 1), // tf's own: divides by the in-image count
          tf.grad(loss((t) => maxPool3x3Torch(t, p.stride)))(a),
          tf.grad(loss((t) => avgPool3x3Torch(t, p.stride)))(a),
          tf.grad(loss((t) => tf.avgPool(t, 3, p.stride, 'same')))(a)
        ]
      }
      const expected = await runOn('cpu', [x], run)
      const actual = await runOn('native', [x], run)
      expected.forEach((e, i) => expect(relativeError(actual[i], e), `output ${i}`).toBeLessThan(TOLERANCE))
    })
  }

  it('keeps training-size tensors in the cpu storage (a batch-32 conv step runs and is finite)', async () => {
    await tf.setBackend('native')
    const x = tf.randomNormal([32, 32, 32, 16]) as tf.Tensor4D
    const w = tf.randomNormal([3, 3, 16, 16]) as tf.Tensor4D
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(conv2dTorch(a as tf.Tensor4D, b as tf.Tensor4D, { padding: 1 }))
    )([x, w])
    expect(dx.shape).toEqual([32, 32, 32, 16])
    expect(Number.isFinite((await tf.sum(dw).data())[0])).toBe(true)
    tf.dispose([x, w, dx, dw])
  })
})
