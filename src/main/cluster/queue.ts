import { randomBytes } from 'node:crypto'
import { Queue, type ConnectionOptions, type Job, type JobsOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import {
  clusterJobSchema,
  clusterWorkerSchema,
  jobPrioritySchema,
  type ClusterJob,
  type ClusterJobInput,
  type ClusterJobSummary,
  type ClusterOverview,
  type ClusterWorker
} from '../../shared/cluster'
import { parseDatasetSpec } from '../../shared/datasets'
import {
  CLUSTER_PREFIX,
  checkReachable,
  connect,
  QUEUE_NAME,
  redactUrl,
  redisOptions,
  WORKERS_KEY,
  type TlsFiles
} from './connection'
import { readLatest, sendControl, type ControlAction, type LatestState } from './events'

export interface SubmitOptions {
  /** BullMQ priority: 1 is served first; omitted = before any prioritised job, in order. */
  priority?: number
  /** Tries before a job is marked failed (each failure is retried after `backoffMs`). */
  attempts?: number
  backoffMs?: number
}

/** A worker is listed while its heartbeat (every 2 s) is fresher than this. */
const WORKER_TIMEOUT_MS = 10_000

/** A new run id for a cluster job: kind, time and a random suffix, so machines submitting at once never collide. */
export function newClusterRunId(kind: 'search' | 'train', now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `${kind}-${stamp}-${randomBytes(3).toString('hex')}`
}

/** Checks a job the way a worker will, before it is queued: the payload's schema, and a dataset path workers accept. */
export function validateClusterJob(job: unknown): ClusterJob {
  const parsed = clusterJobSchema.safeParse(job)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(`invalid cluster job: ${issue.path.join('.') || 'job'}: ${issue.message}`)
  }
  const dataset = parseDatasetSpec(parsed.data.config.dataset)
  if (
    'path' in dataset &&
    dataset.path !== undefined &&
    (dataset.path.startsWith('/') || dataset.path.split(/[\\/]/).includes('..') || /^[A-Za-z]:/.test(dataset.path))
  )
    throw new Error(
      `invalid cluster job: dataset '${parsed.data.config.dataset}': name the dataset relative to the workers' datasets folder (their --datasets DIR), e.g. cifar10:cifar-10-batches-bin`
    )
  return parsed.data
}

/** The submitting side of the cluster: adds jobs, lists them with their workers, steers them. */
export class ClusterQueue {
  readonly queue: Queue
  readonly redis: Redis
  readonly url: string

  constructor(url: string, tls: TlsFiles = {}) {
    this.url = url
    this.queue = new Queue(QUEUE_NAME, {
      connection: redisOptions(url, tls) as ConnectionOptions,
      prefix: CLUSTER_PREFIX
    })
    this.queue.on('error', () => undefined) // reported by the calls that fail; not an unhandled 'error' event
    this.redis = connect(url, tls)
    this.redis.on('error', () => undefined)
  }

  async check(ms = 5000): Promise<void> {
    await checkReachable(this.redis, this.url, ms)
  }

  /** Queues jobs after validating each; refuses a run id already on the queue (BullMQ would silently keep the old). */
  async submit(jobs: ClusterJobInput[], options: SubmitOptions = {}): Promise<ClusterJob[]> {
    const checked = jobs.map((job) => validateClusterJob(job))
    if (options.priority !== undefined) {
      const priority = jobPrioritySchema.safeParse(options.priority)
      if (!priority.success)
        throw new Error(`invalid priority ${options.priority}: a whole number from 0 to 2097152 (1 = first)`)
    }
    const ids = new Set<string>()
    for (const job of checked) {
      if (ids.has(job.runId)) throw new Error(`run id ${job.runId} appears twice in the submission`)
      ids.add(job.runId)
      if ((await this.queue.getJob(job.runId)) !== undefined)
        throw new Error(`run id ${job.runId} is already on the queue at ${redactUrl(this.url)}: choose another`)
    }
    const opts: JobsOptions = {
      attempts: options.attempts ?? 3,
      backoff: { type: 'fixed', delay: options.backoffMs ?? 2000 },
      removeOnComplete: false,
      removeOnFail: false,
      ...(options.priority === undefined || options.priority === 0 ? {} : { priority: options.priority })
    }
    await this.queue.addBulk(checked.map((job) => ({ name: job.kind, data: job, opts: { ...opts, jobId: job.runId } })))
    return checked
  }

  async workers(): Promise<ClusterWorker[]> {
    const entries = await this.redis.hgetall(WORKERS_KEY)
    const now = Date.now()
    const workers: ClusterWorker[] = []
    for (const text of Object.values(entries)) {
      const parsed = clusterWorkerSchema.safeParse(JSON.parse(text))
      if (parsed.success && now - Date.parse(parsed.data.lastSeen) < WORKER_TIMEOUT_MS) workers.push(parsed.data)
    }
    return workers.sort((a, b) => a.name.localeCompare(b.name))
  }

  /** `state` read before `job` was fetched: a job that ends in between then shows its end (and failure reason). */
  async summary(job: Job, latest?: LatestState, knownState?: string): Promise<ClusterJobSummary> {
    const data = job.data as Partial<ClusterJob>
    const state = knownState ?? (await job.getState())
    const paused = (await this.redis.get(`${CLUSTER_PREFIX}:control:${job.id}`)) === 'pause'
    return {
      runId: String(job.id),
      kind: data.kind === 'train' ? 'train' : 'search',
      state:
        state === 'completed' && (job.returnvalue as { status?: string } | null)?.status === 'stopped'
          ? 'stopped'
          : ((['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'paused'] as const).find(
              (s) => s === state
            ) ?? 'unknown'),
      ...(data.sweep === undefined ? {} : { sweep: data.sweep }),
      dataset: data.config?.dataset ?? '',
      priority: job.opts.priority ?? 0,
      attempts: job.attemptsMade,
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      ...(latest?.worker === undefined ? {} : { worker: latest.worker }),
      ...(latest?.imagesPerSecond === undefined ? {} : { imagesPerSecond: latest.imagesPerSecond }),
      ...(latest?.step === undefined ? {} : { step: latest.step }),
      ...(latest?.totalSteps === undefined ? {} : { totalSteps: latest.totalSteps }),
      paused,
      createdAt: new Date(job.timestamp).toISOString(),
      ...(job.finishedOn === undefined ? {} : { finishedAt: new Date(job.finishedOn).toISOString() })
    }
  }

  /** Everything the app's cluster page shows: counts, live workers, the newest jobs (at most `limit`). */
  async overview(limit = 200): Promise<ClusterOverview> {
    const counts = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'completed', 'failed', 'delayed')
    const jobs = await this.queue.getJobs(
      ['active', 'waiting', 'prioritized', 'delayed', 'failed', 'completed'],
      0,
      limit - 1
    )
    const summaries = await Promise.all(
      jobs
        .filter((job): job is Job => job !== undefined && job !== null)
        .map(async (job) => this.summary(job, await readLatest(this.redis, String(job.id))))
    )
    return {
      url: redactUrl(this.url),
      connected: true,
      counts: {
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        active: counts.active ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
        delayed: counts.delayed ?? 0
      },
      workers: await this.workers(),
      jobs: summaries.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    }
  }

  async job(runId: string): Promise<ClusterJobSummary | null> {
    const state = await this.queue.getJobState(runId)
    const job = await this.queue.getJob(runId)
    if (job === undefined) return null
    return this.summary(job, await readLatest(this.redis, runId), state)
  }

  /**
   * Pause, resume or stop a job. A job still waiting is simply taken off the queue by stop; a running one is told
   * through Redis and checkpoints on its worker.
   */
  async control(runId: string, action: ControlAction): Promise<ClusterJobSummary['state']> {
    const job = await this.queue.getJob(runId)
    if (job === undefined) throw new Error(`no job ${runId} on the queue at ${redactUrl(this.url)}`)
    const state = await job.getState()
    if (state === 'completed' || state === 'failed')
      throw new Error(`job ${runId} has already ${state === 'failed' ? 'failed' : 'finished'}`)
    if (action === 'stop' && state !== 'active') {
      await job.remove()
      return 'unknown'
    }
    await sendControl(this.redis, runId, action)
    return (await job.getState()) as ClusterJobSummary['state']
  }

  /** Resolves when every one of `runIds` has completed or failed (polling every `everyMs`). */
  async waitFor(runIds: string[], { everyMs = 500, timeoutMs = Infinity } = {}): Promise<ClusterJobSummary[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const summaries = await Promise.all(runIds.map((id) => this.job(id)))
      if (summaries.every((s) => s !== null && ['completed', 'failed', 'stopped'].includes(s.state)))
        return summaries as ClusterJobSummary[]
      if (Date.now() > deadline) throw new Error(`jobs not finished within ${timeoutMs / 1000} s`)
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
  }

  async close(): Promise<void> {
    await this.queue.close()
    this.redis.disconnect()
  }
}
