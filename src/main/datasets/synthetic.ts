import type { DatasetSpec } from '../../shared/datasets'
import { Rng } from './rng'
import type { Dataset, ImageSet } from './types'

/**
 * A small generated dataset that a small binary CNN can learn in a few epochs: each class is a stripe pattern with
 * its own orientation and period and its own colour tint, drawn with a random phase, a little orientation jitter and
 * Gaussian pixel noise, so that a model has to look at local structure rather than memorise pixels.
 * Same spec, same bytes, on every machine (seeded generator, no Math.random).
 */

type SyntheticSpec = Extract<DatasetSpec, { kind: 'synthetic' }>

function generate(count: number, spec: SyntheticSpec, rng: Rng): ImageSet {
  const { size, channels, classes } = spec
  const imageBytes = size * size * channels
  const images = new Uint8Array(count * imageBytes)
  const labels = new Int32Array(count)
  for (let n = 0; n < count; n++) {
    // Interleaved labels: every class equally often and in dataset order, so an ordered split stays balanced.
    const k = n % classes
    labels[n] = k
    const angle = (Math.PI * k) / classes + (rng.next() - 0.5) * 0.15
    const period = 4 + (k % 3) * 2.5
    const phase = rng.next() * 2 * Math.PI
    const dx = Math.cos(angle) * ((2 * Math.PI) / period)
    const dy = Math.sin(angle) * ((2 * Math.PI) / period)
    const tint = [0, 1, 2].map((c) => 0.55 + 0.45 * Math.cos((2 * Math.PI * k) / classes + (2 * Math.PI * c) / 3))
    const base = n * imageBytes
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const wave = Math.sin(dx * x + dy * y + phase)
        for (let c = 0; c < channels; c++) {
          const value = 128 + 90 * wave * (channels === 1 ? 1 : tint[c]) + 24 * rng.normal()
          images[base + (y * size + x) * channels + c] = Math.min(255, Math.max(0, Math.round(value)))
        }
      }
    }
  }
  return { count, height: size, width: size, channels, images, labels }
}

export function loadSynthetic(spec: SyntheticSpec): Dataset {
  const testCount = Math.max(spec.classes, Math.round(spec.count / 5))
  return {
    spec,
    kind: 'synthetic',
    name: `Synthetic stripes (${spec.count} images, seed ${spec.seed})`,
    source: null,
    // Named by stripe angle in degrees.
    classes: Array.from({ length: spec.classes }, (_, k) => `stripes-${Math.round((180 * k) / spec.classes)}`),
    shape: { height: spec.size, width: spec.size, channels: spec.channels },
    // Separate streams, so the test set does not change when N changes the number of train draws.
    train: generate(spec.count, spec, new Rng(spec.seed * 2 + 1)),
    test: generate(testCount, spec, new Rng(spec.seed * 2 + 2)),
    classOrdered: false
  }
}
