import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url))
export const CHROMIUM_PATH = process.env.BNAS_CHROMIUM ?? '/usr/bin/chromium'

/** Where screenshots go: kept as CI artifacts, printed so a person can look at them. */
export function artifactsDir(name: string): string {
  const dir = join(projectRoot, 'test-artifacts', name)
  mkdirSync(dir, { recursive: true })
  return dir
}

export interface RunningApp {
  url: string
  process: ChildProcess
  output: () => string
  stop(): Promise<void>
}

/** Starts the built app in browser mode (`bnas serve`), exactly as `npm start` does without Electron. */
export async function startBrowserMode(
  extraArgs: string[] = [],
  env: Record<string, string> = {}
): Promise<RunningApp> {
  if (!existsSync(join(projectRoot, 'out', 'main', 'cli.js')))
    throw new Error('the app is not built: run `npm run build` before the end-to-end tests')
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'bnas.js'), 'serve', '--port', '0', ...extraArgs], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bnas serve printed no URL within 60 s:\n${output}`)), 60_000)
    const check = (): void => {
      const match = /Open: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(output)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout.on('data', check)
    child.on('exit', (code) => reject(new Error(`bnas serve exited with ${code}:\n${output}`)))
  })
  return {
    url,
    process: child,
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic'
    ]
  })
}

/** Collects console errors and page errors (a CSP violation shows up here), to assert there are none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  return errors
}

/**
 * A picture of the whole page. The app scrolls inside its content pane, not the document, so Playwright's fullPage
 * sees only the window: the viewport grows to the content's height for the picture, then returns to its size.
 */
export async function screenshotWhole(page: Page, path: string): Promise<void> {
  const size = page.viewportSize() ?? { width: 1280, height: 800 }
  const height = await page.locator('.content').evaluate((content) => content.scrollHeight + 40)
  await page.setViewportSize({ width: size.width, height: Math.max(size.height, Math.min(height, 5000)) })
  await page.waitForTimeout(300) // charts resize on the next frame
  await page.screenshot({ path })
  await page.setViewportSize(size)
}
