import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { assertGenotype, type DartsGenotype, type Genotype } from '../../../shared/genotype'
import type { TrainArchitecture } from '../../../shared/jobs'
import { readCheckpoint, writeCheckpoint } from '../../runs/checkpoint-file'
import { buildTrainNetwork, FinalNetwork, type TrainNetwork } from '../network'
import type { Module } from '../nn'
import type { Macro } from '../network'
import { restoreVariables, snapshotVariables } from './module-state'

/**
 * A trained final network as a training run keeps it: `model/network.ckpt` in the checkpoint format, its state
 * naming the architecture (genotype and macro settings) and the input normalisation, its tensors every weight and
 * BN statistic by its state-dict name. Everything needed to rebuild the network without the run's config.
 * The latent binary weights are stored as the last evaluation used them (centred and clamped): evaluate or export
 * them as they are, binarizing with sign(W)·mean|W| and no further centring.
 */
export const TRAINED_MODEL_FILE = join('model', 'network.ckpt')

export interface TrainedModelInfo {
  /** 'cell' (absent in models saved before the baselines existed). */
  architecture?: 'cell'
  genotype: Genotype
  cells: number
  channels: number
  classes: number
  macro: Macro
  /** [height, width, channels] of the inputs it was trained on. */
  inputShape: [number, number, number]
  classNames: string[]
  /** Per-channel mean and std of [0, 1] pixels; inputs are (x/255 − mean) / std. */
  normalize: { mean: number[]; std: number[] }
  /** Test accuracy recorded at the end of training, when there was a test set. */
  testAccuracy?: number
}

/**
 * A trained baseline (issue 15): saved like a cell network, with its architecture named, so its weights are kept;
 * eval, export and predict rebuild cell networks only and refuse it with a message.
 */
export interface TrainedBaselineInfo extends Omit<TrainedModelInfo, 'architecture' | 'genotype'> {
  architecture: Exclude<TrainArchitecture, 'cell'>
  /** darts-v2-binary: the DARTS-space cell it binarized. */
  genotype?: DartsGenotype
}

export async function saveTrainedModel(
  runPath: string,
  net: Module,
  info: TrainedModelInfo | TrainedBaselineInfo
): Promise<string> {
  const path = join(runPath, TRAINED_MODEL_FILE)
  await mkdir(join(runPath, 'model'), { recursive: true })
  await writeCheckpoint(path, {
    state: info,
    tensors: await snapshotVariables([...net.namedParameters(), ...net.namedBuffers()])
  })
  return path
}

/** Rebuilds the trained network from a run folder (or a network.ckpt path) with its weights, in eval form. */
export async function loadTrainedModel(path: string): Promise<{ net: FinalNetwork; info: TrainedModelInfo }> {
  const file = path.endsWith('.ckpt') ? path : join(path, TRAINED_MODEL_FILE)
  const saved = await readCheckpoint<TrainedModelInfo | TrainedBaselineInfo>(file)
  const info = saved.state
  if (info.architecture !== undefined && info.architecture !== 'cell') {
    throw new Error(
      `${file} holds a trained ${info.architecture} baseline: export and predict take BNAS cell networks only ` +
        '(`bnas eval RUN` evaluates a baseline)'
    )
  }
  const genotype = assertGenotype(info.genotype, `${file} genotype`)
  const net = new FinalNetwork({
    genotype,
    cells: info.cells,
    channels: info.channels,
    classes: info.classes,
    macro: info.macro,
    inputChannels: info.inputShape[2],
    seed: 0
  })
  try {
    restoreVariables([...net.namedParameters(), ...net.namedBuffers()], saved.tensors, file)
  } catch (error) {
    net.dispose()
    throw error
  }
  return { net, info: { ...info, genotype } }
}

/**
 * Rebuilds the trained network of any architecture (a cell network or a baseline) with its weights, for evaluation.
 * Export and predict need a FinalNetwork: they use loadTrainedModel.
 */
export async function loadTrainedNetwork(
  path: string
): Promise<{ net: TrainNetwork; info: TrainedModelInfo | TrainedBaselineInfo }> {
  const file = path.endsWith('.ckpt') ? path : join(path, TRAINED_MODEL_FILE)
  const saved = await readCheckpoint<TrainedModelInfo | TrainedBaselineInfo>(file)
  const info = saved.state
  const net = buildTrainNetwork(
    {
      architecture: info.architecture ?? 'cell',
      genotype: info.genotype,
      cells: info.cells,
      channels: info.channels,
      macro: info.macro
    },
    { input: info.inputShape, classes: info.classes },
    { seed: 0 }
  )
  try {
    restoreVariables([...net.namedParameters(), ...net.namedBuffers()], saved.tensors, file)
  } catch (error) {
    net.dispose()
    throw error
  }
  return { net, info }
}
