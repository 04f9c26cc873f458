import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { ClusterQueue } from '../../src/main/cluster/queue'
import { FolderStore } from '../../src/main/cluster/store'
import { ClusterExecutor } from '../../src/main/study/executor'
import { buildStudyReport } from '../../src/main/study/report'
import { runStudy, type StudyProgress } from '../../src/main/study/runner'
import { resolveStudy } from '../../src/shared/study'
import {
  haveRedis,
  startRedis,
  startWorker,
  TINY_SEARCH,
  type RedisProcess,
  type WorkerProcess
} from '../cluster/harness'

/** A study through the cluster's job path: a real redis-server, a real `bnas worker`, the runs copied back. */
let redis: RedisProcess
let worker: WorkerProcess
let base: string
let store: string

beforeAll(async () => {
  if (!haveRedis) return
  await initBackend('wasm')
  base = mkdtempSync(join(tmpdir(), 'bnas-study-cluster-'))
  store = join(base, 'store')
  mkdirSync(store)
  redis = await startRedis()
  worker = startWorker('w-study', redis.url, store)
})

afterAll(async () => {
  await worker?.kill()
  await redis?.stop()
  if (base) rmSync(base, { recursive: true, force: true })
})

describe.skipIf(!haveRedis)('a study on the cluster', () => {
  it('queues each run under its study run id, copies it back, and skips it the second time', async () => {
    const { dataset, ...search } = TINY_SEARCH
    const study = resolveStudy({
      name: 'cl',
      dataset,
      arms: [
        {
          name: 'searched',
          search,
          train: { genotype: 'from-search', cells: 3, channels: 4, batchSize: 8, epochs: 1, dropPath: 0 },
          seeds: [1]
        }
      ]
    })
    const runsRoot = join(base, 'runs')
    const queue = new ClusterQueue(redis.url)
    try {
      const seen: StudyProgress[] = []
      const run = () =>
        runStudy(study, {
          runsRoot,
          executor: new ClusterExecutor(queue, new FolderStore(store), { everyMs: 200 }),
          reporter: { run: (p) => seen.push(p), listener: () => ({ progress() {}, epoch() {}, log() {} }) }
        })
      const first = await run()
      expect(first).toMatchObject({ status: 'completed', started: 2 })
      for (const kind of ['search', 'train']) {
        const manifest = JSON.parse(readFileSync(join(runsRoot, `cl-searched-s1-${kind}`, 'run.json'), 'utf8'))
        expect(manifest.status).toBe('completed')
        expect((await queue.job(`cl-searched-s1-${kind}`))?.worker).toBe('w-study')
      }
      // The training got the search's cell, read from the copy the runner fetched back.
      const searched = JSON.parse(readFileSync(join(runsRoot, 'cl-searched-s1-search', 'result.json'), 'utf8'))
      const trained = JSON.parse(readFileSync(join(runsRoot, 'cl-searched-s1-train', 'run.json'), 'utf8'))
      expect(trained.config.genotype).toEqual(searched.genotype)
      const report = await buildStudyReport(runsRoot, 'cl')
      expect(report.arms[0]!.finalAccuracy?.n).toBe(1)

      const again = await run()
      expect(again).toMatchObject({ status: 'completed', started: 0, skipped: 2 })
    } finally {
      await queue.close()
    }
  })
})
