import { basename } from 'node:path'
import { searchConfigSchema, trainConfigSchema, type SearchConfig, type TrainConfig } from '../../../shared/jobs'
import { loadDataset } from '../../datasets'
import { RunFolder, type RunManifest } from '../../runs/run-folder'
import { APP_VERSION } from '../../version'
import type { JobControl } from './control'
import { runSearch, type JobListener, type SearchResult } from './search-job'
import { runTraining, type TrainResult } from './train-job'

export type JobResult = SearchResult | TrainResult

/**
 * Starts and resumes runs the same way for every caller (the command line, the engine worker behind the app):
 * the run folder records the status, and a failure is written there with its reason before it is rethrown.
 */
export async function startSearchRun(
  out: string,
  config: SearchConfig,
  listener: JobListener,
  control: JobControl
): Promise<JobResult> {
  // Read the data before making the folder: a bad dataset fails with nothing written.
  const dataset = loadDataset(config.dataset)
  const folder = await createRunFolder(out, 'search', config)
  await folder.appendLog(`search started: ${JSON.stringify(config)}`)
  return finish(folder, () => runSearch(folder, config, logging(folder, listener), control, { resume: false, dataset }))
}

export async function startTrainRun(
  out: string,
  config: TrainConfig,
  listener: JobListener,
  control: JobControl
): Promise<JobResult> {
  const dataset = loadDataset(config.dataset)
  const folder = await createRunFolder(out, 'train', config)
  await folder.appendLog(
    `training started: ${JSON.stringify({ ...config, genotype: config.genotypeSource ?? 'inline' })}`
  )
  return finish(folder, () =>
    runTraining(folder, config, logging(folder, listener), control, { resume: false, dataset })
  )
}

export async function resumeRun(
  path: string,
  listener: JobListener,
  control: JobControl
): Promise<{ manifest: RunManifest; result: JobResult }> {
  const folder = await RunFolder.open(path)
  const manifest = await folder.readManifest()
  if (manifest.status === 'completed')
    throw new Error(`${folder.path} has already completed; there is nothing to resume`)
  const invalid = (message: string | undefined): Error =>
    new Error(`${folder.file('manifest')} holds an invalid config: ${message}`)
  await folder.appendLog('resumed')
  if (manifest.kind === 'train') {
    const parsed = trainConfigSchema.safeParse(manifest.config)
    if (!parsed.success) throw invalid(parsed.error.issues[0]?.message)
    return {
      manifest,
      result: await finish(folder, () =>
        runTraining(folder, parsed.data, logging(folder, listener), control, { resume: true })
      )
    }
  }
  const parsed = searchConfigSchema.safeParse(manifest.config)
  if (!parsed.success) throw invalid(parsed.error.issues[0]?.message)
  return {
    manifest,
    result: await finish(folder, () =>
      runSearch(folder, parsed.data, logging(folder, listener), control, { resume: true })
    )
  }
}

function createRunFolder(
  out: string,
  kind: 'search' | 'train',
  config: SearchConfig | TrainConfig
): Promise<RunFolder> {
  return RunFolder.create(out, {
    id: basename(out),
    kind,
    createdAt: new Date().toISOString(),
    status: 'running',
    appVersion: APP_VERSION,
    config
  })
}

/** The caller's listener, with every log line also kept in the run's log.txt (so a reopened run shows it). */
function logging(folder: RunFolder, listener: JobListener): JobListener {
  return {
    progress: (record) => listener.progress(record),
    epoch: (record) => listener.epoch(record),
    log: (message) => {
      listener.log(message)
      void folder.appendLog(message).catch(() => undefined)
    }
  }
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
