import { hostname } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { readFile, rm } from 'node:fs/promises'
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import { clusterJobSchema, type ClusterJob } from '../../shared/cluster'
import type { JobStatus } from '../../shared/jobs'
import type { JobResult } from '../engine/jobs/run-job'
import type { JobListener } from '../engine/jobs/search-job'
import { RunFolder } from '../runs/run-folder'
import {
  CLUSTER_PREFIX,
  CONTROL_CHANNEL,
  connect,
  QUEUE_NAME,
  redactUrl,
  redisOptions,
  WORKERS_KEY,
  type TlsFiles
} from './connection'
import { resolveJobDataset } from './dataset-access'
import { JobThreadPool, type JobThread } from './job-thread-host'
import { EventPublisher, parseControlMessage, readControl } from './events'
import { downloadRun, readRunIndex, runPrefix, RunUploader } from './run-sync'
import type { Store } from './store'

export interface ClusterWorkerOptions {
  url: string
  tls?: TlsFiles
  store: Store
  /** This machine's working copies of the runs it runs (the store holds the shared copy). */
  workDir: string
  /** Where the relative paths of job datasets are found on this machine. */
  datasetsRoot?: string
  concurrency?: number
  /** The engine backend this worker runs on, for the worker list. */
  backend: string
  /** What each job's engine thread asks for (default: `backend`). */
  backendPreference?: string
  name?: string
  /** BullMQ's lock: a job whose worker has not renewed it for this long is given to another worker. */
  lockMs?: number
  /** How often workers look for such stalled jobs. */
  stalledMs?: number
  /** How often a running job's folder is copied to the store (and after every run). */
  syncMs?: number
  log?: (message: string) => void
}

type Action = 'pause' | 'resume' | 'stop'

/** A job of this worker: its engine thread, and the steering that came before the thread was up. */
class RunningJob {
  thread: JobThread | null = null
  private readonly pending: Action[] = []
  /** Set when the lock was lost or the worker shuts down: the job is another worker's now, nothing more is stored. */
  handedOff = false

  constructor(readonly runId: string) {}

  control(action: Action): void {
    if (this.thread === null) this.pending.push(action)
    else this.thread.control(action)
  }

  attach(thread: JobThread): void {
    this.thread = thread
    for (const action of this.pending.splice(0)) thread.control(action)
  }
}

/** What a finished job returns to the queue (BullMQ keeps it as the job's return value). */
export interface ClusterJobResult {
  runId: string
  status: 'completed' | 'stopped'
  worker: string
  result: JobResult
}

/**
 * A headless worker: takes search and training jobs from the queue and runs them with the same engine and run-folder
 * format as local runs, copying the run folder to the store as it goes. A job whose worker dies (kill -9, power loss)
 * stalls; BullMQ gives it to another worker, which downloads the run and resumes from its last stored checkpoint.
 */
export class ClusterWorker {
  readonly name: string
  private worker: Worker | null = null
  private redis: Redis | null = null
  private subscriber: Redis | null = null
  private publisher: EventPublisher | null = null
  private heartbeat: NodeJS.Timeout | null = null
  private readonly running = new Map<string, RunningJob>()
  private readonly threads = new JobThreadPool()
  private readonly startedAt = new Date().toISOString()
  private readonly log: (message: string) => void

  constructor(private readonly options: ClusterWorkerOptions) {
    this.name = options.name ?? `${hostname()}-${process.pid}`
    this.log = options.log ?? (() => undefined)
  }

  async start(): Promise<void> {
    const { url, tls } = this.options
    this.redis = connect(url, tls)
    this.subscriber = connect(url, tls)
    this.publisher = new EventPublisher(this.redis, this.name)
    await this.subscriber.subscribe(CONTROL_CHANNEL)
    this.subscriber.on('message', (_channel: string, text: string) => {
      const message = parseControlMessage(text)
      const job = message === null ? undefined : this.running.get(message.runId)
      if (message === null || job === undefined) return
      this.apply(job, message.action)
    })
    const lockDuration = this.options.lockMs ?? 30_000
    this.worker = new Worker(QUEUE_NAME, (job, token) => this.process(job, token), {
      connection: redisOptions(url, tls) as ConnectionOptions,
      prefix: CLUSTER_PREFIX,
      concurrency: this.options.concurrency ?? 1,
      lockDuration,
      stalledInterval: this.options.stalledMs ?? Math.max(1000, lockDuration),
      // A job whose worker keeps dying is failed after a few hand-overs, not passed around for ever.
      maxStalledCount: 3,
      autorun: false
    })
    this.worker.on('error', (error) => this.log(`queue: ${error.message}`))
    this.worker.on('lockRenewalFailed', (ids: string[]) => {
      for (const id of ids) {
        const job = this.running.get(id)
        if (job === undefined) continue
        this.log(`lost the lock of ${id} (Redis unreachable too long?): stopping it here, another worker takes it over`)
        job.handedOff = true
        job.control('stop')
      }
    })
    await this.beat()
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), 2000)
    void this.worker.run()
    this.log(`worker ${this.name} waiting for jobs at ${redactUrl(url)} (store ${this.options.store.description})`)
  }

  /** Stops taking jobs; running jobs checkpoint, go back to the queue for another worker, and the worker exits. */
  async close(): Promise<void> {
    for (const job of this.running.values()) {
      job.handedOff = true
      job.control('stop')
    }
    if (this.heartbeat !== null) clearInterval(this.heartbeat)
    await this.worker?.close()
    await this.threads.close()
    await this.redis?.hdel(WORKERS_KEY, this.name).catch(() => undefined)
    this.subscriber?.disconnect()
    this.redis?.disconnect()
  }

  private async beat(): Promise<void> {
    await this.redis?.hset(
      WORKERS_KEY,
      this.name,
      JSON.stringify({
        name: this.name,
        host: hostname(),
        pid: process.pid,
        backend: this.options.backend,
        concurrency: this.options.concurrency ?? 1,
        startedAt: this.startedAt,
        lastSeen: new Date().toISOString(),
        running: [...this.running.keys()]
      })
    )
  }

  private apply(job: RunningJob, action: Action): void {
    this.log(`${job.runId}: ${action}`)
    job.control(action)
    if (action !== 'stop')
      void this.emitStatus(job.runId, action === 'pause' ? 'paused' : 'running').catch(() => undefined)
  }

  private folderOf(runId: string): string {
    const root = resolve(this.options.workDir)
    const folder = resolve(root, runId)
    if (!folder.startsWith(root + sep))
      throw new UnrecoverableError(`run id ${JSON.stringify(runId)} leaves the work folder`)
    return folder
  }

  private storedPath(runId: string): string {
    return `${this.options.store.description}/${runPrefix(runId)}`.replace(/\/$/, '')
  }

  private emitStatus(runId: string, status: JobStatus, message?: string): Promise<void> {
    return this.publisher!.publish(runId, 'job.status', {
      status,
      folder: this.storedPath(runId),
      ...(message === undefined ? {} : { message })
    })
  }

  private async process(job: Job, token: string | undefined): Promise<ClusterJobResult> {
    const parsed = clusterJobSchema.safeParse(job.data)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      // Retrying cannot mend a malformed payload: fail it at once, with the field named.
      throw new UnrecoverableError(`malformed job payload: ${issue.path.join('.') || 'payload'}: ${issue.message}`)
    }
    const spec = parsed.data
    const runId = spec.runId
    if (job.id !== runId)
      throw new UnrecoverableError(`malformed job payload: runId ${runId} is not the job id ${job.id}`)
    const folder = this.folderOf(runId)
    const entry = new RunningJob(runId)
    this.running.set(runId, entry)
    void this.beat().catch(() => undefined)
    const store = this.options.store
    const uploader = new RunUploader(store, runId, folder, (manifest) => ({
      ...manifest,
      config: { ...(manifest.config as object), dataset: spec.config.dataset },
      cluster: { worker: this.name, jobId: job.id, attempt: job.attemptsMade + 1 }
    }))
    let syncing: Promise<boolean> = Promise.resolve(false)
    /** Copies the run to the store; true when this copy reached it. */
    const sync = (): Promise<boolean> => {
      syncing = syncing.then(async () => {
        if (entry.handedOff) return false
        // Nothing to store before the engine made the run folder.
        if ((await readFile(join(folder, 'run.json')).catch(() => null)) === null) return false
        return uploader.upload().then(
          () => true,
          (error: Error) => {
            this.log(`${runId}: storing the run failed (${error.message}); trying again`)
            return false
          }
        )
      })
      return syncing
    }
    const timer = setInterval(() => void sync(), this.options.syncMs ?? 5000)
    try {
      const pending = await readControl(this.redis!, runId)
      if (pending !== null) entry.control(pending)
      const result = await this.runJob(spec, folder, entry, job)
      clearInterval(timer)
      if (entry.handedOff) return await this.handOff(job, token)
      if (!(await sync())) throw new Error(`the run could not be stored in ${store.description}; see the worker's log`)
      // The store holds the run now: this machine's working copy is not needed any more.
      await rm(folder, { recursive: true, force: true })
      await this.emitStatus(runId, result.status)
      return { runId, status: result.status, worker: this.name, result }
    } catch (error) {
      clearInterval(timer)
      if (error instanceof DelayedError) throw error
      if (entry.handedOff) return await this.handOff(job, token)
      await sync()
      const message = error instanceof Error ? error.message : String(error)
      await this.emitStatus(runId, 'failed', message).catch(() => undefined)
      throw error
    } finally {
      this.running.delete(runId)
      void this.beat().catch(() => undefined)
    }
  }

  /** The job goes back to the queue at once, for this or another worker, without counting as a failed attempt. */
  private async handOff(job: Job, token: string | undefined): Promise<never> {
    if (token !== undefined) await job.moveToDelayed(Date.now(), token).catch(() => undefined)
    throw new DelayedError()
  }

  private async runJob(spec: ClusterJob, folder: string, entry: RunningJob, job: Job): Promise<JobResult> {
    const runId = spec.runId
    const localDataset = resolveJobDataset(spec.config.dataset, this.options.datasetsRoot, this.name)
    const listener: JobListener = {
      progress: (record) => {
        void this.publisher!.publish(runId, 'job.progress', record).catch(() => undefined)
        void job
          .updateProgress({ step: record.step, totalSteps: record.totalSteps, worker: this.name })
          .catch(() => undefined)
      },
      epoch: (record) => void this.publisher!.publish(runId, 'job.epoch', record).catch(() => undefined),
      log: (message) => void this.publisher!.publish(runId, 'log', { level: 'info', message }).catch(() => undefined)
    }
    const store = this.options.store
    let stored = await readRunIndex(store, runId)
    if (stored !== null && !Object.keys(stored.files ?? {}).some((name) => name.endsWith('latest.ckpt'))) {
      // An earlier attempt reached the store before its first checkpoint (Redis restarted, a worker killed early):
      // nothing to resume from exactly, so the run starts again from its seed, and the stale copy goes.
      this.log(`${runId}: the stored copy has no checkpoint yet; starting again`)
      await store.removeAll(runPrefix(runId))
      stored = null
    }
    let resume = false
    if (stored !== null) {
      // Another worker (or an earlier attempt) started this run: continue it from its last stored checkpoint.
      await downloadRun(store, runId, folder)
      const run = await RunFolder.open(folder)
      const manifest = await run.readManifest<Record<string, unknown>>()
      if (manifest.status === 'completed') {
        this.log(`${runId}: already completed in the store`)
        return (
          JSON.parse(await readFile(join(folder, 'result.json'), 'utf8').catch(() => 'null')) ?? { status: 'completed' }
        )
      }
      await run.writeManifest({ ...manifest, config: { ...manifest.config, dataset: localDataset } })
      this.log(`${runId}: resuming from the store on ${this.name}`)
      resume = true
    } else {
      // A fresh start; a leftover local copy (of an attempt that never reached the store) is dropped.
      await rm(folder, { recursive: true, force: true })
      this.log(`${runId}: starting on ${this.name}`)
    }
    await this.emitStatus(runId, 'running')
    const thread = this.threads.run(
      {
        type: 'start',
        kind: spec.kind,
        folder,
        resume,
        config: spec.config,
        datasetSpec: spec.config.dataset,
        localDataset,
        backend: this.options.backendPreference ?? this.options.backend,
        worker: this.name
      },
      listener
    )
    entry.attach(thread)
    const result = await thread.result
    this.log(`${runId}: ${result.status}`)
    return result
  }
}
