import { basename } from 'node:path'
import { searchConfigSchema, type SearchConfig } from '../../../shared/jobs'
import { loadDataset } from '../../datasets'
import { RunFolder, type RunManifest } from '../../runs/run-folder'
import { APP_VERSION } from '../../version'
import type { JobControl } from './control'
import { runSearch, type JobListener, type SearchResult } from './search-job'

export type JobResult = SearchResult

/**
 * Starts and resumes runs the same way for every caller (the command line, the engine worker behind the app):
 * the run folder records the status, and a failure is written there with its reason before it is rethrown.
 */
export async function startSearchRun(out: string, config: SearchConfig, listener: JobListener, control: JobControl): Promise<JobResult> {
  // Read the data before making the folder: a bad dataset fails with nothing written.
  const dataset = loadDataset(config.dataset)
  const folder = await RunFolder.create(out, {
    id: basename(out),
    kind: 'search',
    createdAt: new Date().toISOString(),
    status: 'running',
    appVersion: APP_VERSION,
    config
  })
  await folder.appendLog(`search started: ${JSON.stringify(config)}`)
  return finish(folder, () => runSearch(folder, config, listener, control, { resume: false, dataset }))
}

export async function resumeRun(path: string, listener: JobListener, control: JobControl): Promise<{ manifest: RunManifest; result: JobResult }> {
  const folder = await RunFolder.open(path)
  const manifest = await folder.readManifest()
  if (manifest.status === 'completed') throw new Error(`${folder.path} has already completed; there is nothing to resume`)
  if (manifest.kind !== 'search') throw new Error(`${folder.path} is a ${manifest.kind} run; resuming it is not supported yet`)
  const parsed = searchConfigSchema.safeParse(manifest.config)
  if (!parsed.success) throw new Error(`${folder.file('manifest')} holds an invalid config: ${parsed.error.issues[0]?.message}`)
  await folder.appendLog('resumed')
  const result = await finish(folder, () => runSearch(folder, parsed.data, listener, control, { resume: true }))
  return { manifest, result }
}

async function finish(folder: RunFolder, run: () => Promise<JobResult>): Promise<JobResult> {
  try {
    const result = await run()
    await folder.updateManifest({ status: result.status })
    await folder.appendLog(result.status === 'stopped' ? 'stopped; continue with `bnas resume`' : 'completed')
    return result
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    await folder.updateManifest({ status: 'failed', message }).catch(() => undefined)
    await folder.appendLog(`failed: ${message}`).catch(() => undefined)
    throw error
  }
}
