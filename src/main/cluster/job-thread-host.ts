import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { appRoot } from '../app/paths'
import type { JobResult } from '../engine/jobs/run-job'
import type { JobListener } from '../engine/jobs/search-job'
import { addPrivateLavapipe } from '../engine/webgpu/gpu'
import type { FromJobThread, ToJobThread } from './job-thread-messages'

/**
 * Starts the job thread: out/main/cluster-job-thread.js in the build; from the sources (tsx, tests) a small loader
 * that registers tsx in the thread first (a thread does not inherit the process's `--import tsx` loader).
 */
function startThread(): Worker {
  const here = fileURLToPath(import.meta.url)
  if (here.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api')
    const script = pathToFileURL(join(here, '..', 'job-thread.ts')).href
    return new Worker(
      `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(script)}) })`,
      { eval: true }
    )
  }
  const built = join(appRoot(), 'out', 'main', 'cluster-job-thread.js')
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\``)
  return new Worker(built)
}

export interface JobThread {
  result: Promise<JobResult>
  control(action: 'pause' | 'resume' | 'stop'): void
}

/** Runs one job in a new thread; the promise settles with the job's result or its failure, and the thread ends. */
export function runInThread(start: Extract<ToJobThread, { type: 'start' }>, listener: JobListener): JobThread {
  addPrivateLavapipe()
  const thread = startThread()
  const result = new Promise<JobResult>((resolve, reject) => {
    thread.on('message', (message: FromJobThread) => {
      if (message.type === 'progress') listener.progress(message.record)
      else if (message.type === 'epoch') listener.epoch(message.record)
      else if (message.type === 'log') listener.log(message.message)
      else {
        if (message.type === 'done') resolve(message.result)
        else reject(new Error(message.message))
        void thread.terminate()
      }
    })
    thread.on('error', (error) => reject(new Error(`the job's engine thread crashed: ${error.message}`)))
    thread.on('exit', (code) => reject(new Error(`the job's engine thread exited (code ${code})`)))
  })
  thread.postMessage(start)
  return { result, control: (action) => thread.postMessage({ type: 'control', action } satisfies ToJobThread) }
}
