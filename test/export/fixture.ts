import * as tf from '@tensorflow/tfjs-core'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { saveTrainedModel, type TrainedModelInfo } from '../../src/main/engine/jobs/trained-model'
import { FinalNetwork, type Macro } from '../../src/main/engine/network'
import { createRng } from '../../src/main/engine/nn'
import type { Genotype } from '../../src/shared/genotype'

/** Every op of the space, at stride 1 (normal) and stride 2 (reduce), with Zeroise on both. */
export const ALL_OPS: Genotype = {
  normal: [
    ['bin_conv_3x3', 0],
    ['bin_dil_conv_3x3', 1],
    ['bin_conv_5x5', 1],
    ['none', 2],
    ['avg_pool_3x3', 2],
    ['bin_dil_conv_5x5', 3],
    ['max_pool_3x3', 0],
    ['bin_conv_3x3', 4]
  ],
  normalConcat: [2, 3, 4, 5],
  reduce: [
    ['max_pool_3x3', 0],
    ['bin_dil_conv_5x5', 1],
    ['avg_pool_3x3', 0],
    ['bin_conv_5x5', 1],
    ['none', 1],
    ['bin_dil_conv_3x3', 3],
    ['bin_conv_3x3', 0],
    ['none', 4]
  ],
  reduceConcat: [2, 3, 4, 5]
}

/**
 * A small final network with "trained-looking" state: weights centred and clamped as training leaves them, BN running
 * statistics and affine parameters away from their defaults (seeded), so signs, pools and residuals all matter.
 */
export function perturbedNetwork(opts: {
  genotype?: Genotype
  cells?: number
  channels?: number
  classes?: number
  macro?: Macro
  inputChannels?: number
  seed?: number
}): FinalNetwork {
  const net = new FinalNetwork({
    genotype: opts.genotype ?? ALL_OPS,
    cells: opts.cells ?? 3,
    channels: opts.channels ?? 6,
    classes: opts.classes ?? 5,
    macro: opts.macro ?? 'cifar',
    inputChannels: opts.inputChannels ?? 3,
    seed: opts.seed ?? 7
  })
  const rng = createRng((opts.seed ?? 7) + 1000)
  tf.tidy(() => {
    for (const [name, v] of [...net.namedParameters(), ...net.namedBuffers()]) {
      const n = v.size
      let values: Float32Array
      if (name.endsWith('running_mean')) values = rng.normalArray(n, 0.3)
      else if (name.endsWith('running_var')) values = rng.uniformArray(n, 0.3, 2)
      else if (name.endsWith('bn.weight') || (/\.0\.weight$/.test(name) && v.rank === 1))
        values = rng.uniformArray(n, 0.5, 1.5)
      else if (v.rank === 1) values = rng.normalArray(n, 0.2)
      else continue
      v.assign(tf.tensor(values, v.shape))
    }
  })
  return net
}

export async function savedRun(
  net: FinalNetwork,
  inputShape: [number, number, number],
  classes = 5
): Promise<{ runPath: string; info: TrainedModelInfo }> {
  const runPath = await mkdtemp(join(tmpdir(), 'bnas-export-'))
  const info: TrainedModelInfo = {
    genotype: net.genotype,
    cells: net.options.cells,
    channels: net.options.channels,
    classes,
    macro: net.options.macro,
    inputShape,
    classNames: Array.from({ length: classes }, (_, i) => `class${i}`),
    normalize: { mean: [0.5, 0.5, 0.5].slice(0, inputShape[2]), std: [0.25, 0.25, 0.25].slice(0, inputShape[2]) }
  }
  await saveTrainedModel(runPath, net, info)
  return { runPath, info }
}

export function randomImages(batch: number, shape: [number, number, number], seed: number): Float32Array {
  return createRng(seed).normalArray(batch * shape[0] * shape[1] * shape[2], 1)
}

export function engineLogits(
  net: FinalNetwork,
  images: Float32Array,
  batch: number,
  shape: [number, number, number]
): Float32Array {
  return tf.tidy(
    () => net.logits(tf.tensor4d(images, [batch, ...shape]), { training: false }).dataSync() as Float32Array
  )
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

export function argmaxRows(logits: ArrayLike<number>, classes: number): number[] {
  const out: number[] = []
  for (let r = 0; r < logits.length / classes; r++) {
    let best = 0
    for (let k = 1; k < classes; k++) if (logits[r * classes + k] > logits[r * classes + best]) best = k
    out.push(best)
  }
  return out
}
