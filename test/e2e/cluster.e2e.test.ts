import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { haveRedis, startRedis, startWorker, type RedisProcess, type WorkerProcess } from '../cluster/harness'
import {
  artifactsDir,
  launchChromium,
  screenshotWhole,
  startBrowserMode,
  watchErrors,
  type RunningApp
} from './browser-app'

/**
 * The app's cluster pages in Chromium against a real redis-server and a real `bnas worker`: connect, see the worker,
 * queue a sweep from the form, watch its jobs finish with their worker and speed, open a remote run in the Monitor,
 * and find "run on the cluster" on the Search page.
 */
let redis: RedisProcess
let worker: WorkerProcess
let app: RunningApp
let browser: Browser
let page: Page
let errors: string[]
let base: string
let store: string
const shots = artifactsDir('e2e-cluster')
const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim()

beforeAll(async () => {
  if (!haveRedis) return
  base = mkdtempSync(join(tmpdir(), 'bnas-e2e-cluster-'))
  store = join(base, 'store')
  mkdirSync(store)
  redis = await startRedis()
  worker = startWorker('w-e2e', redis.url, store, ['--lock-ms', '30000'])
  app = await startBrowserMode([], { BNAS_RUNS_DIR: join(base, 'runs') })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  errors = watchErrors(page)
  console.log(`screenshots: ${shots}`)
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  await worker?.kill()
  await redis?.stop()
  if (base) rmSync(base, { recursive: true, force: true })
})

describe.skipIf(!haveRedis)('the cluster pages, in Chromium against Redis and a real worker', () => {
  it('says what is wrong with a bad URL, then connects and lists the worker', async () => {
    await page.goto(app.url)
    await page.locator('[data-test=nav-cluster]').click()
    await page.waitForURL('**/#/cluster')
    await page.locator('[data-test=cluster-url]').fill('http://127.0.0.1:1')
    await page.locator('[data-test=cluster-store]').fill(store)
    await page.locator('[data-test=cluster-connect]').click()
    await expect.poll(() => text('[data-test=cluster-error]')).toContain('starts with redis:// or rediss://')
    await page.locator('[data-test=cluster-url]').fill(redis.url)
    await page.locator('[data-test=cluster-connect]').click()
    await expect.poll(() => page.locator('[data-test=cluster-counts]').count()).toBe(1)
    await expect.poll(() => page.locator('[data-test=cluster-worker-w-e2e]').count(), { timeout: 60_000 }).toBe(1)
    await screenshotWhole(page, join(shots, '1-connected.png'))
  })

  it('queues a sweep from the form; its jobs finish on the worker with their speed', async () => {
    await page.locator('[data-test=sweep-preset]').selectOption('defaults')
    await page.locator('[data-test=sweep-dataset]').fill('synthetic:64?size=16&channels=1&classes=4')
    await page.locator('[data-test=sweep-fixed]').fill('cells=3\nchannels=2\nbatch-size=8\nepochs=1\nprogress-every=1')
    await page.locator('[data-test=sweep-grid]').fill('seed=1,2')
    expect(await text('[data-test=sweep-queue]')).toBe('Queue 2 searches')
    await page.locator('[data-test=sweep-queue]').click()
    await expect.poll(() => text('[data-test=sweep-notice]')).toMatch(/^Queued 2 searches \(sweep-/)
    const rows = page.locator('[data-test=cluster-jobs] tbody tr')
    await expect.poll(() => rows.count()).toBe(2)
    await expect
      .poll(() => page.locator('[data-test=cluster-jobs] tbody tr[data-state=completed]').count(), { timeout: 150_000 })
      .toBe(2)
    expect(await text('[data-test=cluster-job-worker]')).toBe('w-e2e')
    expect(Number(await text('[data-test=cluster-job-speed]'))).toBeGreaterThan(0)
    expect(await text('[data-test=cluster-completed]')).toBe('2')
    await screenshotWhole(page, join(shots, '2-sweep-done.png'))
  })

  it('opens a remote run in the Monitor as if it were local, with its worker', async () => {
    const runId = (await page.locator('[data-test=cluster-jobs] tbody tr code').first().textContent())!.trim()
    await page.locator(`[data-test=cluster-monitor-${runId}]`).click()
    await page.waitForURL(`**/#/runs/${runId}`)
    await expect.poll(() => text('[data-test=monitor-run-id]')).toBe(runId)
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 30_000 }).toBe('completed')
    await expect.poll(() => text('[data-test=monitor-worker]')).toBe('w-e2e')
    await screenshotWhole(page, join(shots, '3-remote-monitor.png'))
    // The fetched run is in the Runs list beside local ones, and the cluster's jobs below.
    await page.locator('[data-test=nav-runs]').click()
    await expect.poll(() => page.locator(`[data-test=run-row-${runId}]`).count()).toBe(1)
    await expect.poll(() => page.locator('[data-test=runs-cluster] [data-test=cluster-jobs] tbody tr').count()).toBe(2)
  })

  it('offers "run on the cluster" on the Search page', async () => {
    await page.locator('[data-test=nav-search]').click()
    await page.waitForURL('**/#/search')
    const choice = page.locator('[data-test=run-on-cluster]')
    await expect.poll(() => choice.isEnabled()).toBe(true)
    await choice.check()
    expect(await text('[data-test=search-launch]')).toBe('▶ Queue search')
    await screenshotWhole(page, join(shots, '4-search-on-cluster.png'))
    expect(errors).toEqual([])
  })
})
