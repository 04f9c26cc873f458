import type { EventPayloadOf, EventType } from '../../shared/contract'
import { resolveStudy, type ResolvedStudy } from '../../shared/study'
import { JobControl } from '../engine/jobs/control'
import { RunIndex } from '../runs/run-index'
import { LocalExecutor } from './executor'
import { loadBuiltinStudy } from './load'
import { runStudy, type StudyOutcome } from './runner'
import { readStudyState } from './state'

type Emit = <T extends EventType>(runId: string, type: T, payload: EventPayloadOf<T>) => void

export interface StudyStartRequest {
  /** A built-in study to start (or continue), or a study already in the runs folder to continue. */
  name: string
  builtin: boolean
  /** Built-in studies only: run on this dataset instead of the file's. */
  dataset?: string
}

/** The study the app asked for, validated in full (a bad study fails here, before the engine is taken). */
export async function resolveAppStudy(runsRoot: string, request: StudyStartRequest): Promise<ResolvedStudy> {
  if (request.builtin)
    return loadBuiltinStudy(request.name, request.dataset === undefined ? {} : { dataset: request.dataset })
  if (request.dataset !== undefined)
    throw new Error('a study of the runs folder runs on its own dataset: start a built-in study to choose one')
  const state = await readStudyState(runsRoot, request.name)
  if (state === null) throw new Error(`no study '${request.name}' in ${runsRoot}: start a built-in study first`)
  return resolveStudy(state.file)
}

/**
 * A study as the engine worker's one job: its runs are ordinary runs whose events (progress, epochs, status) go out
 * under each run's own id, so the Monitor and Runs pages show them as they show any run; `current()` is the run now
 * running, which the app's pause/stop buttons steer.
 */
export function launchStudy(
  runsRoot: string,
  study: ResolvedStudy,
  emit: Emit
): { control: JobControl; current: () => string; done: Promise<StudyOutcome> } {
  const control = new JobControl()
  const index = new RunIndex(runsRoot)
  let current = ''
  const done = runStudy(study, {
    runsRoot,
    executor: new LocalExecutor(control),
    shouldStop: () => control.shouldStop,
    reporter: {
      run: (progress) => {
        current = progress.runId
        if (progress.action !== 'skip')
          emit(progress.runId, 'log', {
            level: 'info',
            message: `study ${study.name} [${progress.index}/${progress.total}]: arm '${progress.arm}' seed ${progress.seed}, ${progress.kind}`
          })
      },
      listener: (progress) => {
        const folder = index.pathOf(progress.runId)
        emit(progress.runId, 'job.status', { status: 'running', folder })
        return {
          progress: (record) => emit(progress.runId, 'job.progress', record),
          epoch: (record) => emit(progress.runId, 'job.epoch', record),
          log: (message) => emit(progress.runId, 'log', { level: 'info', message })
        }
      },
      done: (progress, status) => emit(progress.runId, 'job.status', { status, folder: index.pathOf(progress.runId) }),
      failed: (progress, message) => {
        emit(progress.runId, 'log', { level: 'error', message })
        emit(progress.runId, 'job.status', { status: 'failed', message, folder: index.pathOf(progress.runId) })
      }
    }
  }).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error)
    if (current !== '') {
      emit(current, 'log', { level: 'error', message })
      emit(current, 'job.status', { status: 'failed', message, folder: index.pathOf(current) })
    }
    throw error
  })
  return { control, current: () => current, done }
}
