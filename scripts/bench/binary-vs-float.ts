// One binary conv → ReLU layer in inference, two ways on one backend: the bit-packed XNOR/popcount kernel
// (binaryConv2d: the native addon's or the WGSL one) against the float conv of the signs with sign(W)·α (the native
// backend's fused conv+ReLU, or tf.conv2d then relu elsewhere). The figures decide where the engine takes the packed
// kernel (src/main/engine/ops/binary-inference.ts).
//
//   npx tsx scripts/bench/binary-vs-float.ts [native|webgpu] [--reps 5]
//
// Mean of --reps runs after 2 warm-ups, each read back (await data()). On a software WebGPU adapter the
// figures compare the two code paths on the CPU; they say nothing about a GPU's speed.
import * as tf from '@tensorflow/tfjs-core'
import { initBackend, type BackendPreference } from '../../src/main/engine/backend'
import { binaryConv2d } from '../../src/main/engine/native/binary-conv'
import { binarizeWeight, conv2dTorch } from '../../src/main/engine/ops'
import { conv2dReluFused } from '../../src/main/engine/ops/fused'

const backend = (process.argv[2] ?? 'native') as BackendPreference
const at = process.argv.indexOf('--reps')
const reps = at >= 0 ? Number(process.argv[at + 1]) : 5
const report = await initBackend(backend)
console.log(`backend ${report.name}: ${report.detail}`)

// [batch, size, channels, kernel, dilation]: layer shapes of the search and BNAS-A networks.
const LAYERS: Array<[number, number, number, number, 1 | 2]> = [
  [32, 32, 16, 3, 1],
  [32, 16, 64, 3, 1],
  [64, 8, 128, 5, 2],
  [32, 32, 48, 1, 1]
]

async function meanMs(f: () => tf.Tensor): Promise<number> {
  for (let i = 0; i < 2; i++) {
    const y = f()
    await y.data()
    y.dispose()
  }
  const start = performance.now()
  for (let i = 0; i < reps; i++) {
    const y = f()
    await y.data()
    y.dispose()
  }
  return (performance.now() - start) / reps
}

for (const [batch, size, channels, kernel, dilation] of LAYERS) {
  const x = tf.sign(tf.randomNormal([batch, size, size, channels])) as tf.Tensor4D
  const w = tf.randomNormal([kernel, kernel, channels, channels]) as tf.Tensor4D
  const alpha = tf.mean(tf.abs(w), [0, 1, 2]) as tf.Tensor1D
  const geometry = { padding: (dilation * (kernel - 1)) / 2, dilation, stride: 1 as const }
  const binary = await meanMs(() => tf.tidy(() => tf.relu(binaryConv2d(x, w, alpha, geometry))))
  const float = await meanMs(() =>
    tf.tidy(() =>
      report.name === 'native'
        ? conv2dReluFused(x, binarizeWeight(w), geometry)
        : tf.relu(conv2dTorch(x, binarizeWeight(w), geometry))
    )
  )
  console.log(
    `${batch}×${size}×${size}×${channels}, ${kernel}×${kernel} dilation ${dilation}: ` +
      `packed binary ${binary.toFixed(1)} ms, float ${float.toFixed(1)} ms`
  )
  tf.dispose([x, w, alpha])
}
