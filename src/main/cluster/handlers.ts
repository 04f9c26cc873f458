import type { Handler } from '../handlers/dispatcher'
import type { ClusterClient } from './app-client'

type ClusterOperation =
  | 'cluster.connect'
  | 'cluster.disconnect'
  | 'cluster.overview'
  | 'cluster.submit'
  | 'cluster.sweep'
  | 'cluster.control'
  | 'cluster.open'

/** The handlers of the contract's cluster operations (src/shared/cluster/operations.ts). */
export function createClusterHandlers(cluster: ClusterClient): { [K in ClusterOperation]: Handler<K> } {
  return {
    'cluster.connect': ({ url, store }) => cluster.connect(url, store),
    'cluster.disconnect': async () => {
      await cluster.disconnect()
      return { connected: false as const }
    },
    'cluster.overview': () => cluster.overview(),
    'cluster.submit': async (request) => ({
      runId: await cluster.submit(request.kind, request.config, request.priority)
    }),
    'cluster.sweep': ({ kind, base, grid, priority, name }) => cluster.sweep(kind, base, grid, priority, name),
    'cluster.control': ({ runId, action }) => cluster.control(runId, action),
    'cluster.open': ({ runId }) => cluster.open(runId)
  }
}
