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

/**
 * The worker's engine threads: a job takes an idle one (or a new one) and gives it back when it ends, so the thread
 * start and the backend's start-up are paid once per slot, not once per job. A thread that crashed is dropped.
 */
export class JobThreadPool {
  private readonly idle: Worker[] = []
  private readonly all = new Set<Worker>()

  run(start: Extract<ToJobThread, { type: 'start' }>, listener: JobListener): JobThread {
    const thread = this.idle.pop() ?? this.spawn()
    const result = new Promise<JobResult>((resolve, reject) => {
      const onMessage = (message: FromJobThread): void => {
        if (message.type === 'progress') listener.progress(message.record)
        else if (message.type === 'epoch') listener.epoch(message.record)
        else if (message.type === 'log') listener.log(message.message)
        else {
          cleanup()
          this.idle.push(thread)
          if (message.type === 'done') resolve(message.result)
          else reject(new Error(message.message))
        }
      }
      const onError = (error: Error): void => {
        cleanup()
        reject(new Error(`the job's engine thread crashed: ${error.message}`))
      }
      const onExit = (code: number): void => {
        cleanup()
        reject(new Error(`the job's engine thread exited (code ${code})`))
      }
      const cleanup = (): void => {
        thread.off('message', onMessage)
        thread.off('error', onError)
        thread.off('exit', onExit)
      }
      thread.on('message', onMessage)
      thread.on('error', onError)
      thread.on('exit', onExit)
    })
    thread.postMessage(start)
    return { result, control: (action) => thread.postMessage({ type: 'control', action } satisfies ToJobThread) }
  }

  async close(): Promise<void> {
    await Promise.all([...this.all].map((thread) => thread.terminate()))
    this.all.clear()
    this.idle.length = 0
  }

  private spawn(): Worker {
    addPrivateLavapipe()
    const thread = startThread()
    this.all.add(thread)
    const forget = (): void => {
      this.all.delete(thread)
      const at = this.idle.indexOf(thread)
      if (at >= 0) this.idle.splice(at, 1)
    }
    thread.on('exit', forget)
    thread.on('error', forget)
    return thread
  }
}
