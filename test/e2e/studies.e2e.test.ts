import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { writeStudyState } from '../../src/main/study/state'
import { planStudy } from '../../src/main/study/runner'
import { resolveStudy, type StudyFileInput } from '../../src/shared/study'
import {
  artifactsDir,
  launchChromium,
  screenshotWhole,
  startBrowserMode,
  watchErrors,
  type RunningApp
} from './browser-app'

/**
 * The Studies page against the real engine: a tiny study is placed in the runs folder (its state only, no run yet),
 * continued from the page, run by the app's engine, and its report checked against the run folders it wrote.
 */
const TINY: StudyFileInput = {
  name: 'e2e-tiny',
  description: 'A tiny study for the end-to-end test.',
  dataset: 'synthetic:64?size=16&channels=1&classes=4',
  base: {
    search: { cells: 3, channels: 2, batchSize: 8, epochs: 2, checkpointEvery: 4, progressEvery: 2, tau: 1 },
    train: { cells: 3, channels: 4, batchSize: 8, epochs: 2, schedule: 'cosine', dropPath: 0, progressEvery: 2 }
  },
  arms: [
    { name: 'searched', search: { lambda: 1 }, train: { genotype: 'from-search' }, seeds: [1, 2] },
    { name: 'published', train: { genotype: 'latest_cell_zeroise' }, seeds: [1, 2] }
  ]
}

let app: RunningApp
let browser: Browser
let page: Page
let errors: string[]
let runsDir: string
const shots = artifactsDir('e2e-studies')

beforeAll(async () => {
  runsDir = mkdtempSync(join(tmpdir(), 'bnas-e2e-studies-'))
  const study = resolveStudy(TINY)
  const now = new Date().toISOString()
  await writeStudyState(runsDir, {
    name: study.name,
    file: study.file,
    createdAt: now,
    updatedAt: now,
    runs: planStudy(study).map((run) => ({ arm: run.arm.name, seed: run.entry.seed, kind: run.kind, runId: run.runId }))
  })
  app = await startBrowserMode(['--backend', 'wasm'], { BNAS_RUNS_DIR: runsDir })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  errors = watchErrors(page)
  console.log(`screenshots: ${shots}`)
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  if (runsDir) rmSync(runsDir, { recursive: true, force: true })
})

describe('the Studies page in Chromium against the real engine', () => {
  it('lists the built-in studies, continues a study, and shows its report with the runs’ numbers', async () => {
    await page.goto(app.url)
    await page.locator('[data-test=nav-studies]').click()
    await page.waitForURL('**/#/studies')
    for (const name of ['diversity', 'zeroise', 'baselines'])
      await expect.poll(() => page.locator(`[data-test=study-builtin-${name}]`).count(), { timeout: 30_000 }).toBe(1)
    const row = page.locator('[data-test=study-row-e2e-tiny]')
    await expect.poll(() => row.textContent(), { timeout: 30_000 }).toMatch(/0 \/ 6/)
    await row.getByRole('button', { name: 'Continue' }).click()
    await expect.poll(() => row.textContent(), { timeout: 150_000 }).toMatch(/6 \/ 6\s*completed/)

    // The arms table holds the mean of the runs' own results.
    await expect
      .poll(() => page.locator('[data-test=study-arm-published] [data-test=arm-final]').textContent(), {
        timeout: 30_000
      })
      .toMatch(/n = 2/)
    for (const arm of ['searched', 'published']) {
      const finals = [1, 2].map(
        (seed) =>
          JSON.parse(readFileSync(join(runsDir, `e2e-tiny-${arm}-s${seed}-train`, 'result.json'), 'utf8'))
            .testAccuracy as number
      )
      const mean = (((finals[0]! + finals[1]!) / 2) * 100).toFixed(2)
      expect(await page.locator(`[data-test=study-arm-${arm}] [data-test=arm-final]`).textContent()).toContain(
        `${mean}%`
      )
    }
    expect(await page.locator('[data-test=study-numbers] tbody tr').count()).toBeGreaterThanOrEqual(10)
    expect(await page.locator('[data-test=study-runs] tbody tr').count()).toBe(6)
    expect(await page.locator('[data-test=study-run-e2e-tiny-searched-s2-search]').textContent()).toMatch(
      /completed\s*2 \/ 2/
    )
    expect(await page.locator('[data-test=study-genotypes] .cell-graph').count()).toBe(8) // 2 arms × 2 seeds × 2 cells
    for (const chart of ['accuracy-ops', 'train', 'search', 'entropy', 'param-free'])
      expect(await page.locator(`[data-test=study-chart-${chart}] canvas`).count()).toBe(1)
    await screenshotWhole(page, join(shots, 'studies.png'))
    expect(errors).toEqual([])
  })
})
