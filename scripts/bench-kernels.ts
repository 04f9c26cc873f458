// Kernel benchmark: ms per conv forward / input gradient / filter gradient (and pooling) for the BNAS supernet's
// typical shapes, on the native backend against wasm and the pure-JS cpu backend.
//
//   npx tsx scripts/bench-kernels.ts [--backends native,wasm,cpu] [--reps 9] [--batch 32] [--threads N] [--json]
//
// PyTorch on the same shapes: /usr/bin/python3 native/bench/torch_kernels.py [--threads N].
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

const backends = option('backends', 'native,wasm,cpu').split(',')
const reps = Number(option('reps', '9'))
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

async function main(): Promise<void> {
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
