import { parentPort } from 'node:worker_threads'
import { initBackend, type BackendPreference } from '../engine/backend'
import type { FromWorker, ToWorker } from './messages'

/**
 * The engine's thread. Everything heavy (backend start-up, searches, training) runs here so that the
 * Electron main process and the browser-mode server only route messages and stay responsive.
 */
const port = parentPort
if (port === null) throw new Error('engine worker must run inside a worker thread')

const send = (message: FromWorker): void => port.postMessage(message)

port.on('message', (message: ToWorker) => {
  if (message.type === 'init') {
    initBackend(message.backend as BackendPreference)
      .then((report) => send({ type: 'status', status: { state: 'ready', ...report } }))
      .catch((error: unknown) =>
        send({ type: 'status', status: { state: 'failed', message: error instanceof Error ? error.message : String(error) } })
      )
  }
})
