import type { AppInfo, EventPayloadOf, EventType, ReplyOf } from '../../shared/contract'
import { findDatasets, recommendedDataset } from '../datasets/found'
import { DownloadManager } from '../datasets/download-manager'
import { firstRunBudget, firstRunPlan } from '../first-run/plan'
import { formatGenotypeJson, formatGenotypePython, parseGenotype, PUBLISHED_GENOTYPES } from '../../shared/genotype'
import { ENGINE_OPERATIONS, type EngineOperation } from '../engine-host/engine-service'
import type { EngineHost } from '../engine-host/engine-host'
import { RunIndex } from '../runs/run-index'
import type { Handler, HandlerTable } from './dispatcher'
import type { ClusterClient } from '../cluster/app-client'
import { createClusterHandlers } from '../cluster/handlers'

/** What only the desktop window can do; absent in browser mode, where the server cannot touch the user's screen. */
export interface DesktopServices {
  chooseFolder(title?: string): Promise<string | null>
  showFolder(path: string): void
}

export interface HandlerContext {
  engine: EngineHost
  version: string
  mode: AppInfo['mode']
  modeReason?: string
  runsRoot: string
  /** Where datasets are looked for and downloaded to (BNAS_DATASETS_DIR, else ~/.bnas-studio/datasets). */
  datasetsRoot: string
  /** App-wide events (run id 'system'): dataset downloads. */
  publish: <T extends EventType>(type: T, payload: EventPayloadOf<T>) => void
  desktop?: DesktopServices
  /** The Redis queue and store of the cluster, once the user connects the app to one (the Cluster page). */
  cluster: ClusterClient
}

/**
 * The handlers of every operation in src/shared/contract/operations.ts, shared by both transports. The engine's
 * operations are forwarded to its worker thread; the few cheap ones are answered here.
 */
export function createHandlers(context: HandlerContext): HandlerTable {
  const forward = Object.fromEntries(
    ENGINE_OPERATIONS.map((op) => [
      op,
      (request: unknown) => context.engine.request(op, request) as Promise<ReplyOf<typeof op>>
    ])
  ) as { [K in EngineOperation]: Handler<K> }
  const downloads = new DownloadManager({
    root: context.datasetsRoot,
    report: (state) => context.publish('dataset.download', state)
  })
  return {
    ...forward,
    ...createClusterHandlers(context.cluster),
    // A job of the cluster is steered through Redis, a local one through the engine worker.
    'jobs.control': async (request) => {
      if (!(await context.cluster.has(request.runId))) return forward['jobs.control'](request)
      const { state } = await context.cluster.control(request.runId, request.action)
      return {
        runId: request.runId,
        status:
          request.action === 'stop'
            ? 'stopping'
            : state === 'active' && request.action === 'pause'
              ? 'paused'
              : 'running'
      }
    },
    'app.info': () => ({
      name: 'BNAS Studio',
      version: context.version,
      mode: context.mode,
      ...(context.modeReason === undefined ? {} : { modeReason: context.modeReason }),
      platform: `${process.platform}-${process.arch}`,
      runsRoot: context.runsRoot,
      engine: context.engine.status
    }),
    'engine.status': () => context.engine.status,
    'genotypes.published': () =>
      Object.entries(PUBLISHED_GENOTYPES).map(([name, entry]) => ({
        name,
        description: entry.description,
        text: formatGenotypePython(entry.genotype)
      })),
    'desktop.chooseFolder': async ({ title }) => ({ path: await desktopOf(context).chooseFolder(title) }),
    'desktop.revealRun': ({ runId }) => {
      desktopOf(context).showFolder(new RunIndex(context.runsRoot).pathOf(runId))
      return { runId }
    },
    'datasets.found': () => {
      const datasets = findDatasets(context.datasetsRoot)
      return {
        root: context.datasetsRoot,
        recommended: recommendedDataset(datasets).spec!,
        datasets,
        downloads: downloads.list()
      }
    },
    'datasets.download': ({ kind }) => downloads.start(kind),
    'firstRun.plan': () => firstRunPlan(recommendedDataset(findDatasets(context.datasetsRoot)), firstRunBudget()),
    'genotypes.parse': ({ text }) => {
      const genotype = parseGenotype(text)
      return { json: formatGenotypeJson(genotype), python: formatGenotypePython(genotype) }
    }
  }
}

function desktopOf(context: HandlerContext): DesktopServices {
  if (context.desktop === undefined)
    throw new Error('only the desktop app can open system dialogs; in browser mode, type the path instead')
  return context.desktop
}
