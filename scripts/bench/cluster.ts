// The cluster's figures (issue 14): throughput of one sweep with 1 and with 2 workers on this machine, and the
// queue's own cost per job.
//
//   npx tsx scripts/bench/cluster.ts [--jobs 6] [--repeat 2] [--backend native] [--noop 200]   (--jobs 0: only the no-op)
//
// Starts its own redis-server (a free port, a temporary folder) and real `bnas worker` processes of the build
// (bin/bnas.js, so run `npm run build` first). Each sweep is --jobs tiny seeded searches on synthetic data; the time is
// from queuing to the last job done, workers already started and idle. 1 and 2 workers alternate --repeat times,
// since the machine is shared. The queue's cost per job is a no-op job's round trip (add, a worker takes it, the
// submitter sees it completed) with the same BullMQ settings, one at a time; and, per search job, the worker's time
// outside the engine's epochs (thread start, backend, dataset, store copies) from the jobs' own timestamps.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { QueueEvents, Worker, type ConnectionOptions } from 'bullmq'
import { CLUSTER_PREFIX, QUEUE_NAME, redisOptions } from '../../src/main/cluster/connection'
import { ClusterQueue, newClusterRunId } from '../../src/main/cluster/queue'
import { startRedis, waitFor } from '../../test/cluster/harness'

const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? process.argv[at + 1]! : fallback
}
const JOBS = Number(arg('jobs', '6'))
const REPEAT = Number(arg('repeat', '2'))
const BACKEND = arg('backend', 'native')
const NOOP = Number(arg('noop', '200'))
const root = join(import.meta.dirname, '..', '..')
const TINY = { dataset: 'synthetic:128?size=16&channels=1&classes=4', cells: 3, channels: 4, batchSize: 16, epochs: 1 }

const redis = await startRedis()
const base = mkdtempSync(join(tmpdir(), 'bnas-bench-cluster-'))
const store = join(base, 'store')
mkdirSync(store)
const queue = new ClusterQueue(redis.url)

function worker(name: string) {
  const child = spawn(
    process.execPath,
    [
      join(root, 'bin', 'bnas.js'),
      'worker',
      '--redis',
      redis.url,
      '--store',
      store,
      '--work',
      join(base, `work-${name}`),
      '--name',
      name,
      '--backend',
      BACKEND
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BNAS_NATIVE_THREADS: '1' } }
  )
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return {
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) =>
        child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM'))
      )
  }
}

async function sweep(workers: number, round: number): Promise<{ seconds: number; overheadMs: number[] }> {
  const started = Array.from({ length: workers }, (_, i) => worker(`bench-${workers}-${round}-${i}`))
  await waitFor(`${workers} workers`, async () => (await queue.workers()).length === workers, 60_000)
  const ids = Array.from({ length: JOBS }, () => newClusterRunId('search'))
  const t0 = performance.now()
  await queue.submit(ids.map((runId, i) => ({ kind: 'search', runId, config: { ...TINY, seed: i } })))
  const done = await queue.waitFor(ids, { everyMs: 100 })
  const seconds = (performance.now() - t0) / 1000
  const failed = done.filter((job) => job.state !== 'completed')
  if (failed.length > 0) throw new Error(`jobs failed: ${failed.map((job) => job.failedReason).join('; ')}`)
  // Worker time outside the engine's epochs, per job: processedOn → finishedOn minus the epochs' own seconds.
  const overheadMs: number[] = []
  for (const id of ids) {
    const job = (await queue.queue.getJob(id))!
    const epochs = readFileSync(join(store, 'runs', id, 'epochs.jsonl'), 'utf8')
      .trim()
      .split('\n')
    const engine = epochs.reduce((sum, line) => sum + (JSON.parse(line) as { seconds: number }).seconds, 0)
    overheadMs.push(job.finishedOn! - job.processedOn! - engine * 1000)
  }
  await Promise.all(started.map((w) => w.stop()))
  await waitFor('workers gone', async () => (await queue.workers()).length === 0, 30_000)
  return { seconds, overheadMs }
}

const median = (values: number[]): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

try {
  await queue.check()
  const one: number[] = []
  const two: number[] = []
  const overhead: number[] = []
  const loads: number[] = []
  for (let round = 0; JOBS > 0 && round < REPEAT; round++) {
    for (const workers of [1, 2]) {
      const load = loadavg()[0]!
      const result = await sweep(workers, round)
      ;(workers === 1 ? one : two).push(result.seconds)
      overhead.push(...result.overheadMs)
      // The 1-minute load average before the sweep: the machine is shared, and other work shows here.
      loads.push(load)
      console.log(
        `round ${round + 1}: ${JOBS} searches on ${workers} worker(s): ${result.seconds.toFixed(1)} s (load before: ${load.toFixed(1)})`
      )
    }
  }

  // A no-op job's round trip through the same queue, one at a time.
  const connection = redisOptions(redis.url) as ConnectionOptions
  const noop = new Worker('bench-noop', async () => 'ok', { connection, prefix: CLUSTER_PREFIX })
  const events = new QueueEvents('bench-noop', { connection, prefix: CLUSTER_PREFIX })
  await events.waitUntilReady()
  const { Queue } = await import('bullmq')
  const noopQueue = new Queue('bench-noop', { connection, prefix: CLUSTER_PREFIX })
  const trips: number[] = []
  for (let i = 0; i < NOOP; i++) {
    const t0 = performance.now()
    const job = await noopQueue.add('noop', { i })
    await job.waitUntilFinished(events)
    trips.push(performance.now() - t0)
  }
  await noop.close()
  await events.close()
  await noopQueue.obliterate({ force: true })
  await noopQueue.close()

  const result = {
    jobs: JOBS,
    repeat: REPEAT,
    backend: BACKEND,
    config: TINY,
    sweepSeconds: { oneWorker: one, twoWorkers: two },
    speedup: one.map((t, i) => t / two[i]!),
    medianSpeedup: median(one.map((t, i) => t / two[i]!)),
    loadBefore: loads,
    workerOverheadMsPerJob: { median: median(overhead), samples: overhead.length },
    noopRoundTripMs: {
      median: median(trips),
      mean: trips.reduce((a, b) => a + b, 0) / trips.length,
      samples: trips.length
    },
    queue: QUEUE_NAME
  }
  console.log(JSON.stringify(result, null, 2))
} finally {
  await queue.close()
  await redis.stop()
  rmSync(base, { recursive: true, force: true })
}
