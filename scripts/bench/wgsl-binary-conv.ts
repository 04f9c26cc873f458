// WGSL binary conv benchmark: ms per forward of one typical layer (default batch 32, 16×16×64 → 64, 3×3, stride 1,
// pad 1) on the WebGPU adapter Dawn finds, for
//   - GpuBinaryConv (BN → sign/pack pass, then the XNOR/popcount conv pass; src/main/engine/webgpu/wgsl),
//   - the same fused into one pass (each conv invocation packs its taps' floats itself; the experiment kept here),
//   - the engine's BINARY_CONV2D kernel on tfjs-backend-webgpu (packs the float filter on the GPU on each call),
//   - binaryConv2dReference on webgpu (TF.js float ops: sign, pad, conv2d of sign(x) with sign(W)·α),
//   - tf.conv2d float on webgpu of the same shapes.
//
//   npx tsx scripts/bench/wgsl-binary-conv.ts [--batch 32] [--size 16] [--channels 64] [--kernel 3] [--reps 5]
//     [--binary-only]  (only the GpuBinaryConv rows)
//
// GPU time is measured from submit to queue.onSubmittedWorkDone(), median of --reps after 2 warm-ups. On a software
// adapter (Mesa lavapipe: the GPU is the CPU) the figures check the code paths, they say nothing about GPU speed.
import * as os from 'node:os'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu'
import { binaryConv2d, binaryConv2dReference } from '../../src/main/engine/native/binary-conv'
import { registerWebgpuBinaryKernels } from '../../src/main/engine/webgpu/binary-conv-kernel'
import { acquireNodeGpu, describeAdapter, installNavigatorGpu } from '../../src/main/engine/webgpu/gpu'
import { GpuBinaryConv, wordsPerPixel, type BinaryConvGeometry } from '../../src/main/engine/webgpu/wgsl/binary-conv'
import { createFilledBuffer } from '../../src/main/engine/webgpu/wgsl/passes'
import { packConvWeight } from '../../src/main/export/packed/bits'

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 && process.argv[at + 1] ? Number(process.argv[at + 1]) : fallback
}

/** The one-pass variant measured against the two passes: pack-in-conv, no scratch planes, BN per tap. */
const FUSED_WGSL = /* wgsl */ `
struct Params {
  total: u32, in_h: u32, in_w: u32, in_c: u32, out_h: u32, out_w: u32, out_c: u32, kernel: u32,
  stride: u32, dilation: u32, pad: u32, words: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bn: array<f32>;
@group(0) @binding(3) var<storage, read> wts: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> alpha: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.total) { return; }
  let co = i % p.out_c;
  var r = i / p.out_c;
  let ox = r % p.out_w;
  r = r / p.out_w;
  let oy = r % p.out_h;
  let n = r / p.out_h;
  let k = p.kernel;
  let C = p.in_c;
  let iy0 = i32(oy * p.stride) - i32(p.pad);
  let ix0 = i32(ox * p.stride) - i32(p.pad);
  let d = i32(p.dilation);
  var dot = 0i;
  for (var ky = 0u; ky < k; ky++) {
    let iy = iy0 + i32(ky) * d;
    if (iy < 0 || iy >= i32(p.in_h)) { continue; }
    for (var kx = 0u; kx < k; kx++) {
      let ix = ix0 + i32(kx) * d;
      if (ix < 0 || ix >= i32(p.in_w)) { continue; }
      let a = ((n * p.in_h + u32(iy)) * p.in_w + u32(ix)) * C;
      let b = ((co * k + ky) * k + kx) * p.words;
      for (var j = 0u; j < p.words; j++) {
        let c0 = j * 32u;
        var s = 0u;
        var nz = 0u;
        for (var t = 0u; t < min(32u, C - c0); t++) {
          let c = c0 + t;
          let q = ((x[a + c] - bn[c]) * bn[C + c]) * bn[2u * C + c];
          let mb = -bn[3u * C + c];
          if (q < mb) { s |= 1u << t; }
          if (q != mb) { nz |= 1u << t; }
        }
        let wv = wts[b + j];
        let m = nz & wv.y;
        dot += i32(countOneBits(m)) - 2i * i32(countOneBits((s ^ wv.x) & m));
      }
    }
  }
  y[i] = alpha[co] * f32(dot);
}`

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/**
 * Median wall ms and median process CPU ms (user + system) per run. On a software adapter the GPU's threads are this
 * process's, so CPU time is the figure that other processes on shared cores disturb least.
 */
async function time(reps: number, run: () => Promise<void>): Promise<[number, number]> {
  for (let i = 0; i < 2; i++) await run()
  const wall: number[] = []
  const cpu: number[] = []
  for (let i = 0; i < reps; i++) {
    const start = performance.now()
    const startCpu = process.cpuUsage()
    await run()
    const used = process.cpuUsage(startCpu)
    wall.push(performance.now() - start)
    cpu.push((used.user + used.system) / 1000)
  }
  return [median(wall), median(cpu)]
}

async function main(): Promise<void> {
  const batch = option('batch', 32)
  const size = option('size', 16)
  const channels = option('channels', 64)
  const kernel = option('kernel', 3)
  const reps = option('reps', 5)
  const { gpu, report } = await acquireNodeGpu()
  installNavigatorGpu(gpu)
  await import('@tensorflow/tfjs-backend-webgpu')
  await tf.setBackend('webgpu')
  registerWebgpuBinaryKernels()
  const backend = tf.backend() as WebGPUBackend
  const device = backend.device
  const pad = (kernel - 1) / 2
  const g: BinaryConvGeometry = {
    inH: size,
    inW: size,
    inC: channels,
    outH: size,
    outW: size,
    outC: channels,
    kernel,
    stride: 1,
    dilation: 1,
    pad
  }
  console.log(`adapter: ${describeAdapter(report)}`)
  if (report.kind === 'software') console.log('software adapter: figures are for correctness, not speed')
  console.log(
    `layer: batch ${batch}, ${size}×${size}×${channels} → ${channels}, ${kernel}×${kernel}, stride 1, pad ${pad}; ` +
      `median of ${reps}; load average ${os.loadavg()[0].toFixed(2)}, ${os.cpus().length} cores`
  )

  const x = tf.randomNormal([batch, size, size, channels]) as tf.Tensor4D
  const w = tf.randomNormal([kernel, kernel, channels, channels]) as tf.Tensor4D
  const alpha = tf.fill([channels], 0.5) as tf.Tensor1D
  const wHost = (await w.data()) as Float32Array
  const xHost = (await x.data()) as Float32Array
  const packed = packConvWeight(wHost, kernel, channels, channels)
  const alphaHost = new Float32Array(channels).fill(0.5)
  const bn = {
    mean: new Float32Array(channels).fill(0.1),
    inv: new Float32Array(channels).fill(1.5)
  }

  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST
  const xs = createFilledBuffer(device, xHost, usage, 'bench x')
  const outBytes = batch * size * size * channels * 4
  const ys = device.createBuffer({ size: outBytes, usage })
  const submitAndWait = async (record: (encoder: GPUCommandEncoder) => void): Promise<void> => {
    const encoder = device.createCommandEncoder()
    record(encoder)
    device.queue.submit([encoder.finish()])
    await device.queue.onSubmittedWorkDone()
  }

  const rows: [string, [number, number]][] = []
  const twoPass = new GpuBinaryConv(device, g, { ...packed, alpha: alphaHost }, { bn })
  rows.push([
    'GpuBinaryConv, BN → pack, conv (2 passes)',
    await time(reps, () => submitAndWait((e) => twoPass.encode(e, xs, ys, batch)))
  ])
  const plain = new GpuBinaryConv(device, g, { ...packed, alpha: alphaHost })
  rows.push([
    'GpuBinaryConv, pack, conv, no BN',
    await time(reps, () => submitAndWait((e) => plain.encode(e, xs, ys, batch)))
  ])

  if (process.argv.includes('--binary-only')) return printRows(rows, [twoPass, plain])
  const words = wordsPerPixel(channels)
  const interleaved = new Uint32Array(packed.sign.length * 2)
  packed.sign.forEach((s, i) => {
    interleaved[2 * i] = s
    interleaved[2 * i + 1] = 0xffffffff
  })
  const table = new Float32Array(4 * channels)
  table.set(bn.mean, 0)
  table.set(bn.inv, channels)
  table.fill(1, 2 * channels, 3 * channels)
  const fusedPipeline = device.createComputePipeline({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: FUSED_WGSL }), entryPoint: 'main' }
  })
  const total = batch * size * size * channels
  const fusedBuffers = [
    createFilledBuffer(
      device,
      Uint32Array.from([total, size, size, channels, size, size, channels, kernel, 1, 1, pad, words]),
      GPUBufferUsage.UNIFORM,
      'fused params'
    ),
    xs,
    createFilledBuffer(device, table, GPUBufferUsage.STORAGE, 'fused bn'),
    createFilledBuffer(device, interleaved, GPUBufferUsage.STORAGE, 'fused weights'),
    createFilledBuffer(device, alphaHost, GPUBufferUsage.STORAGE, 'fused alpha'),
    ys
  ]
  const fusedGroup = device.createBindGroup({
    layout: fusedPipeline.getBindGroupLayout(0),
    entries: fusedBuffers.map((buffer, binding) => ({ binding, resource: { buffer } }))
  })
  const groups = Math.ceil(total / 64)
  rows.push([
    'fused BN → sign → conv (1 pass)',
    await time(reps, () =>
      submitAndWait((e) => {
        const pass = e.beginComputePass()
        pass.setPipeline(fusedPipeline)
        pass.setBindGroup(0, fusedGroup)
        pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / Math.min(groups, 65535)))
        pass.end()
      })
    )
  ])

  const tfTime = async (f: () => tf.Tensor): Promise<number> =>
    time(reps, async () => {
      const y = f()
      backend.ensureCommandEncoderReady()
      backend.endComputePassEncoder()
      backend.submitQueue()
      await device.queue.onSubmittedWorkDone()
      y.dispose()
    })
  const opts = { stride: 1 as const, padding: pad, dilation: 1 as const }
  rows.push(['TF.js BINARY_CONV2D kernel (packs W per call)', await tfTime(() => binaryConv2d(x, w, alpha, opts))])
  rows.push([
    'binaryConv2dReference on webgpu (float ops)',
    await tfTime(() => binaryConv2dReference(x, w, alpha, opts))
  ])
  rows.push([
    'tf.conv2d float on webgpu',
    await tfTime(() =>
      tf.conv2d(x, w, 1, [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0]
      ])
    )
  ])

  printRows(rows, [twoPass, plain])
}

function printRows(rows: [string, [number, number]][], convs: GpuBinaryConv[]): void {
  console.log(`${''.padEnd(48)}  wall ms    CPU ms`)
  for (const [name, [wall, cpu]] of rows) {
    console.log(`${name.padEnd(48)} ${wall.toFixed(1).padStart(8)} ${cpu.toFixed(1).padStart(9)}`)
  }
  for (const conv of convs) conv.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
