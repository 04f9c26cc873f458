import { resolve } from 'node:path'
import type { Command } from 'commander'
import { isSearchPresetName, SEARCH_PRESETS, searchConfigSchema, type SearchConfigInput } from '../../../shared/jobs'
import { BACKEND_OPTION_HELP } from '../../engine/backend'
import { resumeRun, startSearchRun } from '../../engine/jobs/run-job'
import { parseNumber, runWithSignals, withBackend } from '../job-cli'
import { submitToCluster } from '../cluster-submit'
import { createReporter } from '../reporter'

/** Command-line flags of the numeric hyper-parameters, named as in the run config (BNAS-SPEC 5.1 defaults). */
const NUMERIC_OPTIONS: Array<[flag: string, key: keyof SearchConfigInput, help: string]> = [
  ['--cells <n>', 'cells', 'cells L of the supernet (paper: 8)'],
  ['--channels <n>', 'channels', 'initial channels C (paper: 16)'],
  ['--epochs <n>', 'epochs', 'epochs (paper: 50)'],
  ['--batch-size <n>', 'batchSize', 'batch size of both queues (paper: 64)'],
  ['--subset <n>', 'subset', 'use only this many train images (split in halves for w and α)'],
  ['--validation-subset <n>', 'validationSubset', 'images of the α half used for end-of-epoch validation'],
  ['--train-portion <x>', 'trainPortion', 'share of the train images that trains w (paper: 0.5)'],
  ['--weight-lr <x>', 'weightLr', 'SGD learning rate, cosine-annealed (paper: 0.025)'],
  ['--weight-lr-min <x>', 'weightLrMin', 'minimum of the cosine schedule (paper: 0.001)'],
  ['--momentum <x>', 'momentum', 'SGD momentum (paper: 0.9)'],
  ['--weight-decay <x>', 'weightDecay', 'SGD weight decay (paper: 3e-4)'],
  ['--arch-lr <x>', 'archLr', 'Adam learning rate of α (paper: 3e-4)'],
  ['--arch-beta1 <x>', 'archBeta1', 'Adam β1 of α (paper: 0.5)'],
  ['--arch-beta2 <x>', 'archBeta2', 'Adam β2 of α (paper: 0.999)'],
  ['--arch-weight-decay <x>', 'archWeightDecay', 'Adam weight decay of α (paper: 1e-3)'],
  ['--lambda <x>', 'lambda', 'λ of the entropy regularizer, 0 turns it off (paper: 1)'],
  ['--tau <x>', 'tau', 'τ of its annealing exp(−t/τ), in epochs (paper: 7.7)'],
  ['--gamma <x>', 'gamma', 'γ of the ImageNet-transfer genotype (paper: 3)'],
  ['--seed <n>', 'seed', 'seed of initialisation, split and batches (paper: 2)'],
  ['--checkpoint-every <n>', 'checkpointEvery', 'steps between checkpoints (also at every epoch end)'],
  ['--progress-every <n>', 'progressEvery', 'steps between progress records']
]

interface SearchOptions {
  dataset: string
  preset?: string
  out?: string
  queue?: string
  priority?: number
  json: boolean
  backend: string
  weightGradient?: string
  augment: boolean
  [key: string]: unknown
}

export function registerSearch(program: Command): void {
  const command = program
    .command('search')
    .description('run a BNAS architecture search; everything it learns goes to the run folder --out')
    .requiredOption(
      '--dataset <spec>',
      'dataset: cifar10:PATH, fashion-mnist[:PATH], mnist:PATH, folder:PATH, synthetic[:N]'
    )
    .option('--out <folder>', 'new run folder (must not exist or be empty); not with --queue')
    .option('--queue <url>', 'run it on the cluster instead: the Redis URL of the queue (see `bnas worker`)')
    .option('--priority <n>', 'with --queue: BullMQ priority, 1 is served first', parseNumber)
    .option('--preset <name>', `start from a preset: ${Object.keys(SEARCH_PRESETS).join(', ')}`)
    .option('--weight-gradient <mode>', "binary weights' gradient: xnor (the authors' transform) or ste")
    .option('--no-augment', 'no random crop and flip')
    .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
    .option('--json', 'print JSON lines (progress, epoch, log, result) instead of a progress bar', false)
  for (const [flag, , help] of NUMERIC_OPTIONS) command.option(flag, help, parseNumber)
  command.action(async (options: SearchOptions) => {
    const config = buildSearchConfig(options)
    if (options.queue !== undefined) return submitToCluster(options, { kind: 'search', config })
    if (options.out === undefined)
      throw new Error('give --out RUN (a new run folder), or --queue URL to run on the cluster')
    const reporter = createReporter(options.json)
    await withBackend(options.backend, reporter)
    const out = options.out
    await runWithSignals(reporter, (control) => startSearchRun(resolve(out), config, reporter, control))
  })
}

export function registerResume(program: Command): void {
  program
    .command('resume')
    .description('continue a stopped, failed or killed run from its last checkpoint')
    .argument('<run>', 'the run folder')
    .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
    .option('--json', 'print JSON lines instead of a progress bar', false)
    .action(async (run: string, options: { backend: string; json: boolean }) => {
      const reporter = createReporter(options.json)
      await withBackend(options.backend, reporter)
      await runWithSignals(reporter, async (control) => (await resumeRun(resolve(run), reporter, control)).result)
    })
}

/** Preset, then explicit flags, then validation: a bad value fails here with the field named, before any work. */
export function buildSearchConfig(options: SearchOptions) {
  if (options.preset !== undefined && !isSearchPresetName(options.preset)) {
    throw new Error(`unknown preset '${options.preset}'; presets: ${Object.keys(SEARCH_PRESETS).join(', ')}`)
  }
  const input: Record<string, unknown> = {
    ...(options.preset === undefined ? {} : SEARCH_PRESETS[options.preset]),
    dataset: options.dataset
  }
  for (const [, key] of NUMERIC_OPTIONS) if (options[key] !== undefined) input[key] = options[key]
  if (options.weightGradient !== undefined) input.weightGradient = options.weightGradient
  if (options.augment === false) input.augment = false
  const parsed = searchConfigSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(`invalid search settings: ${issue.path.join('.') || 'config'}: ${issue.message}`)
  }
  return parsed.data
}
