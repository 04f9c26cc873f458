import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createAppCore, type AppCore } from '../../src/main/app/app-core'

/** The real app core with the engine worker run from its TypeScript source (through tsx, see engine-worker-from-source.mjs), on the given backend, with a fresh runs folder. */
export function createTestAppCore(mode: 'browser' | 'electron' = 'browser', backend = 'cpu'): AppCore {
  return createAppCore({
    workerPath: fileURLToPath(new URL('./engine-worker-from-source.mjs', import.meta.url)),
    version: '0.0.0-test',
    mode,
    backend,
    runsRoot: mkdtempSync(join(tmpdir(), 'bnas-runs-'))
  })
}

export async function waitFor<T>(probe: () => T | undefined, timeoutMs = 60_000, what = 'condition'): Promise<T> {
  const start = Date.now()
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
