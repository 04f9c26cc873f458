import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { Router } from 'vue-router'
import type { ClusterJobSummary, ClusterOverview, SweepGrid } from '../../../shared/cluster'
import { api } from '../api'

const SETTINGS_KEY = 'bnas.cluster'

/** A priority as typed in a form: blank is none; anything else goes to the contract, which says what is wrong. */
export const parsePriority = (text: string): number | undefined => (text.trim() === '' ? undefined : Number(text))
const POLL_MS = 2000

/**
 * The cluster as the app sees it: the Redis URL and store folder (remembered in this browser), the queue's counts,
 * workers and jobs (polled while a page shows them), and the calls that queue, steer and open remote runs.
 */
export const useClusterStore = defineStore('cluster', () => {
  const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') as { url?: string; store?: string }
  const url = ref(saved.url ?? 'redis://127.0.0.1:6379')
  const store = ref(saved.store ?? '')
  const overview = ref<ClusterOverview | null>(null)
  const error = ref<string | null>(null)
  const connecting = ref(false)
  const connected = computed(() => overview.value?.connected === true)
  let timer: ReturnType<typeof setInterval> | null = null
  let watchers = 0

  async function connect(): Promise<boolean> {
    connecting.value = true
    const result = await api.call['cluster.connect']({ url: url.value.trim(), store: store.value.trim() })
    connecting.value = false
    if (!result.ok) {
      error.value = result.error.message
      return false
    }
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ url: url.value.trim(), store: store.value.trim() }))
    overview.value = result.value
    error.value = null
    return true
  }

  async function disconnect(): Promise<void> {
    await api.call['cluster.disconnect']({})
    overview.value = null
  }

  async function refresh(): Promise<void> {
    const result = await api.call['cluster.overview']({})
    if (result.ok) overview.value = result.value
    else error.value = result.error.message
  }

  /** Pages showing cluster state call this on mount and the returned function on unmount. */
  function follow(): () => void {
    watchers += 1
    void refresh()
    if (timer === null) timer = setInterval(() => void refresh(), POLL_MS)
    return () => {
      watchers -= 1
      if (watchers === 0 && timer !== null) {
        clearInterval(timer)
        timer = null
      }
    }
  }

  async function submit(
    kind: 'search' | 'train',
    config: unknown,
    priority?: number
  ): Promise<string | { error: string }> {
    const result = await api.call['cluster.submit']({
      kind,
      config,
      ...(priority === undefined ? {} : { priority })
    } as never)
    if (!result.ok) return { error: result.error.message }
    void refresh()
    return result.value.runId
  }

  async function sweep(
    kind: 'search' | 'train',
    base: Record<string, unknown>,
    grid: SweepGrid,
    priority?: number
  ): Promise<{ sweep: string; runIds: string[] } | { error: string }> {
    const result = await api.call['cluster.sweep']({
      kind,
      base,
      grid,
      ...(priority === undefined ? {} : { priority })
    })
    if (!result.ok) return { error: result.error.message }
    void refresh()
    return result.value
  }

  async function control(runId: string, action: 'pause' | 'resume' | 'stop'): Promise<string | null> {
    const result = await api.call['cluster.control']({ runId, action })
    void refresh()
    return result.ok ? null : result.error.message
  }

  /**
   * The Search and Train pages' "run on the cluster": queues the config with the priority typed (blank: none) and
   * shows the Cluster page; answers the error to show, or null.
   */
  async function queueAndShow(
    kind: 'search' | 'train',
    config: unknown,
    priorityText: string,
    router: Router
  ): Promise<string | null> {
    const queued = await submit(kind, config, parsePriority(priorityText))
    if (typeof queued !== 'string') return queued.error
    void router.push('/cluster')
    return null
  }

  /** Fetches the run from the store into the local runs folder; then every page opens it as a local run. */
  async function open(runId: string): Promise<string | null> {
    const result = await api.call['cluster.open']({ runId })
    return result.ok ? null : result.error.message
  }

  const jobOf = (runId: string): ClusterJobSummary | undefined =>
    overview.value?.jobs.find((job) => job.runId === runId)

  return {
    url,
    store,
    overview,
    error,
    connecting,
    connected,
    connect,
    disconnect,
    refresh,
    follow,
    submit,
    queueAndShow,
    sweep,
    control,
    open,
    jobOf
  }
})
