import * as tf from '@tensorflow/tfjs-core'
import { join } from 'node:path'
import type { EpochRecord, TrainConfig } from '../../../shared/jobs'
import {
  BatchLoader,
  channelStats,
  loadDataset,
  testSplit,
  trainSplit,
  type Batch,
  type BatchLoaderState,
  type Dataset
} from '../../datasets'
import { writeFileAtomic } from '../../runs/atomic-write'
import { readCheckpoint, writeCheckpoint } from '../../runs/checkpoint-file'
import type { RunFolder } from '../../runs/run-folder'
import {
  buildTrainNetwork,
  DartsBinaryNetwork,
  FinalNetwork,
  latentWeightPreparer,
  type TrainNetwork
} from '../network'
import { crossEntropy, correctCount, readScalars } from '../train/loss'
import { SgdMomentum } from '../train/optimizers'
import { cosineLr, cosineWarmRestartsLr, oneCycle } from '../train/schedules'
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
import type { JobListener } from './search-job'
import { saveTrainedModel } from './trained-model'

export interface TrainResult {
  status: 'completed' | 'stopped'
  testAccuracy: number | null
  bestEpoch: number | null
}

interface TrainCheckpointState extends StepPosition {
  sgd: Record<string, number>
  loader?: BatchLoaderState
}

/** The period of the ImageNet schedule's warm restarts, in epochs (spec 5.3). */
const RESTART_PERIOD = 50

/**
 * Final training of a genotype's network from scratch (spec 5.2, 5.3): SGD with momentum and weight decay, the
 * chosen schedule stepped per iteration, drop-path growing linearly over the epochs, label smoothing, evaluation on
 * the test split after every epoch. The trained network is saved in the run's model/ folder.
 */
export async function runTraining(
  folder: RunFolder,
  config: TrainConfig,
  listener: JobListener,
  control: JobControl,
  options: { resume: boolean; dataset?: Dataset }
): Promise<TrainResult> {
  const dataset = options.dataset ?? loadDataset(config.dataset)
  const train = trainSplit(dataset, { seed: config.seed, subset: config.subset })
  const test = testSplit(dataset, { seed: config.seed, subset: config.testSubset })
  const normalize = channelStats(dataset.train)
  const augment = config.augment ? { padding: 4, flip: true, cutout: config.cutout } : undefined
  const loader = new BatchLoader(train, {
    batchSize: config.batchSize,
    seed: config.seed,
    augment,
    normalize,
    dropLast: true
  })
  const testLoader = new BatchLoader(test, { batchSize: config.batchSize, shuffle: false, normalize })
  listener.log(`dataset ${dataset.name}: ${train.count} train and ${test.count} test images`)

  const net = buildTrainNetwork(
    config,
    { input: [dataset.shape.height, dataset.shape.width, dataset.shape.channels], classes: dataset.classes.length },
    { seed: config.seed }
  )
  if (config.architecture === 'binary-resnet18' && config.dropPath > 0) {
    listener.log(`binary-resnet18 has no cells to drop paths in: drop-path ${config.dropPath} is not applied`)
  }
  const weights = net.namedParameters().map(([name, variable]) => ({ name, variable }))
  const sgd = new SgdMomentum(weights, config.lr, config.momentum, config.weightDecay)
  const stateVariables: NamedVariables = [...net.namedParameters(), ...net.namedBuffers()]
  const stepsPerEpoch = loader.batchesPerEpoch
  const totalSteps = stepsPerEpoch * config.epochs
  const checkpointPath = folder.file('latestCheckpoint')

  let state: TrainCheckpointState = { ...startPosition(), sgd: {} }
  if (options.resume && (await folder.canResume())) {
    const saved = await readCheckpoint<TrainCheckpointState>(checkpointPath)
    restoreVariables(stateVariables, saved.tensors, checkpointPath)
    sgd.loadState(saved.tensors, saved.state.sgd)
    state = saved.state
    if (state.loader === undefined) throw new Error(`${checkpointPath} does not record its data stream`)
    loader.restoreState(state.loader)
    await folder.truncateAfterStep(state.step)
    listener.log(`resumed at epoch ${state.epoch + 1}, step ${state.step} of ${totalSteps}`)
  }
  const saveCheckpoint = async (): Promise<void> => {
    const sgdState = await sgd.state()
    state.sgd = sgdState.counters
    state.loader = loader.saveState()
    await writeCheckpoint(checkpointPath, {
      state,
      tensors: [...(await snapshotVariables(stateVariables)), ...sgdState.tensors]
    })
  }

  const prepareLatentWeights = latentWeightPreparer(net)
  const variables = weights.map((entry) => entry.variable)
  let lastTest: number | null = null
  let best: { epoch: number; accuracy: number } | null = null
  try {
    for (let epoch = state.epoch; epoch < config.epochs; epoch++) {
      net.dropPathProb = (config.dropPath * epoch) / config.epochs
      const epochStart = Date.now()
      let images = 0
      let learningRate = config.lr
      const batches = loader.epochBatches()
      for (let stepInEpoch = state.stepInEpoch; stepInEpoch < stepsPerEpoch; stepInEpoch++) {
        // Give the event loop a turn between steps: a step is synchronous compute, and pause/stop requests (and any
        // other message to the engine worker) are only read when the loop runs.
        await yieldToEventLoop()
        await control.waitWhilePaused(() => listener.log('paused'))
        if (control.shouldStop) {
          await saveCheckpoint()
          return { status: 'stopped', testAccuracy: lastTest, bestEpoch: best?.epoch ?? null }
        }
        const schedule = scheduleAt(config, state.step, totalSteps, stepsPerEpoch)
        learningRate = schedule.lr
        sgd.learningRate = schedule.lr
        if (schedule.momentum !== undefined) sgd.momentum = schedule.momentum
        const batch = batches.next().value as Batch
        prepareLatentWeights()
        net.reseedDropPath(config.seed * 1_000_003 + state.step)
        const { loss, correct } = await trainStep(net, sgd, variables, batch, config)
        countStep(state, stepInEpoch, loss, correct, batch.size)
        images += batch.size
        if (isReportStep(state, config.progressEvery, stepsPerEpoch)) {
          const record = progressRecord(state, {
            epochs: config.epochs,
            stepsPerEpoch,
            totalSteps,
            imagesPerStep: config.batchSize,
            learningRate,
            images,
            since: epochStart
          })
          await folder.appendJsonLine('metrics', record)
          listener.progress(record)
        }
        if (state.step % config.checkpointEvery === 0 && state.stepInEpoch < stepsPerEpoch) await saveCheckpoint()
      }
      batches.next() // finish the epoch's stream, so a checkpoint from here on starts the next epoch afresh

      // Test-time binarization centres and clamps the latent weights first, as the authors' infer() does. The model
      // saved after the last epoch holds these weights, so evaluating it again needs no further centring.
      prepareLatentWeights()
      const evaluation = await evaluate(net, testLoader)
      lastTest = evaluation.accuracy
      if (best === null || evaluation.accuracy > best.accuracy)
        best = { epoch: epoch + 1, accuracy: evaluation.accuracy }
      const seconds = (Date.now() - epochStart) / 1000
      const record: EpochRecord = {
        type: 'epoch',
        epoch: epoch + 1,
        step: state.step,
        ...epochAverages(state),
        validationLoss: evaluation.loss,
        validationAccuracy: evaluation.accuracy,
        learningRate,
        imagesPerSecond: images / Math.max(seconds, 1e-3),
        seconds
      }
      await folder.appendJsonLine('epochs', record)
      await folder.appendJsonLine('metrics', record)
      listener.epoch(record)
      listener.log(
        `epoch ${epoch + 1}/${config.epochs}: train ${(record.trainAccuracy * 100).toFixed(1)}%, test ${(evaluation.accuracy * 100).toFixed(1)}%`
      )
      state = nextEpoch(state, epoch)
      await saveCheckpoint()
    }
    // As the authors report it (spec 5.2): the test accuracy after the last epoch is the run's result.
    const [height, width, channels] = [dataset.shape.height, dataset.shape.width, dataset.shape.channels]
    const described = {
      cells: config.cells,
      channels: config.channels,
      classes: dataset.classes.length,
      macro: config.macro,
      inputShape: [height, width, channels] as [number, number, number],
      classNames: dataset.classes,
      normalize,
      ...(lastTest === null ? {} : { testAccuracy: lastTest })
    }
    await saveTrainedModel(
      folder.path,
      net,
      net instanceof FinalNetwork
        ? { architecture: 'cell', genotype: net.genotype, ...described }
        : net instanceof DartsBinaryNetwork
          ? { architecture: 'darts-v2-binary', genotype: net.genotype, ...described }
          : { architecture: 'binary-resnet18', ...described }
    )
    const result: TrainResult = { status: 'completed', testAccuracy: lastTest, bestEpoch: best?.epoch ?? null }
    await writeFileAtomic(join(folder.path, 'result.json'), JSON.stringify(result, null, 2) + '\n')
    return result
  } finally {
    sgd.dispose()
    net.dispose()
  }
}

/** One training step; the loss and correct count are read asynchronously once the update is queued (see weightStep). */
export async function trainStep(
  net: TrainNetwork,
  sgd: SgdMomentum,
  variables: tf.Variable[],
  batch: Batch,
  config: TrainConfig
): Promise<{ loss: number; correct: number }> {
  const figures = tf.tidy(() => {
    const { x, y } = toTensors(batch)
    let correct: tf.Scalar | undefined
    const { value, grads } = tf.variableGrads(() => {
      const logits = net.logits(x, { training: true })
      // Kept out of variableGrads' own scope, which would dispose it; readScalars disposes it.
      correct = tf.keep(correctCount(logits, y))
      return crossEntropy(logits, y, config.labelSmoothing)
    }, variables)
    let gradients = variables.map((variable) => grads[variable.name]!)
    // Global-norm clipping. The authors clip before their XNOR transform; here the transform lives inside the
    // gradient itself, so the clip sees transformed binary-weight gradients (documented deviation, ImageNet only).
    if (config.gradClip > 0) gradients = clipByGlobalNorm(gradients, config.gradClip)
    sgd.step(new Map(variables.map((variable, i) => [variable, gradients[i]!])))
    return [value, correct!]
  })
  const [loss, correct] = await readScalars(...figures)
  return { loss: loss!, correct: correct! }
}

/**
 * torch.nn.utils.clip_grad_norm_: every gradient times maxNorm / (norm + 1e-6) when the global norm exceeds maxNorm,
 * unchanged (times exactly 1) otherwise. Computed on the device, without reading the norm back mid-step.
 */
function clipByGlobalNorm(gradients: tf.Tensor[], maxNorm: number): tf.Tensor[] {
  const norm = tf.sqrt(tf.addN(gradients.map((g) => tf.sum(tf.square(g)))))
  const factor = tf.where(tf.lessEqual(norm, maxNorm), tf.onesLike(norm), tf.div(maxNorm, tf.add(norm, 1e-6)))
  return gradients.map((g) => tf.mul(g, factor))
}

function scheduleAt(
  config: TrainConfig,
  step: number,
  totalSteps: number,
  stepsPerEpoch: number
): { lr: number; momentum?: number } {
  if (config.schedule === 'one-cycle') return oneCycle(step, totalSteps, config.lr)
  if (config.schedule === 'cosine-restarts')
    return { lr: cosineWarmRestartsLr(step / stepsPerEpoch, Math.min(RESTART_PERIOD, config.epochs), config.lr) }
  return { lr: cosineLr(step / totalSteps, config.lr, 0) }
}
