import { realpathSync } from 'node:fs'
import { isAbsolute, resolve, sep } from 'node:path'
import { formatDatasetSpec, parseDatasetSpec } from '../../shared/datasets'
import { loadDataset } from '../datasets'

/**
 * A job names its dataset as a spec; each worker resolves it itself. Paths in a job's spec are relative to the
 * worker's datasets folder (`--datasets DIR`) and must stay inside it, so a job cannot make a worker read elsewhere.
 * Specs without a path (synthetic, Debian's fashion-mnist) need no folder.
 */
export function resolveJobDataset(spec: string, datasetsRoot: string | undefined, worker: string): string {
  const parsed = parseDatasetSpec(spec)
  if (!('path' in parsed) || parsed.path === undefined) return spec
  const path = parsed.path
  if (isAbsolute(path) || path.split(/[\\/]/).includes('..'))
    throw new Error(
      `dataset '${spec}': a cluster job names its dataset relative to each worker's datasets folder (no absolute path, no '..')`
    )
  if (datasetsRoot === undefined)
    throw new Error(`worker ${worker} lacks dataset '${spec}': it was started without --datasets DIR`)
  const root = resolve(datasetsRoot)
  const full = resolve(root, path)
  let real: string
  try {
    real = realpathSync(full)
  } catch {
    throw new Error(`worker ${worker} lacks dataset '${spec}': ${full} does not exist on it`)
  }
  const realRoot = realpathSync(root)
  // A symbolic link inside the datasets folder may not lead out of it either.
  if (real !== realRoot && !real.startsWith(realRoot + sep))
    throw new Error(`dataset '${spec}' leads outside worker ${worker}'s datasets folder ${root}`)
  return formatDatasetSpec({ ...parsed, path: full })
}

/** Loads the dataset once up front, so a worker that lacks it fails the job with the dataset and worker named. */
export function checkJobDataset(spec: string, localSpec: string, worker: string): void {
  try {
    loadDataset(localSpec)
  } catch (error) {
    throw new Error(`worker ${worker} lacks dataset '${spec}': ${(error as Error).message}`)
  }
}
