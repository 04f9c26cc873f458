import type { Command } from 'commander'
import { sweepGridSchema } from '../../../shared/cluster'
import { isSearchPresetName, isTrainPresetName, SEARCH_PRESETS, TRAIN_PRESETS } from '../../../shared/jobs'
import { ClusterQueue, newClusterRunId } from '../../cluster/queue'
import { expandGrid, parseGridArgument } from '../../cluster/sweep'
import { parseNumber } from '../job-cli'
import { loadGenotype } from './summary'

interface SweepOptions {
  redis: string
  kind: string
  dataset: string
  preset?: string
  genotype?: string
  grid: string[]
  set: string[]
  priority?: number
  name?: string
  wait: boolean
  json: boolean
}

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/**
 * `bnas sweep`: a grid of hyper-parameters (or seeds) expanded into one cluster job per combination. Every config is
 * validated before anything is queued, so a typo queues nothing.
 */
export function registerSweep(program: Command): void {
  program
    .command('sweep')
    .description('queue one search (or training) per combination of the --grid values on the cluster')
    .requiredOption('--redis <url>', 'the queue: redis://[user:password@]host:port[/db] or rediss://')
    .requiredOption('--dataset <spec>', "dataset spec; paths are relative to the workers' --datasets folder")
    .option('--kind <kind>', 'search or train', 'search')
    .option('--preset <name>', 'start every job from a preset')
    .option('--genotype <name|file|run>', 'train sweeps: the genotype to train')
    .option(
      '--grid <name=v1,v2,...>',
      'values of one hyper-parameter (repeat for a grid), e.g. seed=1,2,3 lambda=0,1',
      collect,
      []
    )
    .option('--set <name=value>', 'a fixed hyper-parameter for every job (repeatable), e.g. epochs=2', collect, [])
    .option('--priority <n>', 'BullMQ priority of the jobs: 1 is served first', parseNumber)
    .option('--name <name>', 'a name for the sweep (default: sweep-<time>)')
    .option('--wait', 'wait until every job has finished and print their results', false)
    .option('--json', 'print JSON', false)
    .action(async (options: SweepOptions) => {
      const jobs = await buildSweep(options)
      const queue = new ClusterQueue(options.redis)
      try {
        await queue.check()
        const started = Date.now()
        await queue.submit(jobs, options.priority === undefined ? {} : { priority: options.priority })
        const ids = jobs.map((job) => job.runId)
        if (!options.wait) {
          process.stdout.write(
            options.json
              ? JSON.stringify({ sweep: jobs[0]!.sweep, runIds: ids }) + '\n'
              : `queued ${ids.length} jobs of ${jobs[0]!.sweep}:\n${ids.join('\n')}\n`
          )
          return
        }
        const done = await queue.waitFor(ids)
        const seconds = (Date.now() - started) / 1000
        const failed = done.filter((job) => job.state === 'failed')
        if (options.json) process.stdout.write(JSON.stringify({ sweep: jobs[0]!.sweep, seconds, jobs: done }) + '\n')
        else {
          for (const job of done)
            process.stdout.write(
              `${job.runId}  ${job.state}${job.worker ? ` on ${job.worker}` : ''}${job.failedReason ? `: ${job.failedReason}` : ''}\n`
            )
          process.stdout.write(
            `${done.length - failed.length} of ${done.length} completed in ${seconds.toFixed(1)} s\n`
          )
        }
        if (failed.length > 0) process.exitCode = 1
      } finally {
        await queue.close()
      }
    })
}

const parseSetting = (text: string): [string, unknown] => {
  const [name, values] = parseGridArgument(text)
  if (values.length !== 1) throw new Error(`--set takes one value: ${text}`)
  return [name, values[0]]
}

export async function buildSweep(options: SweepOptions) {
  if (options.kind !== 'search' && options.kind !== 'train')
    throw new Error(`--kind must be search or train, got '${options.kind}'`)
  const grid = sweepGridSchema.safeParse(Object.fromEntries(options.grid.map(parseGridArgument)))
  if (!grid.success) throw new Error(`--grid: ${grid.error.issues[0]?.message ?? 'give name=values'}`)
  const presets: Record<string, object> = options.kind === 'search' ? SEARCH_PRESETS : TRAIN_PRESETS
  if (
    options.preset !== undefined &&
    !(options.kind === 'search' ? isSearchPresetName(options.preset) : isTrainPresetName(options.preset))
  )
    throw new Error(`unknown ${options.kind} preset '${options.preset}'; presets: ${Object.keys(presets).join(', ')}`)
  const base: Record<string, unknown> = {
    ...(options.preset === undefined ? {} : presets[options.preset]),
    ...Object.fromEntries(options.set.map(parseSetting)),
    dataset: options.dataset
  }
  if (options.kind === 'train') {
    if (options.genotype === undefined) throw new Error('a train sweep needs --genotype')
    base.genotype = await loadGenotype(options.genotype)
    base.genotypeSource = options.genotype
  }
  const sweep = options.name ?? newClusterRunId(options.kind).replace(/^(search|train)/, 'sweep')
  return expandGrid(base, grid.data).map((config) => ({
    kind: options.kind as 'search',
    runId: newClusterRunId(options.kind as 'search'),
    config: config as never,
    sweep
  }))
}
