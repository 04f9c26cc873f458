import type * as tf from '@tensorflow/tfjs-core'
import { assertGenotype } from '../../../shared/genotype'
import type { TrainArchitecture, TrainConfig } from '../../../shared/jobs'
import type { ForwardContext, Module } from '../nn'
import { centerAndClampLatent, type WeightGradientMode } from '../ops'
import { summarizeNetwork, type ModelSummary } from '../summary/summary'
import { BinaryResNet18 } from './baselines/binary-resnet18'
import { buildableDartsGenotype, DartsBinaryNetwork } from './baselines/darts-v2-binary'
import { depthwiseConvsOf } from './baselines/layers'
import { FinalNetwork } from './final-network'
import type { Shape3, Traceable } from './trace'

/**
 * What a training run needs of any network it trains (the BNAS final network and the baselines alike): logits, the
 * module tree (parameters, buffers, binary weights), the summary walk, and drop-path state the loop sets per epoch
 * and per step (a network without drop-path ignores it).
 */
export interface TrainNetwork extends Module, Traceable {
  dropPathProb: number
  reseedDropPath(seed: number): void
  logits(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D
}

/** The settings that decide a training network's shape (a TrainConfig has them all). */
export type TrainNetworkSettings = Pick<TrainConfig, 'architecture' | 'genotype' | 'cells' | 'channels' | 'macro'> & {
  weightGradient?: WeightGradientMode
}

/** What the data set adds: the image shape and the class count. */
export interface TrainNetworkData {
  /** One image, [H, W, C]. */
  input: Shape3
  classes: number
}

/** The architectures other than the BNAS cell support the CIFAR macro only (small images, stride-1 stem). */
function checkMacro(settings: TrainNetworkSettings): void {
  if (settings.architecture !== 'cell' && settings.macro !== 'cifar') {
    throw new Error(
      `architecture ${settings.architecture} is built for small images with the cifar macro only (got macro ` +
        `'${settings.macro}'); use --macro cifar`
    )
  }
}

/**
 * Builds the network a training config describes: 'cell' = the BNAS final network of the genotype; 'binary-resnet18' =
 * the Bi-Real-style binary ResNet-18 of width `channels` (cells unused); 'darts-v2-binary' = DARTS V2 (or the given
 * DARTS-space genotype) binarized, with the same cells, C and macro as a cell network.
 */
export function buildTrainNetwork(
  settings: TrainNetworkSettings,
  data: TrainNetworkData,
  opts: { seed: number }
): TrainNetwork {
  checkMacro(settings)
  const common = {
    channels: settings.channels,
    classes: data.classes,
    inputChannels: data.input[2],
    seed: opts.seed,
    weightGradient: settings.weightGradient
  }
  const architecture: TrainArchitecture = settings.architecture
  switch (architecture) {
    case 'cell':
      if (settings.genotype === undefined) throw new Error('architecture cell needs a genotype')
      return new FinalNetwork({
        ...common,
        genotype: assertGenotype(settings.genotype, 'the genotype to train'),
        cells: settings.cells,
        macro: settings.macro
      })
    case 'binary-resnet18':
      return new BinaryResNet18(common)
    case 'darts-v2-binary':
      return new DartsBinaryNetwork({
        ...common,
        cells: settings.cells,
        ...(settings.genotype === undefined ? {} : { genotype: buildableDartsGenotype(settings.genotype) })
      })
    default: {
      const unknown: never = architecture
      throw new Error(`unknown architecture '${String(unknown)}': use cell, binary-resnet18 or darts-v2-binary`)
    }
  }
}

/**
 * BinOp's step before every training forward pass (and before test-time binarization), for every binary weight of
 * the network: dense binary convs are centred over C_in and clamped, the baselines' depthwise ones only clamped
 * (see BinaryDepthwiseConv2d). Returns the function to call; the weight lists are collected once.
 */
export function latentWeightPreparer(net: Module): () => void {
  const dense = net.binaryWeights()
  const depthwise = depthwiseConvsOf(net)
  return () => {
    for (const weight of dense) centerAndClampLatent(weight)
    for (const conv of depthwise) conv.clampLatent()
  }
}

/** Settings and data of {@link summarizeTrainNetwork}: a TrainConfig (or its shape fields) plus input and classes. */
export type TrainSummaryConfig = TrainNetworkSettings & TrainNetworkData

/**
 * The summary (1-bit / 32-bit parameters, BOPs, FLOPs, OPs = BOPs/64 + FLOPs) of the network a training config
 * trains, for one image of `input`. Builds it (weights allocated, nothing run) and disposes it. Needs a TF.js backend;
 * the pure-JS cpu backend is enough.
 */
export function summarizeTrainNetwork(config: TrainSummaryConfig): ModelSummary {
  const net = buildTrainNetwork(config, config, { seed: 0 })
  try {
    return summarizeNetwork(net, config.input)
  } finally {
    net.dispose()
  }
}

/** Baselines whose size is chosen by channels to match another network's OPs. */
export type BaselineArchitecture = Exclude<TrainArchitecture, 'cell'>

/**
 * The widest a matched baseline may be. Each probe builds the network (weights allocated): a binary ResNet-18 of width
 * 256 holds 176 M weights (~0.7 GiB), so the search stops there with a message rather than running out of memory.
 * BNAS-A itself (20 cells, C = 36, 32×32×3) is matched by width 161 (16 s, 0.9 GiB peak, measured).
 */
const MAX_MATCH_CHANNELS = 256

/**
 * The `channels` of a baseline whose OPs (as run: residual convs float) are closest to `targetOps`, for equal-OPs
 * comparisons. OPs grow with channels, so the two widths around the target are found by bisection (a dozen
 * summaries at most) and the closer one is returned with its OPs. Other settings (cells for darts-v2-binary, input,
 * classes) come from `config`.
 */
export function channelsForOps(
  architecture: BaselineArchitecture,
  targetOps: number,
  config: Omit<TrainSummaryConfig, 'architecture' | 'channels'>
): { channels: number; ops: number } {
  if (!(targetOps > 0) || !Number.isFinite(targetOps)) {
    throw new Error(`target OPs must be a positive number, got ${targetOps}`)
  }
  // binary-resnet18 has no cell; darts-v2-binary keeps the caller's DARTS genotype (DARTS_V2 when absent).
  const genotype = architecture === 'darts-v2-binary' ? config.genotype : undefined
  const opsAt = (channels: number): number =>
    summarizeTrainNetwork({ ...config, architecture, channels, genotype }).totals.ops
  let low = 1
  let lowOps = opsAt(low)
  if (lowOps >= targetOps) return { channels: low, ops: lowOps }
  let high = 2
  let highOps = opsAt(high)
  while (highOps < targetOps) {
    if (high >= MAX_MATCH_CHANNELS) {
      throw new Error(
        `${architecture} at ${MAX_MATCH_CHANNELS} channels has ${highOps.toExponential(3)} OPs, still below the target ` +
          `${targetOps.toExponential(3)}`
      )
    }
    ;[low, lowOps] = [high, highOps]
    high = Math.min(2 * high, MAX_MATCH_CHANNELS)
    highOps = opsAt(high)
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2)
    const midOps = opsAt(mid)
    if (midOps < targetOps) [low, lowOps] = [mid, midOps]
    else [high, highOps] = [mid, midOps]
  }
  return targetOps - lowOps <= highOps - targetOps ? { channels: low, ops: lowOps } : { channels: high, ops: highOps }
}
