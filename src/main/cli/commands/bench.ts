import type { Command } from 'commander'
import { benchmarkBatches } from '../../datasets'
import {
  benchSearchStep,
  benchTrainStep,
  type StepBenchOptions,
  type StepBenchResult
} from '../../engine/bench/step-bench'
import { BACKEND_OPTION_HELP, initBackend, type BackendPreference } from '../../engine/backend'
import { parseInputShape } from './summary'

interface StepFlags {
  cells: string
  channels: string
  batch: string
  input: string
  classes: string
  warmup: string
  steps: string
  backend: string
  genotype?: string
  json: boolean
}

/**
 * `bnas bench`: the project's own measurements. Benchmarks report figures; tests check correctness. Every figure
 * comes with the backend it ran on, and the kernel profile says where the time goes.
 */
export function registerBench(program: Command): Command {
  const bench = program
    .command('bench')
    .description('measure the engine: search and training steps (and, with export, inference)')
  const common = (command: Command, defaults: { cells: string; channels: string }): Command =>
    command
      .option('--cells <n>', 'cells L', defaults.cells)
      .option('--channels <n>', 'initial channels C', defaults.channels)
      .option('--batch <n>', 'batch size', '32')
      .option('--input <HxWxC>', 'input shape', '32x32x3')
      .option('--classes <n>', 'classes', '10')
      .option('--warmup <n>', 'untimed steps first', '1')
      .option('--steps <n>', 'timed steps (the median is reported)', '3')
      .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
      .option('--json', 'print JSON', false)
  common(
    bench
      .command('search-step')
      .description('one full BNAS search step: α step on a validation batch plus weight step on a train batch'),
    {
      cells: '5',
      channels: '8'
    }
  ).action(async (flags: StepFlags) => report(flags, benchSearchStep))
  common(bench.command('train-step').description("one training step of a genotype's final network"), {
    cells: '20',
    channels: '36'
  })
    .option('--genotype <name>', 'published genotype', 'latest_cell_zeroise')
    .action(async (flags: StepFlags) => report(flags, benchTrainStep))
  return bench
}

function positive(text: string, flag: string, min = 1): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < min) throw new Error(`${flag} must be an integer ≥ ${min} (got '${text}')`)
  return value
}

async function report(flags: StepFlags, run: (options: StepBenchOptions) => Promise<StepBenchResult>): Promise<void> {
  const options: StepBenchOptions = {
    cells: positive(flags.cells, '--cells', 3),
    channels: positive(flags.channels, '--channels'),
    batch: positive(flags.batch, '--batch'),
    input: parseInputShape(flags.input),
    classes: positive(flags.classes, '--classes', 2),
    warmup: positive(flags.warmup, '--warmup', 0),
    steps: positive(flags.steps, '--steps'),
    ...(flags.genotype === undefined ? {} : { genotype: flags.genotype })
  }
  const backend = await initBackend(flags.backend as BackendPreference)
  const result = await run(options)
  // The data pipeline at the same shape, so a reader sees whether batches could ever be the bottleneck.
  const [height, width, channels] = options.input
  const data = benchmarkBatches({ batchSize: options.batch, height, width, channels, seconds: 0.5 })
  const out = {
    ...result,
    backendDetail: backend.detail,
    ...(backend.caveat === undefined ? {} : { caveat: backend.caveat }),
    dataBatchesPerSecond: data.batchesPerSecond
  }
  if (flags.json) {
    process.stdout.write(JSON.stringify(out) + '\n')
    return
  }
  const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`
  const lines = [
    `${result.kind} on ${result.backend} (${backend.detail})`,
    ...(backend.caveat === undefined ? [] : [`  NOTE         ${backend.caveat}`]),
    `  network      ${options.cells} cells, C = ${options.channels}, ${result.parameters.toLocaleString('en')} parameters`,
    `  batch        ${options.batch} × ${options.input.join('×')}, ${options.classes} classes`,
    `  time         ${result.msPerStep.toFixed(1)} ms per step (median of ${result.stepsMs.length}: ${result.stepsMs.map((ms) => ms.toFixed(0)).join(', ')})`,
    `  cpu time     ${result.cpuMsPerStep.toFixed(1)} ms per step (this process, all threads; less sensitive to other load)`,
    // The two inputs of a ratio against PyTorch (scripts/bench/search_step_torch.py prints the same two figures).
    `  per step     ${result.msPerStep.toFixed(1)} ms, ${mb(result.stepPeakRssBytes)} peak resident while stepping` +
      (result.stepPeakMeasured
        ? ` (VmHWM; +${mb(result.stepAddedBytes)} over the built network)`
        : ' (lifetime peak: no VmHWM here)'),
    `  memory       ${mb(result.peakTensorBytes)} peak in tensors, ${mb(result.peakRssBytes)} peak resident over the process's life`,
    `  data         ${data.batchesPerSecond.toFixed(0)} batches/s from the batch loader at this shape`,
    '  profile (one step):',
    ...result.profile
      .slice(0, 12)
      .map(
        (k) =>
          `    ${k.kernel.padEnd(28)} ${k.ms.toFixed(1).padStart(9)} ms ${(k.share * 100).toFixed(1).padStart(5)}%  ×${k.calls}`
      )
  ]
  process.stdout.write(lines.join('\n') + '\n')
}
