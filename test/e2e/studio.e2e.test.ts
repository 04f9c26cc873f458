import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import {
  artifactsDir,
  launchChromium,
  projectRoot,
  screenshotWhole,
  startBrowserMode,
  watchErrors,
  type RunningApp
} from './browser-app'

/**
 * The whole GUI against the real engine in browser mode: a tiny synthetic dataset and a tiny supernet, so a search of
 * three epochs and a training of one take well under a minute each on two CPU cores. The tests run in order and share
 * one server, one runs folder and one page, as a user's session would.
 */
const DATASET = 'synthetic:128?size=16&channels=1&classes=4'

let app: RunningApp
let browser: Browser
let page: Page
let errors: string[]
let runsDir: string
let eldFile: string
let searchRunId = ''
let trainRunId = ''
const searchWindow = { start: 0, end: 0 }
const shots = artifactsDir('e2e-studio')
const shot = (name: string, whole = false) =>
  whole ? screenshotWhole(page, join(shots, `${name}.png`)) : page.screenshot({ path: join(shots, `${name}.png`) })
const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim()

async function setField(key: string, value: string): Promise<void> {
  await page.locator(`[data-test=field-${key}]`).fill(value)
}

beforeAll(async () => {
  runsDir = mkdtempSync(join(tmpdir(), 'bnas-e2e-runs-'))
  eldFile = join(runsDir, '..', `${runsDir.split('/').pop()}-eld.jsonl`)
  const probe = pathToFileURL(join(projectRoot, 'test', 'e2e', 'event-loop-probe.mjs')).href
  // wasm: the fastest backend for these tiny networks on this machine (the native one pays per-kernel overheads).
  app = await startBrowserMode(['--backend', 'wasm'], {
    BNAS_RUNS_DIR: runsDir,
    BNAS_ELD_FILE: eldFile,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${probe}`.trim()
  })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  errors = watchErrors(page)
  console.log(`screenshots: ${shots}`)
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  if (runsDir) rmSync(runsDir, { recursive: true, force: true })
  if (eldFile && existsSync(eldFile)) rmSync(eldFile)
})

describe('BNAS Studio in Chromium against the real engine', () => {
  it('picks a dataset and shows its summary, and shows a bad one’s error where the user looks', async () => {
    await page.goto(app.url)
    await expect
      .poll(() => text('[data-test=backend]'), { timeout: 60_000 })
      .toMatch(/backend: (wasm|cpu|native|tensorflow)/)
    await page.locator('[data-test=nav-datasets]').click()
    await page.locator('[data-test=dataset-kind-cifar10]').check()
    await page.locator('[data-test=dataset-path]').fill('/nonexistent/cifar')
    await page.locator('[data-test=dataset-path]').press('Tab')
    await page.locator('[data-test=dataset-inspect]').click()
    await expect.poll(() => text('[data-test=dataset-error]'), { timeout: 30_000 }).toMatch(/nonexistent/)
    await shot('datasets-error')

    await page.locator('[data-test=dataset-kind-synthetic]').check()
    await page.locator('[data-test=dataset-spec]').fill(DATASET)
    await page.locator('[data-test=dataset-inspect]').click()
    await expect.poll(() => text('[data-test=dataset-shape]'), { timeout: 60_000 }).toBe('16 × 16 × 1')
    expect(await text('[data-test=dataset-train-count]')).toBe('128')
    expect(await page.locator('[data-test=dataset-samples] img').count()).toBe(24) // six per class
    expect(await page.locator('[data-test=dataset-histogram] canvas').count()).toBeGreaterThan(0)
    expect(await page.locator('[data-test=dataset-error]').count()).toBe(0)
    await shot('datasets-summary')
  })

  it('validates a search, measures its cost, launches it and watches the curves and heatmaps update', async () => {
    await page.locator('[data-test=dataset-use]').click()
    await page.waitForURL('**/#/search')
    await page.locator('[data-test=preset-quick]').click()
    expect(await page.locator('[data-test=field-dataset]').inputValue()).toBe(DATASET)
    await setField('cells', '2')
    await expect.poll(() => text('[data-test=error-cells]')).toMatch(/at least 3/)
    expect(await page.locator('[data-test=search-launch]').isDisabled()).toBe(true)
    await setField('cells', '3')
    await setField('channels', '2')
    await setField('batchSize', '8')
    await setField('epochs', '3')
    await setField('subset', '')
    await setField('validationSubset', '')
    await setField('progressEvery', '1')
    await setField('checkpointEvery', '4')
    expect(await page.locator('[data-test=search-invalid]').count()).toBe(0)
    await page.locator('[data-test=search-estimate]').click()
    await expect.poll(() => text('[data-test=cost-step]'), { timeout: 60_000 }).toMatch(/^\d+ ms$/)
    expect(await text('[data-test=cost-params]')).toMatch(/\d/)
    await shot('search-form-cost', true)

    searchWindow.start = Date.now()
    await page.locator('[data-test=search-launch]').click()
    await page.waitForURL(/#\/runs\/search/)
    searchRunId = await text('[data-test=monitor-run-id]')
    expect(searchRunId).toMatch(/^search/)
    await expect.poll(() => text('[data-test=progress-step]'), { timeout: 60_000 }).toMatch(/^\d+ \/ 24$/)
    await expect
      .poll(() => page.locator('[data-test=chart-loss]').getAttribute('data-points'), { timeout: 60_000 })
      .not.toBe('0')
    // The α heatmaps appear with the first epoch's record and follow the newest epoch.
    await expect.poll(() => text('[data-test=alpha-epoch]'), { timeout: 90_000 }).toBe('epoch 1')
    expect(await page.locator('[data-test=heatmap-normal] canvas').count()).toBeGreaterThan(0)
    expect(await page.locator('[data-test=heatmap-reduce] canvas').count()).toBeGreaterThan(0)
    expect(await page.locator('[data-test=live-genotype] svg').count()).toBe(2)
    await shot('monitor-epoch1', true)
  })

  it('pauses and resumes the search, and catches up after a reload while it runs', async () => {
    await page.locator('[data-test=run-pause]').click()
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 30_000 }).toBe('paused')
    await page.waitForTimeout(2500) // a step in flight finishes; then nothing moves
    const stepWhilePaused = await text('[data-test=progress-step]')
    await page.waitForTimeout(2500)
    expect(await text('[data-test=progress-step]')).toBe(stepWhilePaused)
    await shot('monitor-paused')
    await page.locator('[data-test=run-resume]').click()
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 30_000 }).toMatch(/^running/)
    await expect.poll(() => text('[data-test=progress-step]'), { timeout: 60_000 }).not.toBe(stepWhilePaused)
    // The search keeps running through a reload; the page catches up from the run folder, then follows the events.
    await page.reload()
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 30_000 }).toMatch(/^(running|completed)/)
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 150_000 }).toBe('completed')
    // Each point exactly once: 24 running points, and 3 epoch points for train and for validation.
    await expect
      .poll(() => page.locator('[data-test=chart-accuracy]').getAttribute('data-points'), { timeout: 10_000 })
      .toBe('30')
    searchWindow.end = Date.now()
    await expect.poll(() => text('[data-test=alpha-epoch]'), { timeout: 10_000 }).toBe('epoch 3')
    await page.locator('[data-test=heatmap-normal]').click({ position: { x: 200, y: 80 } })
    await expect.poll(() => page.locator('[data-test=chart-alpha-history]').count()).toBe(1)
    await shot('monitor-completed', true)
  })

  it('opens the genotype, replays it with the epoch slider and shows an edge’s α history', async () => {
    await page.locator('[data-test=open-genotype]').click()
    await page.waitForURL(/#\/genotype\?run=/)
    await expect.poll(() => text('[data-test=a-epoch]'), { timeout: 30_000 }).toBe('3')
    const slider = page.locator('[data-test=a-epoch-slider]')
    await slider.focus()
    await slider.press('Home')
    await expect.poll(() => text('[data-test=a-epoch]')).toBe('1')
    await slider.press('ArrowRight')
    await expect.poll(() => text('[data-test=a-epoch]')).toBe('2')
    expect(await page.locator('[data-test=a-normal] .edge.op, [data-test=a-normal] .edge.zeroise').count()).toBe(8)
    // Keyboard: an op edge is a button; Enter shows its α history.
    await page.locator('[data-test=a-normal] path.hit').first().focus()
    await page.keyboard.press('Enter')
    await expect.poll(() => page.locator('[data-test=a-alpha-history] canvas').count()).toBeGreaterThan(0)
    await shot('genotype-run-epoch2', true)
    await page.locator('[data-test=genotype-compare]').check()
    await expect.poll(() => page.locator('[data-test=b-panel] svg').count()).toBeGreaterThan(1)
    await expect.poll(() => page.locator('[data-test=genotype-differences]').count()).toBe(1)
    await shot('genotype-compare', true)
    await page.locator('[data-test=genotype-compare]').uncheck()
  })

  it('starts a short training from that genotype, watched like the search', async () => {
    await page.locator('[data-test=genotype-train]').click()
    await page.waitForURL(/#\/train\?/)
    expect(await page.locator('[data-test=train-genotype] svg').count()).toBe(2)
    // The baselines are a choice of the same form: no cell to draw for the binary ResNet-18, DARTS V2's for its own.
    await page.locator('[data-test=train-architecture]').selectOption('binary-resnet18')
    await expect.poll(() => page.locator('[data-test=train-genotype] svg').count()).toBe(0)
    expect(await text('[data-test=train-architecture-note]')).toContain('ResNet-18')
    expect(await page.locator('[data-test=train-launch]').isDisabled()).toBe(false)
    await page.locator('[data-test=train-architecture]').selectOption('darts-v2-binary')
    await expect.poll(() => page.locator('[data-test=train-genotype] svg').count()).toBe(2)
    await page.locator('[data-test=train-architecture]').selectOption('cell')
    await expect.poll(() => page.locator('[data-test=train-genotype-choice]').count()).toBe(1)
    await page.locator('[data-test=train-preset-quick]').click()
    await setField('subset', '')
    await setField('testSubset', '')
    await setField('cells', '3')
    await setField('channels', '2')
    await setField('batchSize', '8')
    await setField('epochs', '1')
    await setField('progressEvery', '1')
    await shot('train-form', true)
    await page.locator('[data-test=train-launch]').click()
    await page.waitForURL(/#\/runs\/train/)
    trainRunId = await text('[data-test=monitor-run-id]')
    await expect.poll(() => text('[data-test=progress-step]'), { timeout: 60_000 }).toMatch(/^\d+ \/ 16$/)
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 120_000 }).toBe('completed')
    expect(await text('[data-test=best-accuracy]')).toMatch(/%$/)
    await shot('monitor-train', true)
  })

  it('exports the trained network in every format, each reloaded and checked against the engine', async () => {
    await page.locator('[data-test=nav-export]').click()
    await expect.poll(() => page.locator('[data-test=export-run]').inputValue(), { timeout: 30_000 }).toBe(trainRunId)
    for (const format of ['genotype', 'tfjs', 'onnx', 'packed']) {
      await page.locator(`[data-test=export-${format}]`).click()
      await expect.poll(() => page.locator(`[data-test=export-result-${format}]`).count(), { timeout: 120_000 }).toBe(1)
    }
    expect(await text('[data-test=export-result-onnx]')).toContain('onnxruntime-node')
    expect(await text('[data-test=export-summary]')).toContain('OPs = BOPs/64 + FLOPs')
    expect(existsSync(join(runsDir, trainRunId, 'exports', 'model.bnpk'))).toBe(true)
    await shot('export-verified', true)
  })

  it('finds both runs in Runs after a page reload, compares them and deletes one with confirmation', async () => {
    await page.reload()
    await page.locator('[data-test=nav-runs]').click()
    await expect.poll(() => page.locator('[data-test=runs-table] tbody tr').count(), { timeout: 30_000 }).toBe(2)
    const searchRow = page.locator(`[data-test=run-row-${searchRunId}]`)
    const trainRow = page.locator(`[data-test=run-row-${trainRunId}]`)
    expect(await searchRow.locator('[data-test=run-status]').textContent()).toBe('completed')
    expect(await trainRow.locator('[data-test=run-status]').textContent()).toBe('completed')
    expect(await searchRow.locator('[data-test=run-best]').textContent()).toMatch(/%$/)
    expect(await searchRow.locator('svg').count()).toBe(1)
    await page.locator(`[data-test=run-compare-${searchRunId}]`).check()
    await page.locator(`[data-test=run-compare-${trainRunId}]`).check()
    await expect
      .poll(() => page.locator('[data-test=compare-accuracy]').getAttribute('data-points'), { timeout: 30_000 })
      .toBe('4')
    await shot('runs-compare', true)

    // Reopening a finished run catches up from its folder.
    await page.locator(`[data-test=run-open-${searchRunId}]`).click()
    await expect.poll(() => text('[data-test=alpha-epoch]'), { timeout: 30_000 }).toBe('epoch 3')
    await page.locator('[data-test=theme-toggle]').click()
    await page.waitForTimeout(300)
    await shot('monitor-reopened-dark', true)
    await page.locator('[data-test=theme-toggle]').click()

    await page.locator('[data-test=nav-runs]').click()
    await page.locator(`[data-test=run-delete-${trainRunId}]`).click()
    await page.locator(`[data-test=run-delete-confirm-${trainRunId}]`).click()
    await expect.poll(() => page.locator('[data-test=runs-table] tbody tr').count(), { timeout: 30_000 }).toBe(1)
    expect(existsSync(join(runsDir, trainRunId))).toBe(false)
  })

  it('stops a search and continues it from its checkpoint', async () => {
    await page.locator('[data-test=nav-search]').click()
    await page.locator('[data-test=preset-quick]').click()
    for (const [key, value] of Object.entries({
      dataset: DATASET,
      cells: '3',
      channels: '2',
      batchSize: '8',
      epochs: '2',
      subset: '',
      validationSubset: '',
      progressEvery: '1',
      checkpointEvery: '2'
    })) {
      await setField(key, value)
    }
    await page.locator('[data-test=search-launch]').click()
    await page.waitForURL(/#\/runs\/search/)
    await expect.poll(() => text('[data-test=progress-step]'), { timeout: 60_000 }).toMatch(/^([3-9]|1\d) \/ 16$/)
    await page.locator('[data-test=run-stop]').click()
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 60_000 }).toBe('stopped')
    const stoppedAt = await text('[data-test=progress-step]')
    await shot('monitor-stopped')
    await page.locator('[data-test=run-continue]').click()
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 30_000 }).toMatch(/^(running|completed)/)
    await expect.poll(() => text('[data-test=run-status]'), { timeout: 120_000 }).toBe('completed')
    expect(await text('[data-test=progress-step]')).toBe('16 / 16')
    expect(stoppedAt).not.toBe('16 / 16')
    // 16 running points (the resumed part replaces what came after the checkpoint), 2 epoch points twice.
    await expect
      .poll(() => page.locator('[data-test=chart-accuracy]').getAttribute('data-points'), { timeout: 10_000 })
      .toBe('20')
  })

  it('kept the server’s event loop responsive during the search', () => {
    const samples = readFileSync(eldFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { t: number; mean: number; p50: number; p99: number; max: number })
      .filter((sample) => sample.t >= searchWindow.start && sample.t <= searchWindow.end + 1000)
    expect(samples.length).toBeGreaterThan(5)
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b)
    const p99s = sorted(samples.map((s) => s.p99))
    const max = Math.max(...samples.map((s) => s.max))
    const mean = samples.reduce((sum, s) => sum + s.mean, 0) / samples.length
    const summary = {
      seconds: samples.length,
      meanMs: Number(mean.toFixed(2)),
      medianOfP99Ms: p99s[Math.floor(p99s.length / 2)],
      worstP99Ms: p99s.at(-1),
      maxMs: max
    }
    console.log(`event-loop delay of the browser-mode server during the search: ${JSON.stringify(summary)}`)
    // The engine runs in a worker thread: the main thread only routes messages, so its loop must never stall long.
    expect(max).toBeLessThan(500)
  })

  it('logged no errors in the page', () => {
    expect(errors).toEqual([])
  })
})
