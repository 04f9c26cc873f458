// Kernel benchmark: ms per conv forward / input gradient / filter gradient (and pooling) for the BNAS supernet's
// typical shapes, on the native backend against wasm and the pure-JS cpu backend.
//
//   npx tsx scripts/bench-kernels.ts [--backends native,wasm,cpu] [--reps 9] [--batch 32] [--threads N] [--json]
//
// PyTorch on the same shapes: /usr/bin/python3 native/bench/torch_kernels.py [--threads N].
//
//   npx tsx scripts/bench-kernels.ts --step [--backends native] [--batch 32] [--threads N] [--reps 3]
//
// instead times one weight step of the search supernet (5 cells, C = 8, 32×32×3, 10 classes: training-mode forward,
// cross-entropy, gradients of every weight; no optimizer) and prints the time spent in each kernel (wall time of the
// kernel functions, measured by wrapping them) for the last repetition. Not the full `bnas bench search-step`.
//
//   npx tsx scripts/bench-kernels.ts --binary [--threads N]
//
// compares the bit-packed XNOR/popcount binary conv with the addon's float conv (oneDNN's, or its own kernels': the
// header line names them) of sign(x) and sign(W)·α (native only).
//
// Each number is the median of --reps timed runs after 2 warm-up runs (cpu: 1 run, it takes seconds). The machine's
// load average is printed beside the numbers: on shared cores, compare medians taken under similar load only.
// Shapes are the ones the engine's ops hand to tf: conv2dTorch pads explicitly, dilated convs reach the kernel as
// dense 3×3 / 5×5 convs of the phase-split (stride 1) or subsampled (stride 2) input.
import * as os from 'node:os'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { wasmCandidate } from '../src/main/engine/backend/candidates'
import { describeNativeBackend, registerNativeBackend, setNativeThreads } from '../src/main/engine/native'

interface Shape {
  name: string
  input: [number, number, number, number]
  k: number
  cout: number
  stride: number
  pad: number
}

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback
}

const backends = option('backends', process.argv.includes('--step') ? 'native' : 'native,wasm,cpu').split(',')
const reps = Number(option('reps', process.argv.includes('--step') ? '3' : '9'))
const batch = Number(option('batch', '32'))
const json = process.argv.includes('--json')
const threads = option('threads', '')

const SHAPES: Shape[] = [
  { name: 'conv 3x3 s1 C8', input: [batch, 32, 32, 8], k: 3, cout: 8, stride: 1, pad: 1 },
  { name: 'conv 3x3 s1 C16', input: [batch, 32, 32, 16], k: 3, cout: 16, stride: 1, pad: 1 },
  { name: 'conv 3x3 s1 C32', input: [batch, 32, 32, 32], k: 3, cout: 32, stride: 1, pad: 1 },
  { name: 'conv 5x5 s1 C16', input: [batch, 32, 32, 16], k: 5, cout: 16, stride: 1, pad: 2 },
  { name: 'conv 3x3 s2 C16', input: [batch, 32, 32, 16], k: 3, cout: 16, stride: 2, pad: 1 },
  { name: 'conv 5x5 s2 C16', input: [batch, 32, 32, 16], k: 5, cout: 16, stride: 2, pad: 2 },
  // dil 3x3 stride 1 at 32×32: 4 phases of the padded 36×36 input, each 18×18, dense 3×3 valid.
  { name: 'dil3x3 s1 C16 (phases)', input: [4 * batch, 18, 18, 16], k: 3, cout: 16, stride: 1, pad: 0 },
  // dil 5x5 stride 2 at 32×32: the padded 40×40 input subsampled to 20×20, dense 5×5 valid.
  { name: 'dil5x5 s2 C16 (subsampled)', input: [batch, 20, 20, 16], k: 5, cout: 16, stride: 1, pad: 0 },
  { name: 'conv 1x1 C48->16', input: [batch, 32, 32, 48], k: 1, cout: 16, stride: 1, pad: 0 },
  { name: 'conv 2x2 s2 C16->32', input: [batch, 32, 32, 16], k: 2, cout: 32, stride: 2, pad: 0 }
]

type Pad = [[number, number], [number, number], [number, number], [number, number]]

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function time(run: () => tf.TensorInfo | tf.Tensor, repeat: number, warmup: number): number {
  const once = (): number => {
    const started = performance.now()
    const out = run() as tf.Tensor
    out.dataSync()
    const elapsed = performance.now() - started
    out.dispose()
    return elapsed
  }
  for (let i = 0; i < warmup; i++) once()
  const times: number[] = []
  for (let i = 0; i < repeat; i++) times.push(once())
  return median(times)
}

interface Row {
  backend: string
  shape: string
  forwardMs: number
  inputGradMs: number
  filterGradMs: number
}

async function benchBackend(backend: string): Promise<Row[]> {
  if (backend === 'native') {
    await registerNativeBackend()
    if (threads) setNativeThreads(Number(threads))
  }
  if (backend === 'wasm') await wasmCandidate.load()
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`)
  const slow = backend === 'cpu'
  const rows: Row[] = []
  for (const s of slow ? SHAPES.slice(0, 1) : SHAPES) {
    const [n, h, w, cin] = s.input
    const pad: Pad = [
      [0, 0],
      [s.pad, s.pad],
      [s.pad, s.pad],
      [0, 0]
    ]
    const x = tf.randomNormal(s.input) as tf.Tensor4D
    const filter = tf.randomNormal([s.k, s.k, cin, s.cout]) as tf.Tensor4D
    const y = tf.conv2d(x, filter, s.stride, pad)
    const dy = tf.randomNormal(y.shape)
    const attrs = { strides: [s.stride, s.stride], pad, dataFormat: 'NHWC', dimRoundingMode: undefined }
    const repeat = slow ? 1 : reps
    const warmup = slow ? 0 : 2
    rows.push({
      backend,
      shape: `${s.name} [${n},${h},${w},${cin}]`,
      forwardMs: time(() => tf.conv2d(x, filter, s.stride, pad), repeat, warmup),
      inputGradMs: time(
        () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, {
            ...attrs,
            inputShape: s.input
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        repeat,
        warmup
      ),
      filterGradMs: time(
        () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
            ...attrs,
            filterShape: [s.k, s.k, cin, s.cout]
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        repeat,
        warmup
      )
    })
    tf.dispose([x, filter, y, dy])
    if (!json) {
      const r = rows[rows.length - 1]
      console.log(
        `${backend.padEnd(7)} ${r.shape.padEnd(44)} fwd ${r.forwardMs.toFixed(2).padStart(9)}  dx ${r.inputGradMs.toFixed(2).padStart(9)}  dw ${r.filterGradMs.toFixed(2).padStart(9)}  (load ${os.loadavg()[0].toFixed(1)})`
      )
    }
  }
  return rows
}

/** Wraps every kernel of `backend` to add up its wall time per kernel name. */
function instrumentKernels(backend: string): Map<string, { ms: number; calls: number }> {
  const stats = new Map<string, { ms: number; calls: number }>()
  for (const config of tf.getKernelsForBackend(backend)) {
    const inner = config.kernelFunc
    tf.unregisterKernel(config.kernelName, backend)
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        const started = performance.now()
        const out = inner(args)
        const entry = stats.get(config.kernelName) ?? { ms: 0, calls: 0 }
        entry.ms += performance.now() - started
        entry.calls++
        stats.set(config.kernelName, entry)
        return out
      }
    })
  }
  return stats
}

async function benchStep(backend: string): Promise<void> {
  await import('../src/main/engine/ops/register-gradients')
  const { Supernet } = await import('../src/main/engine/network/supernet')
  const { crossEntropy } = await import('../src/main/engine/train/loss')
  if (backend === 'native') {
    await registerNativeBackend()
    if (threads) setNativeThreads(Number(threads))
  }
  if (backend === 'wasm') await wasmCandidate.load()
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`)
  const stats = instrumentKernels(backend)
  const net = new Supernet({ cells: 5, channels: 8, classes: 10, seed: 1 })
  const x = tf.randomNormal([batch, 32, 32, 3]) as tf.Tensor4D
  const y = tf.tensor1d(
    Array.from({ length: batch }, (_, i) => i % 10),
    'int32'
  )
  const variables = net.weightParameters()
  const step = (): number => {
    const started = performance.now()
    tf.tidy(() => {
      const { value } = tf.variableGrads(() => crossEntropy(net.logits(x, { training: true }), y), variables)
      value.dataSync()
    })
    return performance.now() - started
  }
  step() // warm-up: oneDNN plans, JIT
  const times: number[] = []
  for (let i = 0; i < reps; i++) {
    stats.clear()
    times.push(step())
  }
  const inKernels = [...stats.values()].reduce((sum, e) => sum + e.ms, 0)
  console.log(
    `${backend}: weight step, batch ${batch}: median ${median(times).toFixed(0)} ms of [${times.map((t) => t.toFixed(0)).join(', ')}]; ` +
      `last step ${inKernels.toFixed(0)} ms inside kernels; load ${os.loadavg()[0].toFixed(1)}; peak-ish memory ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB rss`
  )
  for (const [name, e] of [...stats].sort((p, q) => q[1].ms - p[1].ms).slice(0, 15))
    console.log(`  ${name.padEnd(24)} ${e.ms.toFixed(0).padStart(7)} ms ${String(e.calls).padStart(7)} calls`)
  tf.dispose([x, y])
  net.dispose()
}

async function benchBinary(): Promise<void> {
  const { binaryConv2d } = await import('../src/main/engine/native')
  await registerNativeBackend()
  if (threads) setNativeThreads(Number(threads))
  await tf.setBackend('native')
  console.log(`# ${describeNativeBackend()}; median ms of ${reps}; load ${os.loadavg()[0].toFixed(1)}`)
  const cases: {
    name: string
    shape: [number, number, number, number]
    k: number
    stride: 1 | 2
    padding: number
    dilation: 1 | 2
  }[] = [
    { name: 'bin_conv_3x3 C8', shape: [batch, 32, 32, 8], k: 3, stride: 1, padding: 1, dilation: 1 },
    { name: 'bin_conv_3x3 C16', shape: [batch, 32, 32, 16], k: 3, stride: 1, padding: 1, dilation: 1 },
    { name: 'bin_conv_3x3 C32', shape: [batch, 32, 32, 32], k: 3, stride: 1, padding: 1, dilation: 1 },
    { name: 'bin_conv_5x5 C16', shape: [batch, 32, 32, 16], k: 5, stride: 1, padding: 2, dilation: 1 },
    { name: 'bin_dil_conv_3x3 C16', shape: [batch, 32, 32, 16], k: 3, stride: 1, padding: 2, dilation: 2 },
    { name: 'bin_conv_3x3 s2 C16', shape: [batch, 32, 32, 16], k: 3, stride: 2, padding: 1, dilation: 1 },
    { name: 'bin_conv_3x3 C64 16x16', shape: [batch, 16, 16, 64], k: 3, stride: 1, padding: 1, dilation: 1 }
  ]
  for (const c of cases) {
    const cin = c.shape[3]
    const x = tf.sign(tf.randomNormal(c.shape)) as tf.Tensor4D
    const w = tf.randomNormal([c.k, c.k, cin, cin]) as tf.Tensor4D
    const alpha = tf.mean(tf.abs(w), [0, 1, 2]) as tf.Tensor1D
    const scaled = tf.mul(tf.sign(w), alpha) as tf.Tensor4D
    const p = c.padding
    const pad: Pad = [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0]
    ]
    const packed = time(() => binaryConv2d(x, w, alpha, c), reps, 2)
    const float =
      c.stride === 2 && c.dilation === 2
        ? NaN
        : time(() => tf.conv2d(x, scaled, c.stride, pad, 'NHWC', c.dilation), reps, 2)
    console.log(
      `${c.name.padEnd(24)} [${c.shape}]  packed ${packed.toFixed(2).padStart(7)} ms   float conv ${float.toFixed(2).padStart(7)} ms   ${(float / packed).toFixed(2)}x`
    )
    tf.dispose([x, w, alpha, scaled])
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--binary')) return benchBinary()
  if (process.argv.includes('--step')) {
    for (const backend of backends) await benchStep(backend)
    return
  }
  const header = {
    node: process.version,
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    native: describeNativeBackend(),
    reps,
    loadBefore: os.loadavg()[0]
  }
  if (!json) console.log(`# ${JSON.stringify(header)}\n# median ms per call (cpu: 1 run, first shape only)`)
  const rows: Row[] = []
  for (const backend of backends) {
    try {
      rows.push(...(await benchBackend(backend)))
    } catch (error) {
      console.error(`${backend}: skipped: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  if (json) console.log(JSON.stringify({ ...header, loadAfter: os.loadavg()[0], rows }, null, 2))
}

void main()
