import { resolve } from 'node:path'
import type { Command } from 'commander'
import { isTrainPresetName, TRAIN_PRESETS, trainConfigSchema, type TrainConfigInput } from '../../../shared/jobs'
import { BatchLoader, loadDataset, testSplit } from '../../datasets'
import { BACKEND_OPTION_HELP } from '../../engine/backend'
import { evaluate } from '../../engine/jobs/evaluation'
import { startTrainRun } from '../../engine/jobs/run-job'
import { loadTrainedNetwork } from '../../engine/jobs/trained-model'
import { RunFolder } from '../../runs/run-folder'
import { parseNumber, runWithSignals, withBackend } from '../job-cli'
import { submitToCluster } from '../cluster-submit'
import { createReporter } from '../reporter'
import { loadDartsGenotype, loadGenotype } from './summary'

const NUMERIC_OPTIONS: Array<[flag: string, key: keyof TrainConfigInput, help: string]> = [
  ['--cells <n>', 'cells', 'cells L (BNAS-A: 20)'],
  ['--channels <n>', 'channels', 'initial channels C (BNAS-A: 36)'],
  ['--epochs <n>', 'epochs', 'epochs (BNAS-A: 600)'],
  ['--batch-size <n>', 'batchSize', 'batch size (BNAS-A: 256)'],
  ['--lr <x>', 'lr', 'peak learning rate (BNAS-A: 0.05)'],
  ['--momentum <x>', 'momentum', 'SGD momentum (0.9; the one-cycle schedule cycles it)'],
  ['--weight-decay <x>', 'weightDecay', 'SGD weight decay (BNAS-A: 3e-6)'],
  ['--drop-path <x>', 'dropPath', 'final drop-path probability, reached linearly (BNAS-A: 0.2)'],
  ['--label-smoothing <x>', 'labelSmoothing', 'label smoothing ε (ImageNet: 0.1)'],
  ['--grad-clip <x>', 'gradClip', 'global gradient-norm clip, 0 = off (ImageNet: 5)'],
  ['--cutout <n>', 'cutout', 'cutout square side in pixels, 0 = off'],
  ['--subset <n>', 'subset', 'train on only this many images'],
  ['--test-subset <n>', 'testSubset', 'evaluate on only this many test images'],
  ['--seed <n>', 'seed', 'seed of initialisation, order and augmentation'],
  ['--checkpoint-every <n>', 'checkpointEvery', 'steps between checkpoints (also at every epoch end)'],
  ['--progress-every <n>', 'progressEvery', 'steps between progress records']
]

interface TrainOptions {
  genotype?: string
  architecture?: string
  dataset: string
  out?: string
  queue?: string
  priority?: number
  preset?: string
  macro?: string
  schedule?: string
  weightGradient?: string
  augment: boolean
  backend: string
  json: boolean
  [key: string]: unknown
}

export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .description(
      "train the final binary network of a genotype from scratch; the trained model goes to the run folder's model/"
    )
    .option(
      '--genotype <name|file|run>',
      'a published cell (latest_cell_zeroise, latest_cell), a genotype file, or a search run folder; needed by ' +
        'architecture cell, optional for darts-v2-binary (a DARTS genotype file; default DARTS_V2)'
    )
    .option(
      '--architecture <name>',
      `cell (the genotype's BNAS network, default), binary-resnet18 (Bi-Real-style baseline, width --channels) or ` +
        'darts-v2-binary (DARTS V2 binarized, same --cells/--channels as a cell network)'
    )
    .requiredOption(
      '--dataset <spec>',
      'dataset: cifar10:PATH, fashion-mnist[:PATH], mnist:PATH, folder:PATH, synthetic[:N]'
    )
    .option('--out <folder>', 'new run folder (must not exist or be empty); not with --queue')
    .option('--queue <url>', 'run it on the cluster instead: the Redis URL of the queue (see `bnas worker`)')
    .option('--priority <n>', 'with --queue: BullMQ priority, 1 is served first', parseNumber)
    .option('--preset <name>', `start from a preset: ${Object.keys(TRAIN_PRESETS).join(', ')}`)
    .option('--macro <name>', 'cifar (BNAS-A) or imagenet stem and head')
    .option('--schedule <name>', 'one-cycle (CIFAR, spec 5.2), cosine-restarts (ImageNet, spec 5.3) or cosine')
    .option('--weight-gradient <mode>', "binary weights' gradient: xnor (the authors' transform) or ste")
    .option('--no-augment', 'no random crop and flip')
    .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
    .option('--json', 'print JSON lines instead of a progress bar', false)
  for (const [flag, , help] of NUMERIC_OPTIONS) command.option(flag, help, parseNumber)
  command.action(async (options: TrainOptions) => {
    const genotype = options.genotype === undefined ? undefined : await loadTrainGenotype(options)
    if (options.preset !== undefined && !isTrainPresetName(options.preset)) {
      throw new Error(`unknown preset '${options.preset}'; presets: ${Object.keys(TRAIN_PRESETS).join(', ')}`)
    }
    const input: Record<string, unknown> = {
      ...(options.preset === undefined ? {} : TRAIN_PRESETS[options.preset]),
      dataset: options.dataset,
      ...(genotype === undefined ? {} : { genotype, genotypeSource: options.genotype }),
      ...(options.architecture === undefined ? {} : { architecture: options.architecture })
    }
    for (const [, key] of NUMERIC_OPTIONS) if (options[key] !== undefined) input[key] = options[key]
    for (const key of ['macro', 'schedule', 'weightGradient'] as const)
      if (options[key] !== undefined) input[key] = options[key]
    if (options.augment === false) input.augment = false
    const parsed = trainConfigSchema.safeParse(input)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw new Error(`invalid training settings: ${issue.path.join('.') || 'config'}: ${issue.message}`)
    }
    if (options.queue !== undefined) return submitToCluster(options, { kind: 'train', config: parsed.data })
    if (options.out === undefined)
      throw new Error('give --out RUN (a new run folder), or --queue URL to run on the cluster')
    const reporter = createReporter(options.json)
    await withBackend(options.backend, reporter)
    const out = options.out
    await runWithSignals(reporter, (control) => startTrainRun(resolve(out), parsed.data, reporter, control))
  })
}

/**
 * The genotype --genotype names: a BNAS cell for architecture cell; for darts-v2-binary a DARTS-space genotype (a file
 * or the published DARTS_V2 name), which the BNAS loader would refuse.
 */
async function loadTrainGenotype(options: TrainOptions): Promise<object> {
  const source = options.genotype!
  return options.architecture === 'darts-v2-binary' ? loadDartsGenotype(source) : loadGenotype(source)
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description("evaluate a trained run's network on a dataset's test split (by default the run's own test split)")
    .argument('<run>', 'a training run folder')
    .option('--dataset <spec>', "another dataset to evaluate on (same input shape and classes); default: the run's")
    .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
    .option('--json', 'print the result as JSON', false)
    .action(async (run: string, options: { dataset?: string; backend: string; json: boolean }) => {
      const reporter = createReporter(options.json)
      await withBackend(options.backend, reporter)
      const folder = await RunFolder.open(resolve(run))
      const manifest = await folder.readManifest<{
        dataset: string
        seed?: number
        testSubset?: number
        batchSize?: number
      }>()
      if (manifest.kind !== 'train')
        throw new Error(`${folder.path} is a ${manifest.kind} run: only training runs hold a trained network`)
      const { net, info } = await loadTrainedNetwork(folder.path)
      try {
        const spec = options.dataset ?? manifest.config.dataset
        const dataset = loadDataset(spec)
        const [height, width, channels] = info.inputShape
        if (
          dataset.shape.height !== height ||
          dataset.shape.width !== width ||
          dataset.shape.channels !== channels ||
          dataset.classes.length !== info.classes
        ) {
          throw new Error(
            `${spec} has ${dataset.shape.height}×${dataset.shape.width}×${dataset.shape.channels} images in ${dataset.classes.length} classes; the network takes ${height}×${width}×${channels} in ${info.classes}`
          )
        }
        // The run's own test split unless another dataset is named: the same images the run recorded its accuracy on.
        const test = testSplit(
          dataset,
          options.dataset === undefined ? { seed: manifest.config.seed ?? 0, subset: manifest.config.testSubset } : {}
        )
        const loader = new BatchLoader(test, {
          batchSize: manifest.config.batchSize ?? 64,
          shuffle: false,
          normalize: info.normalize
        })
        const result = await evaluate(net, loader)
        reporter.result({
          dataset: spec,
          images: test.count,
          accuracy: result.accuracy,
          loss: result.loss,
          recordedAccuracy: info.testAccuracy ?? null
        })
      } finally {
        net.dispose()
      }
    })
}
