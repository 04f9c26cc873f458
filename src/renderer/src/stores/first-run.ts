import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { AppEvent, ReplyOf } from '../../../shared/contract'
import type { FirstRunPlan } from '../../../shared/first-run'
import type { JobStatus, ProgressRecord } from '../../../shared/jobs'
import { api } from '../api'

/**
 * The first-run path: the plan from the engine side (dataset found here, small settings), then a search, a training
 * of its cell and the exports, one after the other with the ordinary operations. Each step is a real run in the runs
 * folder. The run ids are remembered, so a reload picks the path up where it was (from the runs' own status).
 */
export type FirstRunStep = 'search' | 'train' | 'export'
export type StepState = 'waiting' | 'running' | 'done' | 'failed'
type ExportReport = ReplyOf<'export.run'>

const STORAGE_KEY = 'bnas.firstRun'
const ENDED: readonly JobStatus[] = ['completed', 'failed', 'stopped']

interface Remembered {
  searchRunId?: string
  trainRunId?: string
  /** Set when the exports are done: a reload shows the result instead of exporting again. */
  exports?: ExportReport[]
}

export const useFirstRunStore = defineStore('firstRun', () => {
  const plan = ref<FirstRunPlan | null>(null)
  const planError = ref<string | null>(null)
  const active = ref(false)
  const step = ref<FirstRunStep | null>(null)
  const failedStep = ref<FirstRunStep | null>(null)
  const error = ref<string | null>(null)
  const searchRunId = ref<string | null>(null)
  const trainRunId = ref<string | null>(null)
  const progress = ref<Partial<Record<FirstRunStep, ProgressRecord>>>({})
  const searchAccuracy = ref<number | null>(null)
  const trainAccuracy = ref<number | null>(null)
  const exports = ref<ExportReport[]>([])
  const finished = ref(false)

  /** Run id → its last status from events, and who waits for its end. */
  const statuses = new Map<string, { status: JobStatus; message?: string }>()
  const waiting = new Map<string, (ended: { status: JobStatus; message?: string }) => void>()

  api.onEvent((event: AppEvent) => {
    const current = event.runId === searchRunId.value ? 'search' : event.runId === trainRunId.value ? 'train' : null
    if (event.type === 'job.progress' && current) progress.value = { ...progress.value, [current]: event.payload }
    if (event.type === 'job.epoch' && current === 'search') searchAccuracy.value = event.payload.validationAccuracy
    if (event.type === 'job.epoch' && current === 'train') trainAccuracy.value = event.payload.validationAccuracy
    if (event.type !== 'job.status') return
    const ended = { status: event.payload.status, message: event.payload.message }
    statuses.set(event.runId, ended)
    if (ENDED.includes(ended.status)) waiting.get(event.runId)?.(ended)
  })

  function remember(): void {
    const value: Remembered = {
      ...(searchRunId.value ? { searchRunId: searchRunId.value } : {}),
      ...(trainRunId.value ? { trainRunId: trainRunId.value } : {}),
      ...(finished.value ? { exports: exports.value } : {})
    }
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(value))
  }

  async function loadPlan(): Promise<void> {
    const result = await api.call['firstRun.plan']({})
    if (result.ok) {
      plan.value = result.value
      planError.value = null
    } else planError.value = result.error.message
  }

  /** Resolves when the run has ended: from its events, or its folder's status if it ended before we asked. */
  async function ended(runId: string): Promise<{ status: JobStatus; message?: string }> {
    const seen = statuses.get(runId)
    if (seen && ENDED.includes(seen.status)) return seen
    const promise = new Promise<{ status: JobStatus; message?: string }>((resolve) => waiting.set(runId, resolve))
    const detail = await api.call['runs.get']({ runId })
    if (detail.ok && ENDED.includes(detail.value.summary.status) && !detail.value.summary.active)
      return { status: detail.value.summary.status, message: detail.value.summary.message }
    const result = await promise
    waiting.delete(runId)
    return result
  }

  function fail(at: FirstRunStep, message: string): void {
    failedStep.value = at
    error.value = message
    active.value = false
  }

  async function runSearch(current: FirstRunPlan): Promise<boolean> {
    step.value = 'search'
    const started = await api.call['search.start']({ config: current.search })
    if (!started.ok) {
      fail('search', started.error.message)
      return false
    }
    searchRunId.value = started.value.runId
    remember()
    return waitStep('search', started.value.runId)
  }

  async function waitStep(at: FirstRunStep, runId: string): Promise<boolean> {
    const end = await ended(runId)
    if (end.status === 'completed') return true
    fail(at, end.message ?? `the ${at} run ${end.status}; open it to see why`)
    return false
  }

  async function runTrain(current: FirstRunPlan): Promise<boolean> {
    step.value = 'train'
    const detail = await api.call['runs.get']({ runId: searchRunId.value! })
    if (!detail.ok || detail.value.summary.genotype === null) {
      fail('train', detail.ok ? 'the search ended without a genotype' : detail.error.message)
      return false
    }
    searchAccuracy.value = detail.value.summary.bestAccuracy
    const config = {
      ...current.train,
      dataset: current.dataset,
      genotype: detail.value.summary.genotype as object,
      genotypeSource: `search run ${searchRunId.value}`
    }
    const started = await api.call['train.start']({ config })
    if (!started.ok) {
      fail('train', started.error.message)
      return false
    }
    trainRunId.value = started.value.runId
    remember()
    return waitStep('train', started.value.runId)
  }

  async function runExports(current: FirstRunPlan): Promise<void> {
    step.value = 'export'
    const detail = await api.call['runs.get']({ runId: trainRunId.value! })
    if (detail.ok) trainAccuracy.value = detail.value.summary.bestAccuracy
    exports.value = []
    // Each format on its own: one that fails its check says so, and the others (and the result) still count.
    const problems: string[] = []
    for (const format of current.exports) {
      const result = await api.call['export.run']({ runId: trainRunId.value!, format })
      if (result.ok) exports.value = [...exports.value, result.value]
      else problems.push(`${format}: ${result.error.message}`)
    }
    step.value = null
    finished.value = true
    active.value = false
    if (problems.length > 0) {
      failedStep.value = 'export'
      error.value = problems.join('\n')
    }
    remember()
  }

  /** The one button: search, train, export, each waiting for the one before. */
  async function start(): Promise<void> {
    if (active.value) return
    if (plan.value === null) await loadPlan()
    const current = plan.value
    if (current === null) return
    active.value = true
    finished.value = false
    failedStep.value = null
    error.value = null
    searchRunId.value = null
    trainRunId.value = null
    progress.value = {}
    searchAccuracy.value = null
    trainAccuracy.value = null
    exports.value = []
    if (!(await runSearch(current))) return
    if (!(await runTrain(current))) return
    await runExports(current)
  }

  /** After a reload: follow a path that was under way (or show the one that finished) from its runs' status. */
  async function restore(): Promise<void> {
    if (active.value || finished.value || searchRunId.value) return
    let saved: Remembered
    try {
      saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? '{}') as Remembered
    } catch {
      return
    }
    if (!saved.searchRunId) return
    if (plan.value === null) await loadPlan()
    const current = plan.value
    if (current === null) return
    searchRunId.value = saved.searchRunId
    trainRunId.value = saved.trainRunId ?? null
    if (saved.trainRunId && saved.exports) {
      const [search, train] = await Promise.all([
        api.call['runs.get']({ runId: saved.searchRunId }),
        api.call['runs.get']({ runId: saved.trainRunId })
      ])
      // Deleted since: nothing to show, the button offers a new first run.
      if (!search.ok || !train.ok) {
        searchRunId.value = null
        trainRunId.value = null
        return
      }
      searchAccuracy.value = search.value.summary.bestAccuracy
      trainAccuracy.value = train.value.summary.bestAccuracy
      exports.value = saved.exports
      finished.value = true
      return
    }
    active.value = true
    if (!saved.trainRunId) {
      step.value = 'search'
      if (!(await waitStep('search', saved.searchRunId))) return
      if (!(await runTrain(current))) return
    } else {
      step.value = 'train'
      if (!(await waitStep('train', saved.trainRunId))) return
    }
    await runExports(current)
  }

  function stateOf(at: FirstRunStep): StepState {
    if (failedStep.value === at) return 'failed'
    const order: FirstRunStep[] = ['search', 'train', 'export']
    if (finished.value) return 'done'
    if (step.value === null) return 'waiting'
    const here = order.indexOf(at)
    const now = order.indexOf(step.value)
    return here < now ? 'done' : here === now ? (failedStep.value ? 'waiting' : 'running') : 'waiting'
  }

  const started = computed(() => active.value || finished.value || failedStep.value !== null)

  return {
    plan,
    planError,
    active,
    step,
    error,
    failedStep,
    searchRunId,
    trainRunId,
    progress,
    searchAccuracy,
    trainAccuracy,
    exports,
    finished,
    started,
    loadPlan,
    start,
    restore,
    stateOf
  }
})
