import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { artifactsDir, launchChromium, startBrowserMode, watchErrors, type RunningApp } from './browser-app'

const PAGES = ['datasets', 'search', 'train', 'runs', 'genotype', 'export'] as const

let app: RunningApp
let browser: Browser
let page: Page
let errors: string[]
const shots = artifactsDir('e2e-shell')

beforeAll(async () => {
  app = await startBrowserMode()
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  errors = watchErrors(page)
  console.log(`screenshots: ${shots}`)
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
})

describe('the app in browser mode, in Chromium', () => {
  it('opens with the secret, drops it from the address bar and shows the engine backend', async () => {
    await page.goto(app.url)
    await expect
      .poll(() => page.locator('[data-test=backend]').textContent(), { timeout: 60_000 })
      .toMatch(/backend: (wasm|cpu|native|tensorflow)/)
    expect(page.url()).not.toContain('token=')
    expect(await page.locator('[data-test=connection]').textContent()).toBe('connected')
    expect(await page.locator('[data-test=mode]').textContent()).toBe('browser mode')
  })

  it('navigates every page', async () => {
    for (const name of PAGES) {
      await page.locator(`[data-test=nav-${name}]`).click()
      await page.waitForURL(`**/#/${name}`)
      await expect.poll(() => page.locator('h1').textContent()).toBe(name[0]!.toUpperCase() + name.slice(1))
      await page.screenshot({ path: join(shots, `${name}-light.png`) })
    }
  })

  it('makes requests through the contract and shows the replies', async () => {
    await page.locator('[data-test=nav-genotype]').click()
    const published = page.locator('[data-test=published-latest_cell_zeroise] pre')
    await expect.poll(() => published.textContent()).toContain("('bin_dil_conv_3x3', 0)")
    await page.locator('[data-test=a-source]').selectOption('text')
    await page.locator('[data-test=genotype-input]').fill('{"normal": [["bogus_op", 0]]}')
    await page.locator('[data-test=genotype-parse]').click()
    await expect.poll(() => page.locator('[data-test=genotype-error]').textContent()).toMatch(/bogus_op|normal/)
    const text = (await published.textContent()) ?? ''
    await page.locator('[data-test=genotype-input]').fill(text)
    await page.locator('[data-test=genotype-parse]').click()
    await expect.poll(() => page.locator('[data-test=genotype-python]').textContent()).toBe(text)
    await page.screenshot({ path: join(shots, 'genotype-parsed.png'), fullPage: true })
  })

  it('switches to the dark theme and keeps it after a reload', async () => {
    await page.locator('[data-test=theme-toggle]').click()
    expect(await page.locator('html').getAttribute('data-theme')).toBe('dark')
    await page.reload()
    expect(await page.locator('html').getAttribute('data-theme')).toBe('dark')
    // The reload carried no secret in the URL: the session cookie let the page and its socket back in.
    await expect.poll(() => page.locator('[data-test=connection]').textContent(), { timeout: 20_000 }).toBe('connected')
    await page.screenshot({ path: join(shots, 'genotype-dark.png') })
  })

  it('logged no errors in the page (CSP violations included)', () => {
    expect(errors).toEqual([])
  })
})
