import { parentPort } from 'node:worker_threads'
import type { SearchConfig, TrainConfig } from '../../shared/jobs'
import { initBackend, type BackendPreference } from '../engine/backend'
import { JobControl } from '../engine/jobs/control'
import { resumeRun, startSearchRun, startTrainRun, type JobResult } from '../engine/jobs/run-job'
import type { JobListener } from '../engine/jobs/search-job'
import { checkJobDataset } from './dataset-access'
import type { FromJobThread, ToJobThread } from './job-thread-messages'

/**
 * The engine of a cluster worker's jobs, in its own thread: the steps are long synchronous computations, and the
 * worker's main thread must keep renewing the job's lock in Redis, relaying events and copying checkpoints meanwhile.
 * The thread runs one job at a time and stays for the next (the backend is started once).
 */
const port = parentPort
if (port === null) throw new Error('the cluster job thread must run inside a worker thread')
const send = (message: FromJobThread): void => port.postMessage(message)
let control = new JobControl()
let backend: Promise<unknown> | null = null

port.on('message', (message: ToJobThread) => {
  if (message.type === 'control') {
    if (message.action === 'pause') control.pause()
    if (message.action === 'resume') control.resume()
    if (message.action === 'stop') control.stop()
    return
  }
  control = new JobControl()
  void run(message).then(
    (result) => send({ type: 'done', result }),
    (error: unknown) => send({ type: 'failed', message: error instanceof Error ? error.message : String(error) })
  )
})

async function run(message: Extract<ToJobThread, { type: 'start' }>): Promise<JobResult> {
  const listener: JobListener = {
    progress: (record) => send({ type: 'progress', record }),
    epoch: (record) => send({ type: 'epoch', record }),
    log: (text) => send({ type: 'log', message: text })
  }
  backend ??= initBackend(message.backend as BackendPreference)
  await backend
  checkJobDataset(message.datasetSpec, message.localDataset, message.worker)
  if (message.resume) return (await resumeRun(message.folder, listener, control)).result
  const config = { ...message.config, dataset: message.localDataset }
  return message.kind === 'search'
    ? startSearchRun(message.folder, config as SearchConfig, listener, control)
    : startTrainRun(message.folder, config as TrainConfig, listener, control)
}
