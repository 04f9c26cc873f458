import { stat } from 'node:fs/promises'
import type { EventPayloadOf, EventType } from '../../shared/contract'
import type { ClusterOverview, SweepGrid } from '../../shared/cluster'
import { RunIndex } from '../runs/run-index'
import { connect, redactUrl } from './connection'
import { EventReader, type ControlAction } from './events'
import { ClusterQueue, newClusterRunId } from './queue'
import { downloadRun } from './run-sync'
import { FolderStore } from './store'
import { expandGrid } from './sweep'

type Emit = <T extends EventType>(runId: string, type: T, payload: EventPayloadOf<T>) => void

const disconnected = (message?: string): ClusterOverview => ({
  url: '',
  connected: false,
  ...(message === undefined ? {} : { message }),
  counts: { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 },
  workers: [],
  jobs: []
})

/**
 * The app's side of the cluster: one connection to the queue and the store, the workers' events relayed onto the
 * app's event hub (so the Monitor shows a remote run exactly as a local one), and remote runs fetched into the local
 * runs folder on request.
 */
export class ClusterClient {
  private queue: ClusterQueue | null = null
  private reader: EventReader | null = null
  private store: FolderStore | null = null

  constructor(
    private readonly runsRoot: string,
    private readonly emit: Emit
  ) {}

  get connected(): boolean {
    return this.queue !== null
  }

  async connect(url: string, storePath: string): Promise<ClusterOverview> {
    const info = await stat(storePath).catch(() => null)
    if (info === null || !info.isDirectory())
      throw new Error(
        `store folder ${storePath} does not exist here: give the folder the workers store runs in (their --store)`
      )
    const queue = new ClusterQueue(url)
    try {
      await queue.check()
    } catch (error) {
      await queue.close()
      throw error
    }
    await this.disconnect()
    this.queue = queue
    this.store = new FolderStore(storePath)
    const redis = connect(url)
    redis.on('error', () => undefined)
    this.reader = new EventReader(redis, (event) => this.emit(event.runId, event.type, event.payload))
    void this.reader.run()
    return this.overview()
  }

  async disconnect(): Promise<void> {
    this.reader?.stop()
    this.reader = null
    await this.queue?.close()
    this.queue = null
    this.store = null
  }

  async overview(): Promise<ClusterOverview> {
    if (this.queue === null) return disconnected()
    try {
      return await this.queue.overview()
    } catch (error) {
      return {
        ...disconnected(`${redactUrl(this.queue.url)}: ${(error as Error).message}`),
        url: redactUrl(this.queue.url)
      }
    }
  }

  private need(): ClusterQueue {
    if (this.queue === null)
      throw new Error('the app is not connected to a cluster: set its Redis URL on the Cluster page')
    return this.queue
  }

  async submit(kind: 'search' | 'train', config: unknown, priority?: number): Promise<string> {
    const runId = newClusterRunId(kind)
    await this.need().submit([{ kind, runId, config } as never], priority === undefined ? {} : { priority })
    return runId
  }

  async sweep(
    kind: 'search' | 'train',
    base: Record<string, unknown>,
    grid: SweepGrid,
    priority?: number,
    name?: string
  ) {
    const sweep = name ?? newClusterRunId(kind).replace(/^(search|train)/, 'sweep')
    const jobs = expandGrid(base, grid).map((config) => ({ kind, runId: newClusterRunId(kind), config, sweep }))
    await this.need().submit(jobs as never, priority === undefined ? {} : { priority })
    return { sweep, runIds: jobs.map((job) => job.runId) }
  }

  /** Whether a run is a job of the connected queue (so pause/resume/stop go to its worker). */
  async has(runId: string): Promise<boolean> {
    return this.queue !== null && (await this.queue.queue.getJob(runId)) !== undefined
  }

  async control(runId: string, action: ControlAction) {
    return { runId, state: await this.need().control(runId, action) }
  }

  /** Copies the run from the store into the local runs folder (replacing an older copy of it). */
  async open(runId: string): Promise<{ runId: string; path: string }> {
    this.need()
    const path = new RunIndex(this.runsRoot).pathOf(runId)
    if (!(await downloadRun(this.store!, runId, path)))
      throw new Error(
        `run ${runId} is not in the store ${this.store!.description} yet: it starts when a worker takes it`
      )
    return { runId, path }
  }
}
