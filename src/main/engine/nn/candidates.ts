import type { OpName } from '../../../shared/genotype'
import type { WeightGradientMode } from '../ops'
import { BinaryConvBlock } from './blocks'
import { AvgPool3x3, BatchNorm2d, MaxPool3x3, Zero } from './layers'
import { Sequential, type Module } from './module'
import type { Rng } from './rng'

export interface CandidateOpOptions {
  /** BN affine inside binary ops: true in final networks, false in the supernet. */
  affine: boolean
  /** Supernet (MixedOp): the pools get BN(affine=false) appended, as nn.Sequential(pool, BN) → names '0', '1'. */
  searchPhase: boolean
  rng: Rng
  weightGradient?: WeightGradientMode
}

/** Kernel, padding and dilation of the binary candidates, as `OPS` in the authors' operations.py. */
const BINARY_GEOMETRY = {
  bin_dil_conv_3x3: { kernel: 3, padding: 2, dilation: 2 },
  bin_dil_conv_5x5: { kernel: 5, padding: 4, dilation: 2 },
  bin_conv_3x3: { kernel: 3, padding: 1, dilation: 1 },
  bin_conv_5x5: { kernel: 5, padding: 2, dilation: 1 }
} as const

/** One of the 7 BNAS candidate operations, C → C channels (spec section 2). */
export function createCandidateOp(name: OpName, channels: number, stride: 1 | 2, opts: CandidateOpOptions): Module {
  switch (name) {
    case 'none':
      return new Zero(stride)
    case 'max_pool_3x3':
    case 'avg_pool_3x3': {
      const pool = name === 'max_pool_3x3' ? new MaxPool3x3(stride) : new AvgPool3x3(stride)
      return opts.searchPhase ? new Sequential(pool, new BatchNorm2d(channels, { affine: false })) : pool
    }
    case 'bin_dil_conv_3x3':
    case 'bin_dil_conv_5x5':
    case 'bin_conv_3x3':
    case 'bin_conv_5x5': {
      const { kernel, padding, dilation } = BINARY_GEOMETRY[name]
      return new BinaryConvBlock(channels, channels, kernel, {
        stride,
        padding,
        dilation,
        affine: opts.affine,
        rng: opts.rng,
        weightGradient: opts.weightGradient
      })
    }
    default: {
      const unknown: never = name
      throw new Error(`unknown candidate op '${String(unknown)}'`)
    }
  }
}
