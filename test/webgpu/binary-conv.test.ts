import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BINARY_CONV2D, binaryConv2d, binaryConv2dReference } from '../../src/main/engine/native/binary-conv'
import { initBackend } from '../../src/main/engine/backend'
import { registerWebgpuBinaryKernels } from '../../src/main/engine/webgpu/binary-conv-kernel'
import {
  checkBinaryConvGeometry,
  GpuBinaryConv,
  type BinaryConvGeometry
} from '../../src/main/engine/webgpu/wgsl/binary-conv'
import { gridLimit } from '../../src/main/engine/webgpu/wgsl/passes'
import type { BnParams } from '../../src/main/export/graph'
import { packConvWeight } from '../../src/main/export/packed/bits'
import type { PackedBinConv } from '../../src/main/export/packed/format'
import { bnInverse, executeReference, prepareReference } from '../../src/main/export/packed/runtime/reference'
import { webgpuSuite } from './adapter'

const suite = await webgpuSuite('WGSL binary conv')

/** A deterministic generator (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Uniform in (−1, 1), with exact zeros (and −0, also sign 0) in about `zeros` of the values. */
function randomValues(n: number, random: () => number, zeros: number): Float32Array {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const u = random()
    out[i] = u < zeros / 2 ? 0 : u < zeros ? -0 : random() * 2 - 1
  }
  return out
}

interface Case {
  name: string
  kernel: number
  stride: number
  dilation: number
  pad: number
  cin: number
  cout: number
  h: number
  w: number
  batch: number
  /** Some weights exactly 0 (the packed weights then carry a mask plane). */
  weightZeros: boolean
}

/**
 * Every geometry the method's binary convs use (spec section 2: the 7 ops at stride 1 and 2; section 3: the binary
 * preprocess convs of the final networks, 1×1 and 3×3 stride 2; the reduction cell's 2×2 stride-2 residual conv,
 * counted binary in the export's second accounting), plus 7×7 and 9×9; channel counts off multiples of 32 (3, 8,
 * 33, 40, 72, 130) and on them (32, 64, 96, 256: 1 to 8 words), an output channel count not a multiple of the
 * kernel's 8-channel tile, odd spatial sizes, batches of 1 to 3.
 */
const CASES: Case[] = [
  {
    name: 'preprocess 1×1',
    kernel: 1,
    stride: 1,
    dilation: 1,
    pad: 0,
    cin: 33,
    cout: 8,
    h: 7,
    w: 5,
    batch: 2,
    weightZeros: false
  },
  {
    name: 'preprocess0 3×3 s2',
    kernel: 3,
    stride: 2,
    dilation: 1,
    pad: 1,
    cin: 64,
    cout: 33,
    h: 9,
    w: 9,
    batch: 1,
    weightZeros: true
  },
  {
    name: 'bin_conv_3x3 s1',
    kernel: 3,
    stride: 1,
    dilation: 1,
    pad: 1,
    cin: 8,
    cout: 8,
    h: 7,
    w: 7,
    batch: 2,
    weightZeros: true
  },
  {
    name: 'bin_conv_3x3 s2',
    kernel: 3,
    stride: 2,
    dilation: 1,
    pad: 1,
    cin: 33,
    cout: 33,
    h: 7,
    w: 9,
    batch: 1,
    weightZeros: false
  },
  {
    name: 'bin_conv_5x5 s1',
    kernel: 5,
    stride: 1,
    dilation: 1,
    pad: 2,
    cin: 3,
    cout: 8,
    h: 5,
    w: 7,
    batch: 1,
    weightZeros: true
  },
  {
    name: 'bin_conv_5x5 s2',
    kernel: 5,
    stride: 2,
    dilation: 1,
    pad: 2,
    cin: 64,
    cout: 64,
    h: 9,
    w: 7,
    batch: 2,
    weightZeros: false
  },
  {
    name: 'bin_dil_conv_3x3 s1',
    kernel: 3,
    stride: 1,
    dilation: 2,
    pad: 2,
    cin: 33,
    cout: 64,
    h: 7,
    w: 7,
    batch: 1,
    weightZeros: false
  },
  {
    name: 'bin_dil_conv_3x3 s2',
    kernel: 3,
    stride: 2,
    dilation: 2,
    pad: 2,
    cin: 8,
    cout: 33,
    h: 9,
    w: 7,
    batch: 3,
    weightZeros: true
  },
  {
    name: 'bin_dil_conv_5x5 s1',
    kernel: 5,
    stride: 1,
    dilation: 2,
    pad: 4,
    cin: 64,
    cout: 8,
    h: 9,
    w: 9,
    batch: 1,
    weightZeros: true
  },
  {
    name: 'bin_dil_conv_5x5 s2',
    kernel: 5,
    stride: 2,
    dilation: 2,
    pad: 4,
    cin: 3,
    cout: 3,
    h: 11,
    w: 9,
    batch: 2,
    weightZeros: false
  },
  {
    name: 'residual 2×2 s2',
    kernel: 2,
    stride: 2,
    dilation: 1,
    pad: 0,
    cin: 96,
    cout: 64,
    h: 7,
    w: 9,
    batch: 2,
    weightZeros: false
  },
  {
    name: '7×7 s2',
    kernel: 7,
    stride: 2,
    dilation: 1,
    pad: 3,
    cin: 3,
    cout: 8,
    h: 11,
    w: 11,
    batch: 1,
    weightZeros: true
  },
  {
    name: 'bin_conv_3x3 s1, 130 → 72 channels',
    kernel: 3,
    stride: 1,
    dilation: 1,
    pad: 1,
    cin: 130,
    cout: 72,
    h: 15,
    w: 13,
    batch: 2,
    weightZeros: true
  },
  {
    name: 'bin_dil_conv_5x5 s2, 256 → 40 channels',
    kernel: 5,
    stride: 2,
    dilation: 2,
    pad: 4,
    cin: 256,
    cout: 40,
    h: 12,
    w: 11,
    batch: 2,
    weightZeros: false
  },
  {
    name: '9×9 s1',
    kernel: 9,
    stride: 1,
    dilation: 1,
    pad: 4,
    cin: 32,
    cout: 3,
    h: 9,
    w: 9,
    batch: 1,
    weightZeros: false
  }
]

function geometryOf(c: Case): BinaryConvGeometry {
  const out = (size: number): number => Math.floor((size + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride) + 1
  return {
    inH: c.h,
    inW: c.w,
    inC: c.cin,
    outH: out(c.h),
    outW: out(c.w),
    outC: c.cout,
    kernel: c.kernel,
    stride: c.stride,
    dilation: c.dilation,
    pad: c.pad
  }
}

interface Data {
  g: BinaryConvGeometry
  x: Float32Array
  w: Float32Array
  alpha: Float32Array
  /** binaryConv2dReference on the cpu backend. */
  expected: Float32Array
}

function makeData(c: Case, seed: number): Data {
  const random = rng(seed)
  const g = geometryOf(c)
  const x = randomValues(c.batch * c.h * c.w * c.cin, random, 0.1)
  const w = randomValues(c.kernel * c.kernel * c.cin * c.cout, random, c.weightZeros ? 0.1 : 0)
  const alpha = Float32Array.from({ length: c.cout }, () => 0.05 + random())
  const expected = onCpu(() =>
    binaryConv2dReference(
      tf.tensor4d(x, [c.batch, c.h, c.w, c.cin]),
      tf.tensor4d(w, [c.kernel, c.kernel, c.cin, c.cout]),
      tf.tensor1d(alpha),
      { stride: c.stride as 1 | 2, padding: c.pad, dilation: c.dilation as 1 | 2 }
    )
  )
  return { g, x, w, alpha, expected }
}

function onCpu(f: () => tf.Tensor): Float32Array {
  const previous = tf.getBackend()
  tf.setBackend('cpu')
  try {
    return tf.tidy(() => f().dataSync() as Float32Array)
  } finally {
    tf.setBackend(previous)
  }
}

/**
 * Integer dots × α: the float reference sums the ±α terms in float32, so it may differ from α·dot by the rounding of
 * that sum (a few ulps of k²·C_in·α at most); the WGSL result is α·dot rounded once.
 */
function expectConvClose(actual: Float32Array, d: Data): void {
  expect(actual.length).toBe(d.expected.length)
  const terms = d.g.kernel * d.g.kernel * d.g.inC
  let worst = 0
  for (let i = 0; i < actual.length; i++) {
    const a = d.alpha[i % d.g.outC]
    const err = Math.abs(actual[i] - d.expected[i])
    const dot = d.expected[i] / a
    // The result must be α times an integer, and that integer the reference's.
    if (err > 1e-6 * terms * a || Math.abs(dot - Math.round(dot)) > 1e-3) {
      throw new Error(`output ${i}: ${actual[i]} vs reference ${d.expected[i]} (α ${a})`)
    }
    worst = Math.max(worst, err / a)
  }
  expect(worst).toBeLessThan(1e-6 * terms)
}

async function readBuffer(device: GPUDevice, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
  const encoder = device.createCommandEncoder()
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, floats * 4)
  device.queue.submit([encoder.finish()])
  await staging.mapAsync(GPUMapMode.READ)
  const out = new Float32Array(staging.getMappedRange().slice(0))
  staging.destroy()
  return out
}

function inputBuffer(device: GPUDevice, data: Float32Array): GPUBuffer {
  const buffer = device.createBuffer({
    size: Math.max(16, data.byteLength),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    mappedAtCreation: true
  })
  new Float32Array(buffer.getMappedRange()).set(data)
  buffer.unmap()
  return buffer
}

async function runGpu(
  device: GPUDevice,
  g: BinaryConvGeometry,
  x: Float32Array,
  batch: number,
  conv: GpuBinaryConv
): Promise<Float32Array> {
  const xs = inputBuffer(device, x)
  const outFloats = batch * g.outH * g.outW * g.outC
  const ys = device.createBuffer({ size: outFloats * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC })
  const encoder = device.createCommandEncoder()
  conv.encode(encoder, xs, ys, batch)
  device.queue.submit([encoder.finish()])
  const y = await readBuffer(device, ys, outFloats)
  xs.destroy()
  ys.destroy()
  return y
}

describe.skipIf(!suite.available)(`WGSL binary conv${suite.skipReason}`, () => {
  let device: GPUDevice
  const started = Date.now()

  beforeAll(async () => {
    await initBackend('webgpu')
    expect(tf.getBackend()).toBe('webgpu')
    // The engine's webgpu backend registers them (or will); registration is idempotent either way.
    registerWebgpuBinaryKernels()
    registerWebgpuBinaryKernels()
    device = (tf.backend() as WebGPUBackend).device
  })

  afterAll(() => console.info(`test/webgpu/binary-conv: ${((Date.now() - started) / 1000).toFixed(1)} s in all`))

  it.each(CASES.map((c, i) => [c.name, c, i] as const))(
    'GpuBinaryConv and the webgpu BINARY_CONV2D kernel equal the float reference: %s',
    async (_name, c, i) => {
      const d = makeData(c, 1000 + i)
      const packed = packConvWeight(d.w, c.kernel, c.cin, c.cout)
      expect(packed.mask !== undefined).toBe(c.weightZeros)
      const conv = new GpuBinaryConv(device, d.g, { ...packed, alpha: d.alpha })
      expectConvClose(await runGpu(device, d.g, d.x, c.batch, conv), d)
      conv.dispose()

      // The TF.js kernel, through binaryConv2d's dispatch (the profile proves the kernel ran, not the float path).
      const x = tf.tensor4d(d.x, [c.batch, c.h, c.w, c.cin])
      const w = tf.tensor4d(d.w, [c.kernel, c.kernel, c.cin, c.cout])
      const alpha = tf.tensor1d(d.alpha)
      let y: tf.Tensor | undefined
      const profile = await tf.profile(() => {
        y = binaryConv2d(x, w, alpha, { stride: c.stride as 1 | 2, padding: c.pad, dilation: c.dilation as 1 | 2 })
        return y
      })
      expect(profile.kernelNames).toEqual([BINARY_CONV2D])
      expect(y!.shape).toEqual([c.batch, d.g.outH, d.g.outW, c.cout])
      expectConvClose((await y!.data()) as Float32Array, d)
      tf.dispose([x, w, alpha, y!])
    }
  )

  it.each(CASES.map((c, i) => [c.name, c, i] as const))(
    'GpuBinaryConv with BN and ReLU equals the packed reference runtime exactly: %s',
    async (_name, c, i) => {
      const random = rng(2000 + i)
      const g = geometryOf(c)
      const mean = Float32Array.from({ length: c.cin }, () => random() - 0.5)
      const variance = Float32Array.from({ length: c.cin }, () => 0.1 + random())
      const affine = i % 3 !== 0
      const bn: BnParams = affine
        ? {
            mean,
            variance,
            gamma: Float32Array.from({ length: c.cin }, () => (random() < 0.2 ? -1 : 1) * (0.5 + random())),
            beta: Float32Array.from({ length: c.cin }, (_, ch) => (ch % 4 === 0 ? 0 : 0.2 * (random() - 0.5)))
          }
        : { mean, variance }
      // Values equal to the channel's mean normalise to exactly 0: sign 0 there (and with β = 0 on some channels).
      const x = randomValues(c.batch * c.h * c.w * c.cin, random, 0.05)
      for (let p = 0; p < x.length; p++) if (random() < 0.1) x[p] = mean[p % c.cin]
      const w = randomValues(c.kernel * c.kernel * c.cin * c.cout, random, c.weightZeros ? 0.1 : 0)
      const alpha = Float32Array.from({ length: c.cout }, () => 0.05 + random())
      const { sign, mask } = packConvWeight(w, c.kernel, c.cin, c.cout)
      const step: PackedBinConv = {
        op: 'binconv',
        name: c.name,
        input: 'x',
        output: 'y',
        bn,
        alpha,
        sign,
        ...(mask ? { mask } : {}),
        kernel: c.kernel,
        cin: c.cin,
        cout: c.cout,
        stride: c.stride as 1 | 2,
        padding: c.pad,
        dilation: c.dilation as 1 | 2
      }
      const expected = new Float32Array(c.batch * g.outH * g.outW * c.cout)
      executeReference(step, prepareReference(step), [x], expected, {
        batch: c.batch,
        inputs: [[c.h, c.w, c.cin]],
        output: [g.outH, g.outW, c.cout]
      })
      const conv = new GpuBinaryConv(
        device,
        g,
        { sign, mask, alpha },
        { bn: { mean, inv: bnInverse(bn), gamma: bn.gamma, beta: bn.beta }, relu: true }
      )
      const actual = await runGpu(device, g, x, c.batch, conv)
      conv.dispose()
      expect(expected.some((v) => v > 0)).toBe(true)
      expect(Array.from(actual)).toEqual(Array.from(expected))
      // Without the fused ReLU: the same values where positive, and negative ones too (ReLU is really applied).
      const noRelu = new GpuBinaryConv(
        device,
        g,
        { sign, mask, alpha },
        { bn: { mean, inv: bnInverse(bn), gamma: bn.gamma, beta: bn.beta } }
      )
      const raw = await runGpu(device, g, x, c.batch, noRelu)
      noRelu.dispose()
      expect(raw.some((v) => v < 0)).toBe(true)
      expect(Array.from(raw, (v) => (v > 0 ? v : 0))).toEqual(Array.from(expected))
    }
  )

  it('BN signs follow float32 rounding of every op: β = −fl(fl(fl(x − μ)·inv)·γ) gives sign 0, not the FMA residue', async () => {
    // For such β the reference's fl(p + β) is exactly 0, while a fused multiply-add (p computed exactly, one
    // rounding) would leave the rounding error of p, with a sign. Half the channels are set up that way.
    const random = rng(5000)
    const [cin, cout, h, w] = [40, 8, 3, 3]
    const g: BinaryConvGeometry = {
      inH: h,
      inW: w,
      inC: cin,
      outH: h,
      outW: w,
      outC: cout,
      kernel: 1,
      stride: 1,
      dilation: 1,
      pad: 0
    }
    const mean = Float32Array.from({ length: cin }, () => random() - 0.5)
    const variance = Float32Array.from({ length: cin }, () => 0.1 + random())
    const gamma = Float32Array.from({ length: cin }, () => 0.3 + random())
    const beta = new Float32Array(cin)
    const bn: BnParams = { mean, variance, gamma, beta }
    const inv = bnInverse(bn)
    const x = randomValues(h * w * cin, random, 0)
    const f = Math.fround
    let inexact = 0
    for (let c = 0; c < cin; c += 2) {
      const value = x[c] // every pixel of channel c gets this value
      for (let p = 0; p < h * w; p++) x[p * cin + c] = value
      const y = f(f(value - mean[c]) * inv[c])
      const product = f(y * gamma[c])
      beta[c] = -product
      if (y * gamma[c] !== product) inexact++ // the double product is exact for two float32s
    }
    expect(inexact).toBeGreaterThan(10)
    const weights = randomValues(cin * cout, random, 0)
    const alpha = new Float32Array(cout).fill(1)
    const { sign } = packConvWeight(weights, 1, cin, cout)
    const step: PackedBinConv = {
      op: 'binconv',
      name: 'fma',
      input: 'x',
      output: 'y',
      bn,
      alpha,
      sign,
      kernel: 1,
      cin,
      cout,
      stride: 1,
      padding: 0,
      dilation: 1
    }
    const expected = new Float32Array(h * w * cout)
    executeReference(step, prepareReference(step), [x], expected, {
      batch: 1,
      inputs: [[h, w, cin]],
      output: [h, w, cout]
    })
    const conv = new GpuBinaryConv(device, g, { sign, alpha }, { bn: { mean, inv, gamma, beta }, relu: true })
    const actual = await runGpu(device, g, x, 1, conv)
    conv.dispose()
    expect(Array.from(actual)).toEqual(Array.from(expected))
  })

  it('runs in order with the TF.js programs around it and leaks no tensor', async () => {
    const c = CASES[3]
    const d = makeData(c, 6000)
    const before = tf.memory().numTensors
    const dataIds = (tf.backend() as WebGPUBackend).numDataIds()
    const x = tf.tensor4d(d.x, [c.batch, c.h, c.w, c.cin])
    const w = tf.tensor4d(d.w, [c.kernel, c.kernel, c.cin, c.cout])
    const alpha = tf.tensor1d(d.alpha)
    // Inputs made by programs still pending in tfjs's command encoder, the result consumed by another program: the
    // kernel must see the first ones done and finish before the last.
    const y = tf.tidy(() => {
      const x2 = tf.mul(tf.neg(x), -1) as tf.Tensor4D
      const w2 = tf.mul(tf.neg(w), -1) as tf.Tensor4D
      const out = binaryConv2d(x2, w2, alpha, { stride: 2, padding: 1 })
      return tf.mul(out, 2)
    })
    const doubled = (await y.data()) as Float32Array
    expectConvClose(
      doubled.map((v) => v / 2),
      d
    )
    tf.dispose([x, w, alpha, y])
    expect(tf.memory().numTensors).toBe(before)
    expect((tf.backend() as WebGPUBackend).numDataIds()).toBe(dataIds)
  })

  it('reuses its scratch per batch size: batch 1, 3 and 1 again in one command buffer', async () => {
    const c = CASES[2]
    const d = makeData({ ...c, batch: 3 }, 3000)
    const packed = packConvWeight(d.w, c.kernel, c.cin, c.cout)
    const conv = new GpuBinaryConv(device, d.g, { ...packed, alpha: d.alpha })
    const imageFloats = c.h * c.w * c.cin
    const outFloats = d.g.outH * d.g.outW * c.cout
    const xs = [d.x.subarray(0, imageFloats), d.x, d.x.subarray(2 * imageFloats)].map((v) => inputBuffer(device, v))
    const ys = [1, 3, 1].map((n) =>
      device.createBuffer({ size: n * outFloats * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC })
    )
    const encoder = device.createCommandEncoder()
    ;[1, 3, 1].forEach((n, k) => conv.encode(encoder, xs[k], ys[k], n))
    device.queue.submit([encoder.finish()])
    const [first, all, last] = await Promise.all(ys.map((b, k) => readBuffer(device, b, [1, 3, 1][k] * outFloats)))
    expectConvClose(all, d)
    expect(Array.from(first)).toEqual(Array.from(all.subarray(0, outFloats)))
    expect(Array.from(last)).toEqual(Array.from(all.subarray(2 * outFloats)))
    conv.dispose()
    for (const b of [...xs, ...ys]) b.destroy()
  })

  it('covers every output when the dispatch grid spills into y (x limited to 3 workgroups here)', async () => {
    const c = CASES[5]
    const d = makeData(c, 4000)
    const packed = packConvWeight(d.w, c.kernel, c.cin, c.cout)
    const conv = new GpuBinaryConv(device, d.g, { ...packed, alpha: d.alpha })
    const saved = gridLimit.x
    // pack: 126 pixels × 2 words = 4 workgroups as 3 × 2; conv: 40 output pixels × 8 channel tiles = 5 as 3 × 2
    gridLimit.x = 3
    try {
      expectConvClose(await runGpu(device, d.g, d.x, c.batch, conv), d)
    } finally {
      gridLimit.x = saved
      conv.dispose()
    }
  })

  it('refuses geometries and weights it cannot compute, naming them', () => {
    const g = geometryOf(CASES[2])
    expect(() => checkBinaryConvGeometry({ ...g, outH: g.outH + 1 })).toThrow(
      /geometry not supported \(7×7×8 → 8×7×8, kernel 3, stride 1, dilation 1, pad 1\)/
    )
    expect(() => checkBinaryConvGeometry({ ...g, stride: 0 })).toThrow(/stride must be positive whole numbers/)
    // An input smaller than the kernel's reach: the webgpu kernel names the geometry too.
    const x = tf.zeros([1, 2, 2, 8]) as tf.Tensor4D
    const w = tf.zeros([5, 5, 8, 8]) as tf.Tensor4D
    const alpha = tf.ones([8]) as tf.Tensor1D
    expect(() => binaryConv2d(x, w, alpha, { dilation: 2 })).toThrow(
      /geometry not supported \(2×2×8 → -6×-6×8, kernel 5, stride 1, dilation 2, pad 0\): outH, outW must be positive/
    )
    tf.dispose([x, w, alpha])
    expect(() => new GpuBinaryConv(device, g, { sign: new Uint32Array(5), alpha: new Float32Array(g.outC) })).toThrow(
      /sign has 5 values, expected 72/
    )
    const conv = new GpuBinaryConv(device, g, { sign: new Uint32Array(72), alpha: new Float32Array(8) })
    const small = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE })
    expect(() => conv.encode(device.createCommandEncoder(), small, small, 1)).toThrow(
      /x holds 64 bytes, batch 1 needs 1568/
    )
    const uniform = device.createBuffer({ size: 2048, usage: GPUBufferUsage.UNIFORM })
    expect(() => conv.encode(device.createCommandEncoder(), uniform, uniform, 1)).toThrow(
      /x must be a buffer with GPUBufferUsage.STORAGE/
    )
    conv.dispose()
    expect(() => conv.encode(device.createCommandEncoder(), small, small, 1)).toThrow(/used after dispose/)
    small.destroy()
    uniform.destroy()
  })
})
