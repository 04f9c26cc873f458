import { parentPort } from 'node:worker_threads'
import type { RequestOf } from '../../shared/contract'
import { initBackend, type BackendPreference } from '../engine/backend'
import { EngineService, type EngineOperation } from './engine-service'
import type { FromWorker, ToWorker } from './messages'

/**
 * The engine's thread. Everything heavy (backend start-up, datasets, searches, training) runs here so that the
 * Electron main process and the browser-mode server only route messages and stay responsive.
 */
const port = parentPort
if (port === null) throw new Error('engine worker must run inside a worker thread')

const send = (message: FromWorker): void => port.postMessage(message)
let service: EngineService | null = null
let ready: Promise<unknown> = Promise.resolve()

port.on('message', (message: ToWorker) => {
  if (message.type === 'init') {
    service = new EngineService(message.runsRoot, (runId, eventType, payload) =>
      send({ type: 'event', runId, eventType, payload } as FromWorker)
    )
    ready = initBackend(message.backend as BackendPreference)
      .then((report) => send({ type: 'status', status: { state: 'ready', ...report } }))
      .catch((error: unknown) =>
        send({
          type: 'status',
          status: { state: 'failed', message: error instanceof Error ? error.message : String(error) }
        })
      )
    return
  }
  const { id, op, payload } = message
  // Requests wait for the backend: a search must not start on a backend that is still being chosen.
  void ready
    .then(() => {
      if (service === null) throw new Error('the engine worker was not initialised')
      return service.handle(op as EngineOperation, payload as RequestOf<EngineOperation>)
    })
    .then(
      (value) => send({ type: 'reply', id, ok: true, value }),
      (error: unknown) =>
        send({ type: 'reply', id, ok: false, message: error instanceof Error ? error.message : String(error) })
    )
})
