import { Worker } from 'node:worker_threads'
import type { EngineStatus, EventPayloadOf, EventType } from '../../shared/contract'
import type { FromWorker, ToWorker } from './messages'
import { addPrivateLavapipe } from '../engine/webgpu/gpu'

export interface EngineHostOptions {
  /** Absolute path of the built worker script (out/main/engine-worker.js). */
  workerPath: string
  /** Folder holding every run. */
  runsRoot: string
  /** Backend preference: 'auto' or a backend name; BNAS_BACKEND overrides when set. */
  backend?: string
}

type EventListener = <T extends EventType>(runId: string, type: T, payload: EventPayloadOf<T>) => void

/**
 * Owns the engine worker thread: starts it, forwards requests and their replies, relays its events, and keeps
 * its latest status. A crash of the worker fails the requests in flight and is reported as a failed status,
 * instead of taking the host process down.
 */
export class EngineHost {
  private worker: Worker | null = null
  private current: EngineStatus = { state: 'starting' }
  private readonly statusListeners = new Set<(status: EngineStatus) => void>()
  private readonly eventListeners = new Set<EventListener>()
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  private nextId = 1

  constructor(private readonly options: EngineHostOptions) {}

  get status(): EngineStatus {
    return this.current
  }

  onStatus(listener: (status: EngineStatus) => void): () => void {
    this.statusListeners.add(listener)
    return () => this.statusListeners.delete(listener)
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener)
    return () => this.eventListeners.delete(listener)
  }

  start(): void {
    if (this.worker !== null) return
    // The worker's own process.env is a copy the Vulkan loader does not read: the private lavapipe (for the webgpu
    // backend where no GPU exists) must be in the real environment before the worker starts.
    addPrivateLavapipe()
    const worker = new Worker(this.options.workerPath)
    this.worker = worker
    worker.on('message', (message: FromWorker) => this.receive(message))
    worker.on('error', (error) => this.fail(`engine worker crashed: ${error.message}`))
    worker.on('exit', (code) => {
      this.worker = null
      if (code !== 0) this.fail(`engine worker exited with code ${code}`)
    })
    this.post({
      type: 'init',
      backend: process.env.BNAS_BACKEND ?? this.options.backend ?? 'auto',
      runsRoot: this.options.runsRoot
    })
  }

  /** Asks the worker to run an operation; rejects with the worker's message when it fails. */
  request(op: string, payload: unknown): Promise<unknown> {
    if (this.worker === null) return Promise.reject(new Error('the engine is not running; restart the app'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.post({ type: 'request', id, op, payload })
    })
  }

  async stop(): Promise<void> {
    const worker = this.worker
    this.worker = null
    if (worker !== null) await worker.terminate()
  }

  private post(message: ToWorker): void {
    this.worker?.postMessage(message)
  }

  private receive(message: FromWorker): void {
    if (message.type === 'status') return this.setStatus(message.status)
    if (message.type === 'event') {
      for (const listener of this.eventListeners) listener(message.runId, message.eventType, message.payload as never)
      return
    }
    const waiting = this.pending.get(message.id)
    this.pending.delete(message.id)
    if (message.ok) waiting?.resolve(message.value)
    else waiting?.reject(new Error(message.message))
  }

  private fail(message: string): void {
    for (const [id, waiting] of this.pending) {
      this.pending.delete(id)
      waiting.reject(new Error(message))
    }
    if (this.current.state !== 'failed') this.setStatus({ state: 'failed', message })
  }

  private setStatus(status: EngineStatus): void {
    this.current = status
    for (const listener of this.statusListeners) listener(status)
  }
}
