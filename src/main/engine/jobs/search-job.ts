import * as tf from '@tensorflow/tfjs-core'
import { deriveGenotype, formatGenotypeJson, formatGenotypePython, type Genotype } from '../../../shared/genotype'
import type { EpochRecord, ProgressRecord, SearchConfig } from '../../../shared/jobs'
import {
  BatchLoader,
  channelStats,
  loadDataset,
  type BatchLoaderState,
  type Dataset,
  searchSplit,
  SEARCH_AUGMENTATION,
  type Batch,
  type DatasetView
} from '../../datasets'
import { readCheckpoint, writeCheckpoint } from '../../runs/checkpoint-file'
import { writeFileAtomic } from '../../runs/atomic-write'
import { RunFolder } from '../../runs/run-folder'
import { centerAndClampLatent } from '../ops'
import { Supernet } from '../network'
import { crossEntropy, correctCount, readScalars } from '../train/loss'
import { Adam, SgdMomentum } from '../train/optimizers'
import { entropyCoefficient, searchCosineLr } from '../train/schedules'
import { yieldToEventLoop, type JobControl } from './control'
import { evaluate, toTensors } from './evaluation'
import { restoreVariables, snapshotVariables, type NamedVariables } from './module-state'
import {
  countStep,
  epochAverages,
  isReportStep,
  nextEpoch,
  progressRecord,
  startPosition,
  type StepPosition
} from './progress'

export interface JobListener {
  progress(record: ProgressRecord): void
  epoch(record: EpochRecord): void
  log(message: string): void
}

export interface SearchResult {
  status: 'completed' | 'stopped'
  bestEpoch: number | null
  bestValidationAccuracy: number | null
  genotype: Genotype | null
}

interface SearchCheckpointState extends StepPosition {
  sgd: Record<string, number>
  adam: Record<string, number>
  /** Where both data streams stand, so a resumed run draws exactly the batches the interrupted one would have. */
  loaders?: { weights: BatchLoaderState; alpha: BatchLoaderState }
}

export const SEARCH_RESULT_FILE = 'result.json'

/**
 * The BNAS search (spec sections 4-6, 5.1): first-order bilevel optimisation of a supernet, one α step on a
 * validation batch then one weight step on a train batch per iteration, binarized weights in both.
 * Everything it learns lands in the run folder; `resume` continues from the last checkpoint.
 */
export async function runSearch(
  folder: RunFolder,
  config: SearchConfig,
  listener: JobListener,
  control: JobControl,
  options: { resume: boolean; dataset?: Dataset }
): Promise<SearchResult> {
  const dataset = options.dataset ?? loadDataset(config.dataset)
  listener.log(
    `dataset ${dataset.name}: ${dataset.train.count} train images of ${dataset.shape.height}×${dataset.shape.width}×${dataset.shape.channels}, ${dataset.classes.length} classes`
  )
  const split = searchSplit(dataset, { seed: config.seed, subset: config.subset, trainPortion: config.trainPortion })
  const normalize = channelStats(dataset.train)
  const augment = config.augment ? SEARCH_AUGMENTATION : undefined
  const weightLoader = new BatchLoader(split.weights, {
    batchSize: config.batchSize,
    seed: config.seed,
    augment,
    normalize,
    dropLast: true
  })
  const alphaLoader = new BatchLoader(split.alpha, {
    batchSize: config.batchSize,
    seed: config.seed + 1,
    augment,
    normalize,
    dropLast: true
  })
  const validationView = limitView(split.alpha, config.validationSubset)
  const validationLoader = new BatchLoader(validationView, { batchSize: config.batchSize, shuffle: false, normalize })

  const net = new Supernet({
    cells: config.cells,
    channels: config.channels,
    classes: dataset.classes.length,
    inputChannels: dataset.shape.channels,
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
  const stateVariables: NamedVariables = [
    ...net.namedParameters(),
    ...net.namedBuffers(),
    ['alpha.normal', net.alphaNormal as tf.Variable],
    ['alpha.reduce', net.alphaReduce as tf.Variable]
  ]
  const stepsPerEpoch = weightLoader.batchesPerEpoch
  const totalSteps = stepsPerEpoch * config.epochs

  let state: SearchCheckpointState = { ...startPosition(), sgd: {}, adam: {} }
  const checkpointPath = folder.file('latestCheckpoint')
  if (options.resume && (await folder.canResume())) {
    // Continue from the checkpoint, which must exist and be sound: readCheckpoint reports anything else.
    const saved = await readCheckpoint<SearchCheckpointState>(checkpointPath)
    restoreVariables(stateVariables, saved.tensors, checkpointPath)
    sgd.loadState(saved.tensors, saved.state.sgd)
    adam.loadState(saved.tensors, saved.state.adam)
    state = saved.state
    await folder.truncateAfterStep(state.step)
    if (saved.state.loaders === undefined) throw new Error(`${checkpointPath} does not record its data streams`)
    weightLoader.restoreState(saved.state.loaders.weights)
    alphaLoader.restoreState(saved.state.loaders.alpha)
    listener.log(`resumed at epoch ${state.epoch + 1}, step ${state.step} of ${totalSteps}`)
  }
  await folder.updateManifest({ status: 'running' })

  const saveCheckpoint = async (): Promise<void> => {
    const sgdState = await sgd.state()
    const adamState = await adam.state()
    state.sgd = sgdState.counters
    state.adam = adamState.counters
    state.loaders = { weights: weightLoader.saveState(), alpha: alphaLoader.saveState() }
    await writeCheckpoint(checkpointPath, {
      state,
      tensors: [...(await snapshotVariables(stateVariables)), ...sgdState.tensors, ...adamState.tensors]
    })
  }

  const binaryWeights = net.binaryWeights()
  // 'placeholder': Zeroise stays in the supernet but the cell is parsed as DARTS does (see SearchConfig.zeroise).
  const excludeZeroise = config.zeroise === 'placeholder'
  const archVariables = alphas.map((entry) => entry.variable)
  const weightVariables = weights.map((entry) => entry.variable)
  let result: SearchResult = { status: 'completed', bestEpoch: null, bestValidationAccuracy: null, genotype: null }
  try {
    for (let epoch = state.epoch; epoch < config.epochs; epoch++) {
      const learningRate = searchCosineLr(epoch, config.epochs, config.weightLr, config.weightLrMin)
      sgd.learningRate = learningRate
      const coefficient = entropyCoefficient(epoch, config.lambda, config.tau)
      const epochStart = Date.now()
      let imagesThisSession = 0
      // After a resume mid-epoch this yields the rest of that epoch.
      const batches = weightLoader.epochBatches()
      for (let stepInEpoch = state.stepInEpoch; stepInEpoch < stepsPerEpoch; stepInEpoch++) {
        // Give the event loop a turn between steps: a step is synchronous compute, and pause/stop requests (and any
        // other message to the engine worker) are only read when the loop runs.
        await yieldToEventLoop()
        await control.waitWhilePaused(() => listener.log('paused'))
        if (control.shouldStop) {
          await saveCheckpoint()
          result = { ...result, status: 'stopped' }
          return result
        }
        const trainBatch = batches.next().value as Batch
        const validationBatch = alphaLoader.next()
        // BinOp steps a-c: latent weights re-centred and clamped before every forward pass (spec 2.1).
        for (const weight of binaryWeights) centerAndClampLatent(weight)
        archStep(net, adam, archVariables, validationBatch, coefficient)
        const { loss, correct } = await weightStep(net, sgd, weightVariables, trainBatch)
        countStep(state, stepInEpoch, loss, correct, trainBatch.size)
        imagesThisSession += trainBatch.size + validationBatch.size
        if (isReportStep(state, config.progressEvery, stepsPerEpoch)) {
          const record = progressRecord(state, {
            epochs: config.epochs,
            stepsPerEpoch,
            totalSteps,
            imagesPerStep: 2 * config.batchSize,
            learningRate,
            images: imagesThisSession,
            since: epochStart
          })
          await folder.appendJsonLine('metrics', record)
          listener.progress(record)
        }
        if (state.step % config.checkpointEvery === 0 && state.stepInEpoch < stepsPerEpoch) await saveCheckpoint()
      }

      // Let the epoch's stream finish, so a checkpoint from here on starts the next epoch afresh.
      batches.next()

      // End of epoch t: validate, derive the genotype from the α of this moment, and keep the pair (spec section 0).
      // Test-time binarization centres and clamps the latent weights first, as the authors' infer() does.
      for (const weight of binaryWeights) centerAndClampLatent(weight)
      const validation = await evaluate(net, validationLoader)
      const seconds = (Date.now() - epochStart) / 1000
      // α and H̄ read asynchronously, as everything in this loop (webgpu in Node has no synchronous read).
      const [normal, reduce] = await Promise.all([net.alphaNormal.array(), net.alphaReduce.array()])
      const [entropy] = await readScalars(net.meanEdgeEntropy())
      const record: EpochRecord = {
        type: 'epoch',
        epoch: epoch + 1,
        step: state.step,
        ...epochAverages(state),
        validationLoss: validation.loss,
        validationAccuracy: validation.accuracy,
        learningRate,
        imagesPerSecond: imagesThisSession / Math.max(seconds, 1e-3),
        seconds,
        entropy,
        entropyCoefficient: coefficient,
        alphaNormal: normal.map(softmaxRow),
        alphaReduce: reduce.map(softmaxRow),
        genotype: deriveGenotype(normal, reduce, { excludeZeroise }),
        genotypeTransfer: deriveGenotype(normal, reduce, { gamma: config.gamma, excludeZeroise })
      }
      await folder.appendJsonLine('epochs', record)
      await folder.appendJsonLine('metrics', {
        ...record,
        alphaNormal: undefined,
        alphaReduce: undefined,
        genotype: undefined,
        genotypeTransfer: undefined
      })
      listener.epoch(record)
      listener.log(
        `epoch ${epoch + 1}/${config.epochs}: train ${(record.trainAccuracy * 100).toFixed(1)}%, validation ${(record.validationAccuracy * 100).toFixed(1)}%, H̄ ${record.entropy?.toFixed(3)}`
      )
      state = nextEpoch(state, epoch)
      await saveCheckpoint()
    }
    result = await writeSearchResult(folder)
    return result
  } finally {
    sgd.dispose()
    adam.dispose()
    net.dispose()
  }
}

/**
 * The α objective (spec section 4): CE on a validation batch − λ·exp(−t/τ)·H̄. With the coefficient 0 (λ = 0, or
 * late epochs underflowing) the entropy term is not built at all.
 */
export function archObjective(net: Supernet, x: tf.Tensor4D, y: tf.Tensor1D, coefficient: number): tf.Scalar {
  const ce = crossEntropy(net.logits(x, { training: true, differentiate: 'arch' }), y)
  return coefficient === 0 ? ce : (tf.sub(ce, tf.mul(net.meanEdgeEntropy(), coefficient)) as tf.Scalar)
}

/** α step: gradients of the α objective for α only, Adam. */
export function archStep(net: Supernet, adam: Adam, variables: tf.Variable[], batch: Batch, coefficient: number): void {
  tf.tidy(() => {
    const { x, y } = toTensors(batch)
    const { grads } = tf.variableGrads(() => archObjective(net, x, y, coefficient), variables)
    adam.step(new Map(variables.map((variable) => [variable, grads[variable.name]!])))
  })
}

/**
 * Weight step on a train batch: CE, gradients for w only (the binary ones through the XNOR transform), SGD. The loss
 * and correct count are read asynchronously once the update is queued, so a GPU backend runs the step unstalled.
 */
export async function weightStep(
  net: Supernet,
  sgd: SgdMomentum,
  variables: tf.Variable[],
  batch: Batch
): Promise<{ loss: number; correct: number }> {
  const figures = tf.tidy(() => {
    const { x, y } = toTensors(batch)
    let correct: tf.Scalar | undefined
    const { value, grads } = tf.variableGrads(() => {
      const logits = net.logits(x, { training: true, differentiate: 'weights' })
      // Kept out of variableGrads' own scope, which would dispose it; readScalars disposes it.
      correct = tf.keep(correctCount(logits, y))
      return crossEntropy(logits, y)
    }, variables)
    sgd.step(new Map(variables.map((variable) => [variable, grads[variable.name]!])))
    return [value, correct!]
  })
  const [loss, correct] = await readScalars(...figures)
  return { loss: loss!, correct: correct! }
}

function softmaxRow(row: number[]): number[] {
  const max = Math.max(...row)
  const exps = row.map((v) => Math.exp(v - max))
  const sum = exps.reduce((a, b) => a + b, 0)
  return exps.map((v) => v / sum)
}

function limitView(view: DatasetView, limit: number | undefined): DatasetView {
  if (limit === undefined || limit >= view.count) return view
  const indices = view.indices.subarray(0, limit)
  return { ...view, indices, count: indices.length }
}

/** The pair (genotype at the end of epoch t, validation accuracy at the end of epoch t) with the best accuracy. */
export async function writeSearchResult(folder: RunFolder): Promise<SearchResult> {
  const epochs = await folder.readJsonLines<EpochRecord>('epochs')
  let best: EpochRecord | null = null
  for (const record of epochs) if (best === null || record.validationAccuracy > best.validationAccuracy) best = record
  const genotype = (best?.genotype ?? null) as Genotype | null
  const result: SearchResult = {
    status: 'completed',
    bestEpoch: best?.epoch ?? null,
    bestValidationAccuracy: best?.validationAccuracy ?? null,
    genotype
  }
  await writeFileAtomic(
    `${folder.path}/${SEARCH_RESULT_FILE}`,
    JSON.stringify({ ...result, genotypeTransfer: best?.genotypeTransfer ?? null }, null, 2) + '\n'
  )
  if (genotype !== null) {
    await writeFileAtomic(`${folder.path}/genotype.json`, formatGenotypeJson(genotype) + '\n')
    await writeFileAtomic(`${folder.path}/genotype.py`, formatGenotypePython(genotype) + '\n')
  }
  return result
}
