import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

/**
 * `npm start` as a newcomer sees it on a machine without a GPU: a fresh HOME (no private lavapipe, no npm config of
 * theirs, no memory of an earlier Electron download) and an empty runs folder. The first lines must carry the app's
 * own words only: no npm config warning, no Dawn/Vulkan warning, and the compute backend said once.
 */
const root = join(import.meta.dirname, '..', '..')
const home = mkdtempSync(join(tmpdir(), 'bnas-start-home-'))
const runs = mkdtempSync(join(tmpdir(), 'bnas-start-runs-'))

afterAll(() => {
  rmSync(home, { recursive: true, force: true })
  rmSync(runs, { recursive: true, force: true })
})

/** Third-party lines a newcomer would read as errors. */
const THIRD_PARTY = [
  /npm warn/i,
  /Unknown (project|env) config/,
  /^Warning: /,
  /vkCreateInstance/,
  /artificially reduced/,
  /CheckVkSuccessImpl/,
  /\.cpp:\d+\)/
]

function startAndRead(maxLines: number, timeoutMs: number): Promise<string[]> {
  // BNAS_NO_ELECTRON: where the network would let Electron's binary download, the window would open instead of
  // browser mode and there would be no URL line to read; offline, the download fails in an instant either way.
  const env: Record<string, string | undefined> = {
    ...process.env,
    HOME: home,
    BNAS_RUNS_DIR: runs,
    BNAS_NO_ELECTRON: '1'
  }
  // What a fresh shell has: no Vulkan driver chosen by hand, no npm_config_* from a surrounding npm, no cache dir.
  for (const key of Object.keys(env))
    if (key.startsWith('npm_') || key.startsWith('VK_') || key === 'XDG_CACHE_HOME' || key.startsWith('BNAS_LAVAPIPE'))
      delete env[key]
  const child = spawn('npm', ['start'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const lines: string[] = []
  let partial = ''
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer)
      // npm starts node which starts the server: end the whole group.
      try {
        process.kill(-child.pid!, 'SIGTERM')
      } catch {
        // already gone
      }
      resolve(lines.slice(0, maxLines))
    }
    const timer = setTimeout(() => {
      finish()
      reject(new Error(`npm start said no Compute line within ${timeoutMs / 1000} s:\n${lines.join('\n')}`))
    }, timeoutMs)
    const take = (chunk: Buffer): void => {
      partial += chunk.toString()
      const parts = partial.split('\n')
      partial = parts.pop() ?? ''
      lines.push(...parts)
      // The URL line ends what a user reads first; the compute line follows once the engine has picked its backend
      // (after Dawn has looked for an adapter, which is when its warnings would come).
      if (lines.length >= maxLines || lines.some((line) => line.startsWith('Compute: '))) finish()
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    child.on('exit', (code) => {
      if (lines.some((line) => line.startsWith('Compute: '))) return
      clearTimeout(timer)
      reject(new Error(`npm start exited with ${code} before its Compute line:\n${lines.join('\n')}`))
    })
  })
}

describe('npm start on a machine without a GPU', () => {
  it('prints no third-party warning in its first 30 lines, and says once where training runs', async () => {
    const lines = await startAndRead(30, 150_000)
    console.log(lines.join('\n'))
    const noise = lines.filter((line) => THIRD_PARTY.some((pattern) => pattern.test(line)))
    expect(noise).toEqual([])
    expect(lines.some((line) => /^Open: http:\/\/127\.0\.0\.1:\d+\/\?token=/.test(line))).toBe(true)
    const compute = lines.filter((line) => line.startsWith('Compute: '))
    expect(compute).toHaveLength(1)
    expect(compute[0]).toMatch(/training runs on the (CPU|GPU)/)
  })
})
