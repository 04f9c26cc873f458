import * as tf from '@tensorflow/tfjs-core'
import type { ReplyOf } from '../../shared/contract'
import type { SearchConfig } from '../../shared/jobs'
import { BatchLoader, channelStats, loadDataset, searchSplit, SEARCH_AUGMENTATION } from '../datasets'
import { Supernet } from '../engine/network'
import { centerAndClampLatent } from '../engine/ops'
import { summarizeNetwork } from '../engine/summary'
import { Adam, SgdMomentum } from '../engine/train/optimizers'
import { entropyCoefficient } from '../engine/train/schedules'
import { archStep, weightStep } from '../engine/jobs/search-job'

export type SearchEstimate = ReplyOf<'search.estimate'>

/**
 * What a search of `config` costs, measured rather than guessed: the supernet is built exactly as the search builds
 * it, summarised, and two real search steps run on batches of the configured data. The first step warms the kernels
 * up; the second is the one timed, and TF.js's peak tensor bytes in it are the memory figure.
 */
export async function estimateSearch(config: SearchConfig, measuredUnderLoad: boolean): Promise<SearchEstimate> {
  const dataset = loadDataset(config.dataset)
  const split = searchSplit(dataset, { seed: config.seed, subset: config.subset, trainPortion: config.trainPortion })
  const normalize = channelStats(dataset.train)
  const augment = config.augment ? SEARCH_AUGMENTATION : undefined
  const loader = new BatchLoader(split.weights, {
    batchSize: config.batchSize,
    seed: config.seed,
    augment,
    normalize,
    dropLast: true
  })
  const { height, width, channels } = dataset.shape
  const net = new Supernet({
    cells: config.cells,
    channels: config.channels,
    classes: dataset.classes.length,
    inputChannels: channels,
    seed: config.seed,
    weightGradient: config.weightGradient
  })
  const weights = net.namedParameters().map(([name, variable]) => ({ name, variable }))
  const alphas = [
    { name: 'alpha.normal', variable: net.alphaNormal as tf.Variable },
    { name: 'alpha.reduce', variable: net.alphaReduce as tf.Variable }
  ]
  const sgd = new SgdMomentum(weights, config.weightLr, config.momentum, config.weightDecay)
  const adam = new Adam(alphas, config.archLr, config.archBeta1, config.archBeta2, config.archWeightDecay)
  try {
    const summary = summarizeNetwork(net, [height, width, channels])
    const binaryWeights = net.binaryWeights()
    const archVariables = alphas.map((entry) => entry.variable)
    const weightVariables = weights.map((entry) => entry.variable)
    const coefficient = entropyCoefficient(0, config.lambda, config.tau)
    const step = async (): Promise<void> => {
      const trainBatch = loader.next()
      const alphaBatch = loader.next()
      for (const weight of binaryWeights) centerAndClampLatent(weight)
      archStep(net, adam, archVariables, alphaBatch, coefficient)
      await weightStep(net, sgd, weightVariables, trainBatch)
    }
    await step()
    const before = tf.memory().numBytes
    const start = performance.now()
    const profile = await tf.profile(() => step())
    const msPerStep = performance.now() - start
    const stepsPerEpoch = loader.batchesPerEpoch
    return {
      parameters: summary.trainableParams,
      binaryParameters: summary.totals.binaryParams,
      architectureParameters: net.alphaNormal.size + net.alphaReduce.size,
      bops: summary.totals.bops,
      flops: summary.totals.flops,
      stepsPerEpoch,
      estimatedMemoryBytes: before + profile.peakBytes,
      msPerStep,
      secondsPerEpoch: (msPerStep * stepsPerEpoch) / 1000,
      backend: tf.getBackend(),
      measuredUnderLoad
    }
  } finally {
    sgd.dispose()
    adam.dispose()
    net.dispose()
  }
}
