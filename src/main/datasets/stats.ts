import type { ImageSet } from './types'

export interface ChannelStats {
  /** Per channel, of pixels scaled to [0, 1]. */
  mean: number[]
  /** Population standard deviation per channel, as numpy's std() and torchvision's usual CIFAR figures. */
  std: number[]
}

/**
 * Per-channel mean and std from a 256-bin histogram per channel: one pass of integer increments over the bytes, and
 * exact sums (no float drift over 150 million pixels).
 */
export function channelStats(set: ImageSet): ChannelStats {
  const { channels, images } = set
  const hist = new Float64Array(256 * channels)
  const n = images.length
  if (channels === 1) {
    for (let i = 0; i < n; i++) hist[images[i]]++
  } else {
    for (let i = 0; i < n; i += channels) {
      for (let c = 0; c < channels; c++) hist[c * 256 + images[i + c]]++
    }
  }
  const mean: number[] = []
  const std: number[] = []
  for (let c = 0; c < channels; c++) {
    let count = 0
    let sum = 0
    let sumSq = 0
    for (let v = 0; v < 256; v++) {
      const h = hist[c * 256 + v]
      count += h
      sum += h * v
      sumSq += h * v * v
    }
    const m = count ? sum / count : 0
    mean.push(m / 255)
    std.push(count ? Math.sqrt(Math.max(0, sumSq / count - m * m)) / 255 : 0)
  }
  return { mean, std }
}

/** Images per class. */
export function classCounts(labels: Int32Array, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0)
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++
  return counts
}
