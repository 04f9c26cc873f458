import { SYSTEM_RUN_ID, type AppInfo } from '../../shared/contract'
import { EngineHost } from '../engine-host/engine-host'
import { EventHub } from '../events/event-hub'
import { Dispatcher } from '../handlers/dispatcher'
import { createHandlers } from '../handlers/handlers'

export interface AppCoreOptions {
  workerPath: string
  version: string
  mode: AppInfo['mode']
  modeReason?: string
  backend?: string
}

export interface AppCore {
  engine: EngineHost
  events: EventHub
  dispatcher: Dispatcher
  stop(): Promise<void>
}

/** What both the Electron main process and browser mode host: the engine worker, the event hub, the handlers. */
export function createAppCore(options: AppCoreOptions): AppCore {
  const engine = new EngineHost({ workerPath: options.workerPath, backend: options.backend })
  const events = new EventHub()
  const dispatcher = new Dispatcher(createHandlers({ engine, version: options.version, mode: options.mode, modeReason: options.modeReason }))
  engine.onStatus((status) => events.publish(SYSTEM_RUN_ID, 'engine.status', status))
  engine.start()
  return { engine, events, dispatcher, stop: () => engine.stop() }
}
