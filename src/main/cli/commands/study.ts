import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { ResolvedStudy } from '../../../shared/study'
import { defaultRunsRoot } from '../../app/app-core'
import { initBackend } from '../../engine/backend'
import { BACKEND_OPTION_HELP } from '../../engine/backend'
import { ClusterQueue } from '../../cluster/queue'
import { FolderStore } from '../../cluster/store'
import { ClusterExecutor, LocalExecutor, type StudyExecutor } from '../../study/executor'
import { builtinStudyNames, loadBuiltinStudy, loadStudyFile } from '../../study/load'
import { buildStudyReport } from '../../study/report'
import { renderStudyHtml } from '../../study/report-html'
import { renderStudyMarkdown } from '../../study/report-markdown'
import { runStudy, type StudyProgress, type StudyReporter } from '../../study/runner'
import { JobControl } from '../../engine/jobs/control'
import { withBackend } from '../job-cli'
import { createReporter, type CliReporter } from '../reporter'

interface StudyOptions {
  builtin?: string
  runs?: string
  dataset?: string
  redis?: string
  store?: string
  check: boolean
  backend: string
  json: boolean
}

const runsHelp = 'the runs folder (default: BNAS_RUNS_DIR, else ~/.bnas-studio/runs, where the app looks)'

/**
 * `bnas study FILE | --builtin NAME`: every arm × seed of a study as ordinary runs, resumable by running it again;
 * `bnas study report NAME`: its report as JSON, a standalone HTML file, or markdown.
 */
export function registerStudy(program: Command): void {
  const study = program
    .command('study')
    .description('run a study (arms of searches and trainings with seeds) and compare them; again to resume it')
    .argument('[file]', 'a study file (JSON); or --builtin NAME')
    .option('--builtin <name>', 'a built-in study of resources/studies (diversity, zeroise, baselines)')
    .option('--runs <folder>', runsHelp)
    .option('--dataset <spec>', "run it on this dataset instead of the file's")
    .option('--redis <url>', 'run the arms on the cluster queue at this URL (see `bnas worker`); needs --store')
    .option('--store <folder>', "with --redis: the workers' store folder, as this machine reaches it")
    .option('--check', 'validate the study file and list its runs; run nothing', false)
    .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
    .option('--json', 'print JSON lines instead of progress bars', false)
    .action(async (file: string | undefined, options: StudyOptions) => {
      const resolved = await loadStudy(file, options)
      const runsRoot = resolve(options.runs ?? defaultRunsRoot())
      const out = createReporter(options.json)
      if (options.check) {
        out.result({
          study: resolved.name,
          runsRoot,
          arms: resolved.arms.map((arm) => ({ name: arm.name, seeds: arm.seeds.map((entry) => entry.seed) }))
        })
        return
      }
      if ((options.redis === undefined) !== (options.store === undefined))
        throw new Error('--redis and --store go together: the queue, and the store its workers write runs to')
      const control = new JobControl()
      const stop = (): void => {
        out.log('stopping the study after this step (the run writes a checkpoint; run the study again to resume)…')
        control.stop()
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      let queue: ClusterQueue | null = null
      try {
        let executor: StudyExecutor
        if (options.redis !== undefined) {
          queue = new ClusterQueue(options.redis)
          await queue.check()
          const store = new FolderStore(resolve(options.store!))
          await store.check()
          executor = new ClusterExecutor(queue, store, { shouldStop: () => control.shouldStop })
        } else {
          await withBackend(options.backend, out)
          executor = new LocalExecutor(control)
        }
        const outcome = await runStudy(resolved, {
          runsRoot,
          executor,
          reporter: studyReporter(options.json, out),
          shouldStop: () => control.shouldStop
        })
        out.result({
          study: resolved.name,
          status: outcome.status,
          started: outcome.started,
          resumed: outcome.resumed,
          skipped: outcome.skipped,
          failed: outcome.failed,
          report: `bnas study report ${resolved.name}${options.runs === undefined ? '' : ` --runs ${options.runs}`} --html ${resolved.name}.html`
        })
        if (outcome.status === 'incomplete') process.exitCode = 1
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        out.close()
        await queue?.close()
      }
    })

  study
    .command('report')
    .description("a study's report from its runs: JSON, a standalone HTML file (plots and every number), markdown")
    .argument('<name>', 'the study name')
    .option('--runs <folder>', runsHelp)
    .option('--html <file>', 'write the standalone HTML report here')
    .option('--markdown <file>', 'write the markdown summary (arms table, every number) here')
    .option('--command <text>', 'with --markdown: the command that produced the runs, quoted in the summary')
    .option('--json', 'print the report as JSON', false)
    .action(
      async (
        name: string,
        options: { runs?: string; html?: string; markdown?: string; command?: string; json: boolean },
        command: Command
      ) => {
        // `--runs` and `--json` are also the parent's options, which commander may have taken; either place counts.
        const parent = (command.parent?.opts() ?? {}) as { runs?: string; json?: boolean }
        const runs = options.runs ?? parent.runs
        const json = options.json || parent.json === true
        // The networks' costs are read by building them; the plain cpu backend does that without a native library.
        await initBackend('cpu')
        const report = await buildStudyReport(resolve(runs ?? defaultRunsRoot()), name)
        if (options.html !== undefined) await writeFile(resolve(options.html), await renderStudyHtml(report))
        if (options.markdown !== undefined)
          await writeFile(
            resolve(options.markdown),
            renderStudyMarkdown(report, options.command === undefined ? {} : { command: options.command })
          )
        if (json) process.stdout.write(JSON.stringify(report) + '\n')
        else {
          const written = [options.html, options.markdown].filter((path) => path !== undefined)
          process.stdout.write(
            `${report.name}: ${report.completedRuns} of ${report.totalRuns} runs completed` +
              (written.length > 0 ? `; wrote ${written.join(', ')}` : '') +
              '\n' +
              report.arms
                .map(
                  (arm) =>
                    `  ${arm.name}: ${arm.finalAccuracy === null ? 'no completed training' : `final test ${(arm.finalAccuracy.mean * 100).toFixed(2)} ± ${(arm.finalAccuracy.std * 100).toFixed(2)} %`}` +
                    (arm.searchAccuracy === null
                      ? ''
                      : `; search ${(arm.searchAccuracy.mean * 100).toFixed(2)} ± ${(arm.searchAccuracy.std * 100).toFixed(2)} %`)
                )
                .join('\n') +
              '\n'
          )
        }
      }
    )
}

async function loadStudy(file: string | undefined, options: StudyOptions): Promise<ResolvedStudy> {
  const overrides = options.dataset === undefined ? {} : { dataset: options.dataset }
  if (file !== undefined && options.builtin !== undefined) throw new Error('give a study file or --builtin, not both')
  if (options.builtin !== undefined) return loadBuiltinStudy(options.builtin, overrides)
  if (file === undefined)
    throw new Error(`give a study file, or --builtin NAME (${(await builtinStudyNames()).join(', ')})`)
  return loadStudyFile(resolve(file), overrides)
}

/** Each run announced on its own line ("[3/12] arm 'no-entropy' seed 2: search …"), then its own progress bar. */
function studyReporter(json: boolean, out: CliReporter): StudyReporter {
  const words = { start: 'starting', resume: 'resuming', skip: 'completed, skipped' }
  let current: CliReporter | null = null
  return {
    run: (p: StudyProgress) => {
      if (json) process.stdout.write(JSON.stringify({ event: 'study', ...p }) + '\n')
      else out.log(`[${p.index}/${p.total}] arm '${p.arm}' seed ${p.seed}: ${p.kind} ${p.runId} (${words[p.action]})`)
    },
    listener: () => {
      current?.close()
      current = createReporter(json)
      return current
    },
    done: () => current?.close(),
    failed: (p: StudyProgress, message: string) => {
      current?.close()
      if (json) process.stdout.write(JSON.stringify({ event: 'study-run-failed', runId: p.runId, message }) + '\n')
      else out.log(`[${p.index}/${p.total}] ${p.runId} failed: ${message} (the study goes on; run it again to retry)`)
    }
  }
}
