import { Worker } from 'node:worker_threads'
import type { EngineStatus } from '../../shared/contract'
import type { FromWorker, ToWorker } from './messages'

export interface EngineHostOptions {
  /** Absolute path of the built worker script (out/main/engine-worker.js). */
  workerPath: string
  /** Backend preference: 'auto' or a backend name; BNAS_BACKEND overrides when set. */
  backend?: string
}

/**
 * Owns the engine worker thread: starts it, keeps its latest status, and tells listeners when it changes.
 * A crash of the worker is reported as a failed status instead of taking the host process down.
 */
export class EngineHost {
  private worker: Worker | null = null
  private current: EngineStatus = { state: 'starting' }
  private readonly listeners = new Set<(status: EngineStatus) => void>()

  constructor(private readonly options: EngineHostOptions) {}

  get status(): EngineStatus {
    return this.current
  }

  onStatus(listener: (status: EngineStatus) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  start(): void {
    if (this.worker !== null) return
    const worker = new Worker(this.options.workerPath)
    this.worker = worker
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'status') this.setStatus(message.status)
    })
    worker.on('error', (error) => this.setStatus({ state: 'failed', message: `engine worker crashed: ${error.message}` }))
    worker.on('exit', (code) => {
      this.worker = null
      if (code !== 0 && this.current.state !== 'failed') {
        this.setStatus({ state: 'failed', message: `engine worker exited with code ${code}` })
      }
    })
    const init: ToWorker = { type: 'init', backend: process.env.BNAS_BACKEND ?? this.options.backend ?? 'auto' }
    worker.postMessage(init)
  }

  async stop(): Promise<void> {
    const worker = this.worker
    this.worker = null
    if (worker !== null) await worker.terminate()
  }

  private setStatus(status: EngineStatus): void {
    this.current = status
    for (const listener of this.listeners) listener(status)
  }
}
