import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ReplyOf } from '../../../shared/contract'
import type { StudyReport } from '../../../shared/study'
import { api } from '../api'

const POLL_MS = 3000

/**
 * Studies as the Studies page shows them: the built-in ones, those of the runs folder with how far each got, and the
 * report of the one selected, rebuilt from its runs every few seconds while it runs.
 */
export const useStudiesStore = defineStore('studies', () => {
  const list = ref<ReplyOf<'studies.list'> | null>(null)
  const selected = ref<string | null>(null)
  const report = ref<StudyReport | null>(null)
  const error = ref<string | null>(null)
  const loading = ref(false)
  const starting = ref(false)
  let timer: ReturnType<typeof setInterval> | null = null

  const running = computed(() => list.value?.studies.find((study) => study.state === 'running')?.name ?? null)

  async function refresh(): Promise<void> {
    const result = await api.call['studies.list']({})
    if (!result.ok) {
      error.value = result.error.message
      return
    }
    list.value = result.value
    if (selected.value === null && result.value.studies.length > 0) selected.value = result.value.studies[0]!.name
    // A finished study's report does not change: rebuild it only while that study runs, or when its count of
    // completed runs moved on since the report was built (the last run ended between two polls).
    const name = selected.value
    const entry = result.value.studies.find((study) => study.name === name)
    if (
      name !== null &&
      (running.value === name ||
        report.value?.name !== name ||
        (entry !== undefined && entry.completedRuns !== report.value.completedRuns))
    )
      await loadReport(name)
  }

  async function loadReport(name: string): Promise<void> {
    loading.value = report.value?.name !== name
    const result = await api.call['studies.report']({ name })
    loading.value = false
    if (selected.value !== name) return // another study was picked meanwhile
    if (result.ok) {
      report.value = result.value
      error.value = null
    } else {
      report.value = null
      error.value = result.error.message
    }
  }

  async function select(name: string): Promise<void> {
    selected.value = name
    await loadReport(name)
  }

  /** Starts a built-in study (or continues one of the runs folder); the error names the arm and field of a bad one. */
  async function start(name: string, builtin: boolean, dataset?: string): Promise<boolean> {
    starting.value = true
    const result = await api.call['studies.start']({ name, builtin, ...(dataset ? { dataset } : {}) })
    starting.value = false
    if (!result.ok) {
      error.value = result.error.message
      return false
    }
    error.value = null
    selected.value = result.value.name
    await refresh()
    return true
  }

  /** The page calls this on mount and the returned function on unmount. */
  function follow(): () => void {
    void refresh()
    if (timer === null) timer = setInterval(() => void refresh(), POLL_MS)
    return () => {
      if (timer !== null) clearInterval(timer)
      timer = null
    }
  }

  return { list, selected, report, error, loading, starting, running, refresh, select, start, follow }
})
