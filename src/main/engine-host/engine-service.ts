import type { EventPayloadOf, EventType, OperationName, ReplyOf, RequestOf } from '../../shared/contract'
import type { SearchConfig, TrainConfig } from '../../shared/jobs'
import { loadDataset, summarizeDataset } from '../datasets'
import { JobControl } from '../engine/jobs/control'
import { resumeRun, startSearchRun, startTrainRun, type JobResult } from '../engine/jobs/run-job'
import type { JobListener } from '../engine/jobs/search-job'
import { RunIndex } from '../runs/run-index'
import { exportRun } from '../export'
import { join } from 'node:path'
import { estimateSearch } from './search-estimate'
import { describeBackends } from '../engine/backend'
import { launchStudy } from '../study/app-study'
import { studyHandlers } from '../study/handlers'

/** The operations the engine worker answers; the rest (app info, genotype text) are answered by the main thread. */
export const ENGINE_OPERATIONS = [
  'datasets.inspect',
  'runs.list',
  'runs.get',
  'runs.delete',
  'search.start',
  'train.start',
  'runs.resume',
  'jobs.control',
  'export.run',
  'search.estimate',
  'backends.describe',
  'studies.list',
  'studies.report',
  'studies.start'
] as const
export type EngineOperation = (typeof ENGINE_OPERATIONS)[number]

export function isEngineOperation(op: OperationName): op is EngineOperation {
  return (ENGINE_OPERATIONS as readonly string[]).includes(op)
}

type Emit = <T extends EventType>(runId: string, type: T, payload: EventPayloadOf<T>) => void

interface ActiveJob {
  runId: string
  control: JobControl
  done: Promise<void>
  /** Set while the job is a study (issue 15): its name. */
  study?: string
}

/**
 * What runs inside the engine worker: datasets, the runs folder and the one job at a time that uses the CPU.
 * Jobs report through `emit`; a job's failure is an event and a run status, never an unhandled rejection.
 */
export class EngineService {
  private readonly runs: RunIndex
  private job: ActiveJob | null = null

  constructor(
    runsRoot: string,
    private readonly emit: Emit
  ) {
    this.runs = new RunIndex(runsRoot)
  }

  get runsRoot(): string {
    return this.runs.root
  }

  async handle<K extends EngineOperation>(op: K, payload: RequestOf<K>): Promise<ReplyOf<K>> {
    const handlers: { [Op in EngineOperation]: (request: RequestOf<Op>) => Promise<ReplyOf<Op>> } = {
      'datasets.inspect': async ({ spec, samples, perClass }) =>
        summarizeDataset(loadDataset(spec), {
          ...(samples === undefined ? {} : { maxSamples: samples }),
          ...(perClass === undefined ? {} : { samplesPerClass: perClass })
        }),
      // Here, where the engine's backend was started: what is loaded is known, and nothing loads twice.
      'backends.describe': async () => describeBackends(),
      'runs.list': async () => this.runs.list(this.activeIds()),
      'runs.get': async ({ runId }) => this.runs.detail(runId, this.activeIds()),
      'runs.delete': async ({ runId }) => {
        await this.runs.remove(runId, this.activeIds())
        return { deleted: runId }
      },
      'search.start': async ({ config }) => {
        this.assertIdle()
        const runId = await this.runs.newId('search')
        const path = this.runs.pathOf(runId)
        this.launch(runId, path, (listener, control) => startSearchRun(path, config as SearchConfig, listener, control))
        return { runId, path }
      },
      'train.start': async ({ config }) => {
        this.assertIdle()
        const runId = await this.runs.newId('train')
        const path = this.runs.pathOf(runId)
        this.launch(runId, path, (listener, control) => startTrainRun(path, config as TrainConfig, listener, control))
        return { runId, path }
      },
      'runs.resume': async ({ runId }) => {
        this.assertIdle()
        const path = this.runs.pathOf(runId)
        await this.runs.summary(runId) // a clear error now if it is not a run
        this.launch(runId, path, async (listener, control) => (await resumeRun(path, listener, control)).result)
        return { runId, path }
      },
      'export.run': async ({ runId, format }) => {
        const path = this.runs.pathOf(runId)
        if (this.activeIds().has(runId))
          throw new Error(`run ${runId} is still running: export it when it has finished`)
        // Exports stay inside the run's folder: the contract never writes anywhere a client names.
        const out = join(
          path,
          'exports',
          format === 'onnx' ? 'model.onnx' : format === 'packed' ? 'model.bnpk' : format
        )
        return exportRun(path, format, out)
      },
      'jobs.control': async ({ runId, action }) => {
        const job = this.job
        if (job === null || job.runId !== runId) throw new Error(`run ${runId} is not running here; resume it first`)
        if (action === 'pause') job.control.pause()
        if (action === 'resume') job.control.resume()
        if (action === 'stop') job.control.stop()
        const status = action === 'stop' ? 'stopping' : action === 'pause' ? 'paused' : 'running'
        if (action !== 'stop')
          this.emit(runId, 'job.status', {
            status: status === 'paused' ? 'paused' : 'running',
            folder: this.runs.pathOf(runId)
          })
        return { runId, status }
      },
      'search.estimate': async ({ config }) => estimateSearch(config as SearchConfig, this.job !== null),
      ...studyHandlers(this.runs.root, {
        activeStudy: () => this.job?.study ?? null,
        start: (study) => {
          this.assertIdle()
          // The study holds the engine's one job slot; its current run is what pause/stop and the Runs page see.
          const launched = launchStudy(this.runs.root, study, this.emit)
          const job: ActiveJob = {
            get runId() {
              return launched.current()
            },
            control: launched.control,
            study: study.name,
            done: launched.done.then(
              () => undefined,
              () => undefined
            )
          }
          this.job = job
          void job.done.finally(() => {
            if (this.job === job) this.job = null
          })
        }
      })
    }
    return handlers[op](payload as never) as Promise<ReplyOf<K>>
  }

  /** Resolves when the running job (if any) has ended; for orderly shutdown and tests. */
  async idle(): Promise<void> {
    await this.job?.done
  }

  private activeIds(): Set<string> {
    return new Set(this.job === null ? [] : [this.job.runId])
  }

  private assertIdle(): void {
    if (this.job !== null)
      throw new Error(`run ${this.job.runId} is still running: pause or stop it before starting another`)
  }

  private launch(
    runId: string,
    folder: string,
    run: (listener: JobListener, control: JobControl) => Promise<JobResult>
  ): void {
    const control = new JobControl()
    const listener: JobListener = {
      progress: (record) => this.emit(runId, 'job.progress', record),
      epoch: (record) => this.emit(runId, 'job.epoch', record),
      log: (message) => this.emit(runId, 'log', { level: 'info', message })
    }
    this.emit(runId, 'job.status', { status: 'running', folder })
    const done = run(listener, control)
      .then((result) => this.emit(runId, 'job.status', { status: result.status, folder }))
      .catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error)
        this.emit(runId, 'log', { level: 'error', message })
        this.emit(runId, 'job.status', { status: 'failed', message, folder })
      })
      .finally(() => {
        if (this.job?.runId === runId) this.job = null
      })
    this.job = { runId, control, done }
  }
}
