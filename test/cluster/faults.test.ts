import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest'
import { CLUSTER_PREFIX, QUEUE_NAME, redisOptions } from '../../src/main/cluster/connection'
import { readLatest } from '../../src/main/cluster/events'
import { ClusterQueue } from '../../src/main/cluster/queue'
import { downloadRun } from '../../src/main/cluster/run-sync'
import { FolderStore } from '../../src/main/cluster/store'
import { decodeCheckpoint } from '../../src/main/runs/checkpoint-file'
import { PUBLISHED_GENOTYPES } from '../../src/shared/genotype'
import {
  haveRedis,
  startRedis,
  startWorker,
  TINY_SEARCH,
  waitFor,
  type RedisProcess,
  type WorkerProcess
} from './harness'

/**
 * The cluster end to end below the UI: a real redis-server (AOF on), real `bnas worker` processes, tiny seeded
 * searches on synthetic data. One Redis and one store for the whole file; the tests run in order.
 */
let redis: RedisProcess
let base: string
let store: FolderStore
let queue: ClusterQueue
const workers: WorkerProcess[] = []

const search = (runId: string, extra: Record<string, unknown> = {}, sweep?: string) => ({
  kind: 'search' as const,
  runId,
  config: { ...TINY_SEARCH, ...extra },
  ...(sweep === undefined ? {} : { sweep })
})

async function storedResult(runId: string): Promise<{ genotype: unknown }> {
  return JSON.parse(Buffer.from((await store.get(`runs/${runId}/result.json`))!).toString('utf8'))
}

function lastEpoch(folder: string): { alphaNormal: number[][]; alphaReduce: number[][]; genotype: unknown } {
  const lines = readFileSync(join(folder, 'epochs.jsonl'), 'utf8').trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!)
}

beforeAll(async () => {
  if (!haveRedis) return
  redis = await startRedis({ aof: true })
  base = mkdtempSync(join(tmpdir(), 'bnas-cluster-'))
  store = new FolderStore(join(base, 'store'))
  await import('node:fs/promises').then((fs) => fs.mkdir(store.root))
  queue = new ClusterQueue(redis.url)
  workers.push(startWorker('w1', redis.url, store.root), startWorker('w2', redis.url, store.root))
  await waitFor('two workers', async () => (await queue.workers()).length === 2)
})

// A failing test shows what the workers said.
beforeEach(() => onTestFailed(() => console.log(workers.map((w) => `--- ${w.name}\n${w.output()}`).join('\n'))))

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.kill()))
  await queue?.close()
  await redis?.stop()
  if (base !== undefined) rmSync(base, { recursive: true, force: true })
})

describe.skipIf(!haveRedis)('a sweep on two workers', () => {
  it('splits the jobs between them; a job failing 3 times is failed with its reason, the rest goes on', async () => {
    const ids = ['sweep-a-1', 'sweep-a-2', 'sweep-a-3']
    await queue.submit(
      [
        search(ids[0]!, { seed: 1 }, 'sweep-a'),
        // A dataset no worker has: each attempt fails at once, naming the dataset and the worker.
        search('sweep-a-missing', { dataset: 'cifar10:no-such-data' }, 'sweep-a'),
        ...ids.slice(1).map((id, i) => search(id, { seed: i + 2 }, 'sweep-a'))
      ],
      { backoffMs: 100 }
    )
    const done = await queue.waitFor([...ids, 'sweep-a-missing'])
    const byId = new Map(done.map((job) => [job.runId, job]))
    for (const id of ids) expect(byId.get(id)?.state, id).toBe('completed')
    const missing = byId.get('sweep-a-missing')!
    expect(missing.state).toBe('failed')
    expect(missing.attempts).toBe(3)
    expect(missing.failedReason).toMatch(
      /worker w[12] lacks dataset 'cifar10:no-such-data': it was started without --datasets DIR/
    )
    // Both workers took part, and each run is in the store with its genotype and its worker.
    const ranOn = new Set<string>()
    for (const id of ids) {
      const manifest = JSON.parse(Buffer.from((await store.get(`runs/${id}/run.json`))!).toString('utf8'))
      expect(manifest.status).toBe('completed')
      expect(manifest.config.dataset).toBe(TINY_SEARCH.dataset)
      ranOn.add(manifest.cluster.worker)
      expect((await storedResult(id)).genotype).toBeTruthy()
    }
    expect([...ranOn].sort()).toEqual(['w1', 'w2'])
    // The live state the app lists: the worker and its speed.
    const overview = await queue.overview()
    const listed = overview.jobs.find((job) => job.runId === ids[0])!
    expect(listed.worker).toMatch(/^w[12]$/)
    expect(listed.imagesPerSecond).toBeGreaterThan(0)
    expect(overview.counts.failed).toBe(1)
  })

  it('a stored copy from before the first checkpoint (Redis restarted early) is started again, not refused', async () => {
    // What an attempt cut off before its first checkpoint leaves in the store: progress, no checkpoint.
    const index = {
      runId: 'early-cut',
      updatedAt: new Date().toISOString(),
      files: { 'metrics.jsonl': { sha256: '0', bytes: 1 } }
    }
    await store.put('runs/early-cut/metrics.jsonl', '{}\n')
    await store.put('runs/early-cut/files.json', JSON.stringify(index))
    await queue.submit([search('early-cut')])
    const [done] = await queue.waitFor(['early-cut'])
    expect(done.state, done.failedReason).toBe('completed')
    const stored = JSON.parse(Buffer.from((await store.get('runs/early-cut/files.json'))!).toString('utf8'))
    expect(Object.keys(stored.files)).toContain('checkpoints/latest.ckpt')
  }, 60_000)

  it('rejects a malformed payload at once with a clear error', async () => {
    const raw = new Queue(QUEUE_NAME, { connection: redisOptions(redis.url) as never, prefix: CLUSTER_PREFIX })
    try {
      await raw.add(
        'search',
        { kind: 'search', runId: 'bad-1', config: { dataset: 'synthetic', cells: 'many' } },
        { jobId: 'bad-1', attempts: 3 }
      )
      await raw.add(
        'search',
        { kind: 'search', runId: '../../etc', config: TINY_SEARCH },
        { jobId: 'bad-2', attempts: 3 }
      )
      const [bad1, bad2] = await queue.waitFor(['bad-1', 'bad-2'])
      expect(bad1!.state).toBe('failed')
      expect(bad1!.failedReason).toBe('malformed job payload: config.cells: cells must be a number')
      expect(bad2!.failedReason).toMatch(/^malformed job payload: runId: a run id is a folder name/)
      // Not retried: a payload cannot mend itself.
      expect((await raw.getJob('bad-1'))!.attemptsStarted).toBe(1)
    } finally {
      await raw.close()
    }
    expect(await store.list('runs/')).not.toContain(expect.stringContaining('etc'))
  })
})

describe.skipIf(!haveRedis)('steering', () => {
  it('pause, resume and stop reach the worker: it waits, goes on, then checkpoints and ends stopped', async () => {
    await queue.submit([search('steered', { epochs: 5 })])
    await waitFor('progress', async () => ((await queue.job('steered'))?.step ?? 0) >= 1)
    await queue.control('steered', 'pause')
    // Paused: the step count stands still for a second.
    let last = -1
    let steady = 0
    const pausedAt = await waitFor('a paused run', async () => {
      const summary = (await queue.job('steered'))!
      steady = summary.step === last ? steady + 1 : 0
      last = summary.step ?? -1
      return summary.paused && steady >= 20 ? last : null
    })
    await queue.control('steered', 'resume')
    await waitFor('steps after the resume', async () => ((await queue.job('steered'))?.step ?? 0) > pausedAt)
    expect(await queue.control('steered', 'stop')).toBe('active')
    const [done] = await queue.waitFor(['steered'])
    expect(done!.state).toBe('stopped')
    const manifest = JSON.parse(Buffer.from((await store.get('runs/steered/run.json'))!).toString('utf8'))
    expect(manifest.status).toBe('stopped')
    expect(await store.get('runs/steered/checkpoints/latest.ckpt')).not.toBeNull()
    await expect(queue.control('steered', 'pause')).rejects.toThrow(/has already finished/)
  })
})

describe.skipIf(!haveRedis)('faults', () => {
  it('kill -9 of a worker mid-search: another worker resumes from the stored checkpoint, same genotype', async () => {
    const config = { seed: 7, epochs: 2 }
    await queue.submit([search('whole', config)])
    await queue.waitFor(['whole'])
    await queue.submit([search('victim', config)])
    // Pause it mid-search (pause reaches the worker), let its last checkpoint reach the store, then kill -9 its worker.
    await waitFor('progress', async () => ((await queue.job('victim'))?.step ?? 0) >= 2)
    await queue.control('victim', 'pause')
    let step = -1
    let steady = 0
    await waitFor('a paused run with its checkpoint stored', async () => {
      const bytes = await store.get('runs/victim/checkpoints/latest.ckpt')
      const now = bytes === null ? -1 : decodeCheckpoint<{ step: number }>(bytes).state.step
      steady = now === step ? steady + 1 : 0
      step = now
      return step >= 2 && steady >= 20 // unchanged for a second
    })
    const latest = (await readLatest(queue.redis, 'victim'))!
    expect(latest.status).toBe('paused')
    const victim = workers.find((worker) => worker.name === latest.worker)!
    await victim.kill('SIGKILL')
    await queue.control('victim', 'resume')
    const survivor = workers.find((worker) => worker !== victim)!
    // A fresh worker stands in for the dead one, for the tests after this.
    workers.splice(workers.indexOf(victim), 1, startWorker(`${victim.name}b`, redis.url, store.root))

    const [done] = await queue.waitFor(['victim'])
    expect(done!.state).toBe('completed')
    // A stall is not a failed attempt (BullMQ counts the one that completed, at most).
    expect(done!.attempts).toBeLessThanOrEqual(1)
    const manifest = JSON.parse(Buffer.from((await store.get('runs/victim/run.json'))!).toString('utf8'))
    expect(manifest.cluster.worker).not.toBe(victim.name)
    expect(survivor.output() + workers.map((w) => w.output()).join('')).toContain('victim: resuming from the store')
    const wholeCopy = join(base, 'copy-whole')
    const victimCopy = join(base, 'copy-victim')
    await downloadRun(store, 'whole', wholeCopy)
    await downloadRun(store, 'victim', victimCopy)
    expect(readFileSync(join(victimCopy, 'log.txt'), 'utf8')).toMatch(
      new RegExp(`resumed at epoch \\d, step ${step} of 8`)
    )
    const a = lastEpoch(wholeCopy)
    const b = lastEpoch(victimCopy)
    expect(b.genotype).toEqual(a.genotype)
    expect((await storedResult('victim')).genotype).toEqual((await storedResult('whole')).genotype)
    a.alphaNormal.flat().forEach((value, i) => expect(b.alphaNormal.flat()[i]).toBeCloseTo(value, 6))
    a.alphaReduce.flat().forEach((value, i) => expect(b.alphaReduce.flat()[i]).toBeCloseTo(value, 6))
  })

  it('Redis killed and restarted mid-sweep (AOF on) loses no job; a training job stores its model', async () => {
    await waitFor('two workers', async () => (await queue.workers()).length === 2)
    const ids = ['restart-1', 'restart-2']
    await queue.submit([
      ...ids.map((id, i) => search(id, { seed: 10 + i }, 'sweep-restart')),
      {
        kind: 'train',
        runId: 'restart-train',
        sweep: 'sweep-restart',
        config: {
          dataset: TINY_SEARCH.dataset,
          genotype: PUBLISHED_GENOTYPES.latest_cell_zeroise.genotype,
          genotypeSource: 'latest_cell_zeroise',
          cells: 3,
          channels: 2,
          epochs: 1,
          batchSize: 8,
          dropPath: 0,
          progressEvery: 1
        }
      }
    ])
    await waitFor('a job running', async () => (await queue.overview()).counts.active > 0)
    await redis.restart(1500)
    const done = await queue.waitFor([...ids, 'restart-train'])
    for (const job of done) expect(job.state, `${job.runId}: ${job.failedReason}`).toBe('completed')
    const trained = JSON.parse(Buffer.from((await store.get('runs/restart-train/run.json'))!).toString('utf8'))
    expect(trained).toMatchObject({ kind: 'train', status: 'completed' })
    expect((await store.list('runs/restart-train/')).some((key) => key.startsWith('runs/restart-train/model/'))).toBe(
      true
    )
    for (const id of ids) expect((await storedResult(id)).genotype).toBeTruthy()
  })
})
