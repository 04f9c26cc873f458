import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
 * A newcomer's first minutes, in Chromium against the real engine: an empty runs folder, an empty datasets folder and
 * Debian's Fashion-MNIST installed. The app lands on Start, says what it computes on (the same facts as `bnas
 * backends`), defaults the Datasets page to the real dataset with several samples per class, and its one button runs
 * a real search, trains the cell and exports it. BNAS_FIRST_RUN_BUDGET=tiny shrinks the sizes so this takes seconds;
 * the path is the one a user's click takes.
 */
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'
const haveFashionMnist = existsSync(FASHION_MNIST)
if (!haveFashionMnist)
  console.warn(`skipped: ${FASHION_MNIST} is missing (Debian: apt-get install dataset-fashion-mnist)`)

let app: RunningApp
let browser: Browser
let page: Page
let errors: string[]
let runsDir: string
let datasetsDir: string
const shots = artifactsDir('e2e-first-run')
const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim()

beforeAll(async () => {
  if (!haveFashionMnist) return
  runsDir = mkdtempSync(join(tmpdir(), 'bnas-first-runs-'))
  datasetsDir = mkdtempSync(join(tmpdir(), 'bnas-first-datasets-'))
  app = await startBrowserMode([], {
    BNAS_RUNS_DIR: runsDir,
    BNAS_DATASETS_DIR: datasetsDir,
    BNAS_FIRST_RUN_BUDGET: 'tiny'
  })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  errors = watchErrors(page)
  console.log(`screenshots: ${shots}`)
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  for (const dir of [runsDir, datasetsDir]) if (dir) rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(!haveFashionMnist)('the first ten minutes, in Chromium against the real engine', () => {
  it('lands on Start, which offers the first run on the Fashion-MNIST found here', async () => {
    await page.goto(app.url)
    await page.waitForURL('**/#/start')
    await expect.poll(() => text('h1')).toBe('Start')
    await expect.poll(() => text('[data-test=first-run-dataset]'), { timeout: 30_000 }).toBe('Fashion-MNIST')
    expect(await text('[data-test=first-run-empty]')).toContain('is empty')
    expect(await page.locator('[data-test=first-run-synthetic]').count()).toBe(0)
  })

  it('shows the backend in use and every other one with why not, as `bnas backends` does', async () => {
    await expect.poll(() => text('[data-test=compute-headline]'), { timeout: 60_000 }).toMatch(/training runs on the/)
    await expect.poll(() => page.locator('[data-test=backend-panel] tbody tr').count(), { timeout: 30_000 }).toBe(6)
    const cli = JSON.parse(
      execFileSync(process.execPath, [join(projectRoot, 'bin', 'bnas.js'), 'backends', '--json'], {
        cwd: projectRoot,
        encoding: 'utf8'
      })
    ) as { name: string; available: boolean; reason?: string; advice?: string; notAuto?: string }[]
    const used = (await text('[data-test=compute-headline]')).match(/\((\S+?)\)/)?.[1]
    expect(cli.map((b) => b.name)).toContain(used)
    expect(await text(`[data-test=backend-state-${used}]`)).toBe('in use')
    for (const backend of cli) {
      const row = page.locator(`[data-test=backend-${backend.name}]`)
      expect(await row.count()).toBe(1)
      if (backend.reason) expect(await row.textContent()).toContain(backend.reason)
      if (backend.notAuto) expect(await row.textContent()).toContain(backend.notAuto)
    }
    // Those faster than the one in use and not running here say what to do about it.
    const usedIndex = cli.findIndex((b) => b.name === used)
    for (const backend of cli.slice(0, usedIndex).filter((b) => b.advice && (!b.available || b.notAuto)))
      // The page shows `commands` as code: the same words without the backticks.
      expect(await text(`[data-test=backend-advice-${backend.name}]`)).toBe(
        `To use it: ${backend.advice!.replaceAll('`', '')}`
      )
    if (used === 'native' || used === 'wasm' || used === 'cpu')
      expect(await text('[data-test=compute-headline]')).toMatch(/training runs on the CPU/)
    await screenshotWhole(page, join(shots, 'start.png'))
  })

  it('defaults the Datasets page to the real dataset, with several samples per class and the others explained', async () => {
    await page.locator('[data-test=nav-datasets]').click()
    await page.waitForURL('**/#/datasets')
    await expect.poll(() => text('[data-test=dataset-shape]'), { timeout: 60_000 }).toBe('28 × 28 × 1')
    expect(await page.locator('[data-test=dataset-spec]').inputValue()).toBe('fashion-mnist')
    expect(await text('[data-test=dataset-train-count]')).toBe('60,000')
    expect(await page.locator('[data-test=dataset-samples] li').count()).toBe(10)
    for (let label = 0; label < 10; label++)
      expect(await page.locator(`[data-test=sample-class-${label}] img`).count()).toBe(6)
    expect(await text('[data-test=use-fashion-mnist]')).toBe('In use')
    for (const kind of ['cifar10', 'cifar100']) {
      expect(await text(`[data-test=download-${kind}]`)).toMatch(/^Download \(\d+ MB\)$/)
      expect(await text(`[data-test=found-${kind}]`)).toContain(`bnas datasets download ${kind} ${datasetsDir}`)
    }
    expect(await text('[data-test=found-mnist]')).toContain(join(datasetsDir, 'mnist'))
    await screenshotWhole(page, join(shots, 'datasets-default.png'))
  })

  it('runs the first-run path end to end: a real search, the training of its cell, the exports', async () => {
    await page.locator('[data-test=nav-start]').click()
    await page.locator('[data-test=first-run-start]').click()
    await expect.poll(() => text('[data-test=first-run-state-search]'), { timeout: 30_000 }).toMatch(/running|done/)
    await screenshotWhole(page, join(shots, 'first-run-searching.png'))
    await expect.poll(() => text('[data-test=first-run-state-search]'), { timeout: 120_000 }).toBe('done')
    await expect.poll(() => text('[data-test=first-run-state-train]'), { timeout: 120_000 }).toBe('done')
    await expect.poll(() => text('[data-test=first-run-state-export]'), { timeout: 120_000 }).toBe('done')
    expect(await page.locator('[data-test=first-run-error]').count()).toBe(0)
    expect(await text('[data-test=first-run-accuracy]')).toMatch(/^\d+\.\d %$/)
    for (const format of ['genotype', 'packed', 'onnx'])
      expect(await page.locator(`[data-test=first-run-export-${format}]`).count()).toBe(1)
    expect(await text('[data-test=first-run-export-onnx]')).toContain('same predictions')
    await screenshotWhole(page, join(shots, 'first-run-done.png'))

    // Two real runs in the runs folder: the search and the training, whose exports are in its folder.
    const folders = readdirSync(runsDir).sort()
    expect(folders).toHaveLength(2)
    const train = folders.find((name) => name.startsWith('train'))!
    expect(existsSync(join(runsDir, train, 'exports', 'model.bnpk'))).toBe(true)
    expect(existsSync(join(runsDir, train, 'exports', 'model.onnx'))).toBe(true)
  })

  it('shows the result again after a reload, without running anything again', async () => {
    await page.reload()
    await page.locator('[data-test=nav-start]').click()
    await expect.poll(() => page.locator('[data-test=first-run-result]').count(), { timeout: 30_000 }).toBe(1)
    expect(readdirSync(runsDir)).toHaveLength(2)
    expect(await text('[data-test=first-run-start]')).toBe('Run it again')
  })

  it('logged no errors in the page', () => {
    expect(errors).toEqual([])
  })
})
