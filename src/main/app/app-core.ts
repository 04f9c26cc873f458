import { homedir } from 'node:os'
import { join } from 'node:path'
import { SYSTEM_RUN_ID, type AppInfo } from '../../shared/contract'
import { EngineHost } from '../engine-host/engine-host'
import { EventHub } from '../events/event-hub'
import { Dispatcher } from '../handlers/dispatcher'
import { createHandlers, type DesktopServices } from '../handlers/handlers'
import { ClusterClient } from '../cluster/app-client'

export interface AppCoreOptions {
  workerPath: string
  version: string
  mode: AppInfo['mode']
  modeReason?: string
  backend?: string
  /** Where runs live; BNAS_RUNS_DIR, else ~/.bnas-studio/runs. */
  runsRoot?: string
  /** The Electron main process's dialogs and shell; absent in browser mode. */
  desktop?: DesktopServices
}

export interface AppCore {
  engine: EngineHost
  events: EventHub
  dispatcher: Dispatcher
  runsRoot: string
  stop(): Promise<void>
}

export function defaultRunsRoot(): string {
  return process.env.BNAS_RUNS_DIR ?? join(homedir(), '.bnas-studio', 'runs')
}

/** Where the app looks for datasets and puts the ones it downloads. */
export function defaultDatasetsRoot(): string {
  return process.env.BNAS_DATASETS_DIR ?? join(homedir(), '.bnas-studio', 'datasets')
}

/** What both the Electron main process and browser mode host: the engine worker, the event hub, the handlers. */
export function createAppCore(options: AppCoreOptions): AppCore {
  const runsRoot = options.runsRoot ?? defaultRunsRoot()
  const engine = new EngineHost({ workerPath: options.workerPath, backend: options.backend, runsRoot })
  const events = new EventHub()
  const cluster = new ClusterClient(runsRoot, (runId, type, payload) => events.publish(runId, type, payload))
  const dispatcher = new Dispatcher(
    createHandlers({
      engine,
      version: options.version,
      mode: options.mode,
      modeReason: options.modeReason,
      runsRoot,
      datasetsRoot: defaultDatasetsRoot(),
      publish: (type, payload) => events.publish(SYSTEM_RUN_ID, type, payload),
      desktop: options.desktop,
      cluster
    })
  )
  engine.onStatus((status) => events.publish(SYSTEM_RUN_ID, 'engine.status', status))
  engine.onEvent((runId, type, payload) => events.publish(runId, type, payload))
  engine.start()
  return {
    engine,
    events,
    dispatcher,
    runsRoot,
    stop: async () => {
      await cluster.disconnect()
      await engine.stop()
    }
  }
}
