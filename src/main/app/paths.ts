import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The project root: the nearest folder above this module holding our package.json. Works from the
 * sources (tests, tsx) and from the build (out/main/*.js or a chunk beneath it) alike.
 */
export function appRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from)
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'bnas-studio'
    ) {
      return dir
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the BNAS Studio folder (package.json) above ' + from)
    dir = parent
  }
}

export const builtRendererDir = (root = appRoot()): string => join(root, 'out', 'renderer')
export const builtWorkerPath = (root = appRoot()): string => join(root, 'out', 'main', 'engine-worker.js')
