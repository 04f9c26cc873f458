import type { SearchConfig, TrainConfig } from '../../shared/jobs'
import type { JobControl } from '../engine/jobs/control'
import { resumeRun, startSearchRun, startTrainRun } from '../engine/jobs/run-job'
import type { JobListener } from '../engine/jobs/search-job'
import { ClusterQueue } from '../cluster/queue'
import { downloadRun } from '../cluster/run-sync'
import type { Store } from '../cluster/store'

/** One run of a study, as the runner hands it to whatever executes it. */
export type StudyJob =
  | { kind: 'search'; runId: string; path: string; config: SearchConfig; resume: boolean }
  | { kind: 'train'; runId: string; path: string; config: TrainConfig; resume: boolean }

/** Runs (or resumes) one run to its end; resolves with 'completed' or 'stopped', rejects when the run failed. */
export interface StudyExecutor {
  run(job: StudyJob, listener: JobListener): Promise<'completed' | 'stopped'>
}

/** In this process, through the same entry points as `bnas search|train|resume`. */
export class LocalExecutor implements StudyExecutor {
  constructor(private readonly control: JobControl) {}

  async run(job: StudyJob, listener: JobListener): Promise<'completed' | 'stopped'> {
    if (job.resume) return (await resumeRun(job.path, listener, this.control)).result.status
    const result =
      job.kind === 'search'
        ? await startSearchRun(job.path, job.config, listener, this.control)
        : await startTrainRun(job.path, job.config, listener, this.control)
    return result.status
  }
}

/**
 * On the cluster: the run is queued under its study run id (a worker resumes it from the store if an earlier attempt
 * got that far), waited for, and its folder copied back from the store into the local runs folder, so the report and
 * the Runs page read it as a local run.
 */
export class ClusterExecutor implements StudyExecutor {
  constructor(
    private readonly queue: ClusterQueue,
    private readonly store: Store,
    private readonly options: { everyMs?: number; shouldStop?: () => boolean } = {}
  ) {}

  async run(job: StudyJob, listener: JobListener): Promise<'completed' | 'stopped'> {
    const queued = await this.queue.job(job.runId)
    if (queued !== null && ['failed', 'stopped', 'unknown'].includes(queued.state)) {
      // An earlier attempt ended without completing: take it off the queue so the run id can be queued again; the
      // worker that takes the new job continues from the stored checkpoint.
      await (await this.queue.queue.getJob(job.runId))?.remove()
    }
    if (queued === null || ['failed', 'stopped', 'unknown'].includes(queued.state)) {
      await this.queue.submit([{ kind: job.kind, runId: job.runId, config: job.config } as never])
      listener.log(`${job.runId}: queued on ${this.queue.url.replace(/\/\/[^@]*@/, '//')}`)
    }
    let lastStep = -1
    for (;;) {
      const summary = await this.queue.job(job.runId)
      if (summary === null) throw new Error(`${job.runId} disappeared from the queue (removed by someone else?)`)
      if (summary.step !== undefined && summary.totalSteps !== undefined && summary.step !== lastStep) {
        lastStep = summary.step
        listener.log(
          `${job.runId}: step ${summary.step}/${summary.totalSteps}${summary.worker ? ` on ${summary.worker}` : ''}`
        )
      }
      if (summary.state === 'failed')
        throw new Error(`${job.runId} failed on the cluster: ${summary.failedReason ?? 'no reason given'}`)
      if (summary.state === 'completed' || summary.state === 'stopped') {
        if (!(await downloadRun(this.store, job.runId, job.path)))
          throw new Error(`${job.runId} finished but is not in the store ${this.store.description}`)
        return summary.state
      }
      if (this.options.shouldStop?.() === true) {
        await this.queue.control(job.runId, 'stop').catch(() => undefined)
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.everyMs ?? 1000))
    }
  }
}
