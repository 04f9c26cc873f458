import { defineStore } from 'pinia'
import { ref, shallowRef, triggerRef } from 'vue'
import type { AppEvent } from '../../../shared/contract'
import type { EpochRecord, JobStatus, ProgressRecord, RunSummary } from '../../../shared/jobs'
import { api } from '../api'
import { mergeEpochs, mergeProgress } from '../lib/run-merge'

/** One run as a page shows it: the folder's history (runs.get) merged with the live events since. */
export interface LiveRun {
  runId: string
  summary: RunSummary | null
  config: unknown
  progress: ProgressRecord[]
  epochs: EpochRecord[]
  log: string[]
  status: JobStatus | null
  message: string | null
  loaded: boolean
  error: string | null
  /** Newest event sequence number applied. */
  lastSeq: number
}

/** How often buffered events reach the reactive state: charts redraw at most this often, whatever the step rate. */
export const FLUSH_MS = 250
const LOG_LIMIT = 2000

function emptyRun(runId: string): LiveRun {
  return {
    runId,
    summary: null,
    config: null,
    progress: [],
    epochs: [],
    log: [],
    status: null,
    message: null,
    loaded: false,
    error: null,
    lastSeq: -1
  }
}

/**
 * Runs: the list of run folders and, for the runs a page opened, their live state. Events are buffered and applied
 * every FLUSH_MS in one batch (one reactive update per batch, not per event), and events of a run that is being
 * fetched wait until its history has arrived, so nothing is applied twice or lost in between.
 */
export const useRunsStore = defineStore('runs', () => {
  const list = ref<RunSummary[]>([])
  const listError = ref<string | null>(null)
  const listLoading = ref(false)
  /** Run id → live state; a shallowRef of plain objects, re-triggered once per flush. */
  const live = shallowRef(new Map<string, LiveRun>())
  const buffer: AppEvent[] = []
  // Runs whose history is being fetched.
  const fetching = new Map<string, Promise<void>>()
  let timer: ReturnType<typeof setTimeout> | null = null
  let listTimer: ReturnType<typeof setTimeout> | null = null

  async function refresh(): Promise<void> {
    listLoading.value = true
    const result = await api.call['runs.list']({})
    listLoading.value = false
    if (result.ok) {
      list.value = result.value
      listError.value = null
    } else listError.value = result.error.message
  }

  /**
   * Loads a run's history (again) and starts following it. Live events are applied as they come, also while the
   * history is on its way (the engine answers between steps, which can take seconds on a slow machine); the history
   * is merged in when it arrives, keyed by step and epoch, so nothing shows twice.
   */
  function open(runId: string, attempt = 0): Promise<void> {
    const existing = fetching.get(runId)
    if (existing) return existing
    if (!live.value.has(runId)) live.value.set(runId, emptyRun(runId))
    const task = (async () => {
      const result = await api.call['runs.get']({ runId })
      const run = live.value.get(runId) ?? emptyRun(runId)
      if (result.ok) {
        const detail = result.value
        run.summary = detail.summary
        run.config = detail.config
        run.progress = mergeProgress(
          detail.progress,
          run.progress.filter((record) => record.step > (detail.progress.at(-1)?.step ?? -1))
        )
        run.epochs = mergeEpochs(
          detail.epochs,
          run.epochs.filter((record) => record.epoch > (detail.epochs.at(-1)?.epoch ?? -1))
        )
        const history = detail.log.split('\n').filter((line) => line !== '')
        const recent = history.slice(-50).join('\n')
        run.log = [...history, ...run.log.filter((line) => !recent.includes(line))].slice(-LOG_LIMIT)
        // A status event seen while fetching is newer than the folder's manifest.
        if (run.lastSeq < 0 || run.status === null) run.status = detail.summary.status
        run.message = run.message ?? detail.summary.message ?? null
        run.error = null
      } else if (attempt < 5) {
        // A run that has just started may not have written its folder yet (its first event comes before): ask again
        // a few times before saying it is not there.
        setTimeout(() => void open(runId, attempt + 1), 1000)
        return
      } else run.error = result.error.message
      run.loaded = true
      live.value.set(runId, { ...run })
      triggerRef(live)
    })().finally(() => fetching.delete(runId))
    fetching.set(runId, task)
    return task
  }

  function apply(event: AppEvent): void {
    const run = live.value.get(event.runId)
    if (run === undefined) return
    if (event.seq <= run.lastSeq) return
    run.lastSeq = event.seq
    switch (event.type) {
      case 'job.progress':
        run.progress = mergeProgress(run.progress, [event.payload])
        if (run.status !== 'paused') run.status = 'running'
        break
      case 'job.epoch':
        run.epochs = mergeEpochs(run.epochs, [event.payload])
        break
      case 'job.status':
        run.status = event.payload.status
        run.message = event.payload.message ?? null
        break
      case 'log': {
        const line =
          event.payload.level === 'info' ? event.payload.message : `[${event.payload.level}] ${event.payload.message}`
        if (run.log.at(-1)?.endsWith(event.payload.message) !== true)
          run.log = [...run.log.slice(-(LOG_LIMIT - 1)), line]
        break
      }
    }
  }

  function flush(): void {
    timer = null
    const ready = buffer.splice(0)
    if (ready.length === 0) return
    let statusChanged = false
    for (const event of ready) {
      apply(event)
      if (event.type === 'job.status') statusChanged = true
    }
    // A new object per changed run: pages compute from the run object, and an unchanged identity would not tell them.
    for (const runId of new Set(ready.map((event) => event.runId))) {
      const run = live.value.get(runId)
      if (run) live.value.set(runId, { ...run })
    }
    triggerRef(live)
    // A run that started, ended, paused or resumed changes the list too.
    if (statusChanged) {
      if (listTimer !== null) clearTimeout(listTimer)
      listTimer = setTimeout(() => void refresh(), 300)
    }
  }

  function schedule(): void {
    if (timer === null && buffer.length > 0) timer = setTimeout(flush, FLUSH_MS)
  }

  api.onEvent((event) => {
    if (event.type === 'engine.status') return
    if (event.type === 'job.status' && !live.value.has(event.runId)) {
      // A run this page did not open (started elsewhere, or by another window): follow it from now on.
      live.value.set(event.runId, emptyRun(event.runId))
      void open(event.runId)
    }
    buffer.push(event)
    schedule()
  })

  function get(runId: string): LiveRun | undefined {
    return live.value.get(runId)
  }

  async function control(runId: string, action: 'pause' | 'resume' | 'stop'): Promise<string | null> {
    const result = await api.call['jobs.control']({ runId, action })
    if (!result.ok) return result.error.message
    const run = live.value.get(runId)
    if (run) {
      live.value.set(runId, { ...run, status: result.value.status === 'stopping' ? run.status : result.value.status })
      triggerRef(live)
    }
    return null
  }

  async function resume(runId: string): Promise<string | null> {
    const result = await api.call['runs.resume']({ runId })
    if (!result.ok) return result.error.message
    return null
  }

  async function remove(runId: string): Promise<string | null> {
    const result = await api.call['runs.delete']({ runId })
    if (!result.ok) return result.error.message
    live.value.delete(runId)
    triggerRef(live)
    list.value = list.value.filter((run) => run.id !== runId)
    return null
  }

  return { list, listError, listLoading, live, refresh, open, get, control, resume, remove }
})
