import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { searchConfigSchema, trainConfigSchema } from '../../shared/jobs'
import {
  StudyError,
  studyRunId,
  trainConfigFor,
  type ResolvedArm,
  type ResolvedArmSeed,
  type ResolvedStudy
} from '../../shared/study'
import type { JobListener } from '../engine/jobs/search-job'
import { RunFolder, type RunManifest } from '../runs/run-folder'
import { RunIndex } from '../runs/run-index'
import type { StudyExecutor, StudyJob } from './executor'
import { readStudyState, writeStudyState, type StudyRunEntry, type StudyState } from './state'

/** What the runner tells its caller while it works: which arm, seed and run, and that run's own progress. */
export interface StudyProgress {
  /** 1-based position of this run among the study's runs. */
  index: number
  total: number
  arm: string
  seed: number
  kind: 'search' | 'train'
  runId: string
  action: 'start' | 'resume' | 'skip'
}

export interface StudyReporter {
  run(progress: StudyProgress): void
  /** The listener of the run just announced. */
  listener(progress: StudyProgress): JobListener
  done?(progress: StudyProgress, status: 'completed' | 'stopped'): void
  /** A run failed (or could not start): the study goes on with the runs that do not need it. */
  failed?(progress: StudyProgress, message: string): void
}

export interface StudyOutcome {
  /** 'incomplete': every run was tried, but some failed (running the study again retries them). */
  status: 'completed' | 'stopped' | 'incomplete'
  started: number
  resumed: number
  skipped: number
  /** Runs that failed, and trainings not tried because the search they train failed. */
  failed: Array<{ runId: string; message: string }>
  runs: StudyRunEntry[]
}

interface PlannedRun {
  arm: ResolvedArm
  entry: ResolvedArmSeed
  kind: 'search' | 'train'
  runId: string
}

/** Seed-major order: every arm's first seed before any second seed, so a comparison exists as early as possible. */
export function planStudy(study: ResolvedStudy): PlannedRun[] {
  const planned: PlannedRun[] = []
  const longest = Math.max(...study.arms.map((arm) => arm.seeds.length))
  for (let i = 0; i < longest; i++)
    for (const arm of study.arms) {
      const entry = arm.seeds[i]
      if (entry === undefined) continue
      for (const kind of ['search', 'train'] as const)
        if (entry[kind] !== null)
          planned.push({ arm, entry, kind, runId: studyRunId(study.name, arm.name, entry.seed, kind) })
    }
  return planned
}

/** The parts of a config two runs may differ in without being different experiments. */
function comparable(
  kind: 'search' | 'train',
  config: unknown,
  genotypeFromSearch: boolean
): Record<string, unknown> | null {
  const parsed = (kind === 'search' ? searchConfigSchema : trainConfigSchema).safeParse(config)
  if (!parsed.success) return null
  const { checkpointEvery: _c, progressEvery: _p, ...rest } = parsed.data as Record<string, unknown>
  // A 'from-search' training gets its genotype from the search: compared through the search run instead.
  if (genotypeFromSearch) {
    delete rest.genotype
    delete rest.genotypeSource
  }
  return rest
}

/** The settings in which two configs differ (all of them when one is not a valid config). */
function differingSettings(a: Record<string, unknown> | null, b: Record<string, unknown> | null): string[] {
  if (a === null || b === null) return ['the whole config']
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])]
  return keys.filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key])).sort()
}

async function manifestOf(path: string): Promise<RunManifest | null> {
  const entries = await readdir(path).catch(() => null)
  if (entries === null || entries.length === 0) return null
  return new RunFolder(path).readManifest()
}

/**
 * Runs a study: every arm × seed as ordinary runs in `runsRoot`, search then training when the arm has both.
 * Completed runs are skipped, stopped, failed or killed ones resumed from their checkpoints, so running a study
 * again continues it. Before anything runs, each existing run is checked to be the experiment the file describes
 * now (a changed setting would otherwise mix two experiments in one report).
 */
export async function runStudy(
  study: ResolvedStudy,
  options: { runsRoot: string; executor: StudyExecutor; reporter: StudyReporter; shouldStop?: () => boolean }
): Promise<StudyOutcome> {
  const index = new RunIndex(options.runsRoot)
  const planned = planStudy(study)
  const manifests = new Map<string, RunManifest | null>()
  for (const run of planned) {
    const manifest = await manifestOf(index.pathOf(run.runId))
    manifests.set(run.runId, manifest)
    if (manifest === null) continue
    if (manifest.kind !== run.kind)
      throw new StudyError(`arm '${run.arm.name}': run ${run.runId} exists but is a ${manifest.kind} run`)
    const wanted = run.kind === 'search' ? run.entry.search : run.entry.train
    const fromSearch = run.kind === 'train' && run.arm.genotype.kind === 'from-search'
    const differing = differingSettings(
      comparable(run.kind, manifest.config, fromSearch),
      comparable(run.kind, wanted, fromSearch)
    )
    if (differing.length > 0)
      throw new StudyError(
        `arm '${run.arm.name}': run ${run.runId} exists with other settings than the study file gives now (${run.kind}.${differing.join(`, ${run.kind}.`)}): delete that run folder, or give the study another name`
      )
  }

  const previous = await readStudyState(options.runsRoot, study.name)
  const now = new Date().toISOString()
  const state: StudyState = {
    name: study.name,
    file: study.file,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
    runs: planned.map((run) => ({ arm: run.arm.name, seed: run.entry.seed, kind: run.kind, runId: run.runId }))
  }
  await writeStudyState(options.runsRoot, state)

  const outcome: StudyOutcome = {
    status: 'completed',
    started: 0,
    resumed: 0,
    skipped: 0,
    failed: [],
    runs: state.runs
  }
  const failedIds = new Set<string>()
  for (const [position, run] of planned.entries()) {
    const path = index.pathOf(run.runId)
    const manifest = manifests.get(run.runId) ?? (await manifestOf(path))
    const progress: StudyProgress = {
      index: position + 1,
      total: planned.length,
      arm: run.arm.name,
      seed: run.entry.seed,
      kind: run.kind,
      runId: run.runId,
      action: manifest === null ? 'start' : manifest.status === 'completed' ? 'skip' : 'resume'
    }
    options.reporter.run(progress)
    if (progress.action === 'skip') {
      outcome.skipped++
      continue
    }
    if (options.shouldStop?.() === true) return { ...outcome, status: 'stopped' }
    const searchId = studyRunId(study.name, run.arm.name, run.entry.seed, 'search')
    if (run.kind === 'train' && run.arm.genotype.kind === 'from-search' && failedIds.has(searchId)) {
      const message = `not trained: its search ${searchId} failed`
      outcome.failed.push({ runId: run.runId, message })
      options.reporter.failed?.(progress, message)
      continue
    }
    let status: 'completed' | 'stopped'
    try {
      const job: StudyJob =
        run.kind === 'search'
          ? { kind: 'search', runId: run.runId, path, config: run.entry.search!, resume: progress.action === 'resume' }
          : {
              kind: 'train',
              runId: run.runId,
              path,
              config: trainConfigFor(study.name, run.arm, run.entry, await searchGenotype(index, study, run)),
              resume: progress.action === 'resume'
            }
      status = await options.executor.run(job, options.reporter.listener(progress))
    } catch (error) {
      // One arm's failure (a diverging training, a worker lost) must not cost the other arms their runs: the run
      // folder records why, the report counts it out, and running the study again retries it.
      const message = error instanceof Error ? error.message : String(error)
      failedIds.add(run.runId)
      outcome.failed.push({ runId: run.runId, message })
      options.reporter.failed?.(progress, message)
      continue
    }
    if (progress.action === 'resume') outcome.resumed++
    else outcome.started++
    options.reporter.done?.(progress, status)
    if (status === 'stopped') return { ...outcome, status: 'stopped' }
  }
  await writeStudyState(options.runsRoot, { ...state, updatedAt: new Date().toISOString() })
  return outcome.failed.length > 0 ? { ...outcome, status: 'incomplete' } : outcome
}

/** The best genotype of the arm's search for this seed (its result.json), for a 'from-search' training. */
async function searchGenotype(index: RunIndex, study: ResolvedStudy, run: PlannedRun): Promise<unknown> {
  if (run.arm.genotype.kind !== 'from-search') return null
  const searchId = studyRunId(study.name, run.arm.name, run.entry.seed, 'search')
  const text = await readFile(join(index.pathOf(searchId), 'result.json'), 'utf8').catch(() => null)
  if (text === null)
    throw new Error(`arm '${run.arm.name}', seed ${run.entry.seed}: search ${searchId} has no result.json yet`)
  return (JSON.parse(text) as { genotype?: unknown }).genotype ?? null
}
