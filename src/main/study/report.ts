import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DARTS_V2, deriveGenotype } from '../../shared/genotype'
import type { EpochRecord } from '../../shared/jobs'
import {
  bandOf,
  genotypeDifference,
  parameterFreeShare,
  resolveStudy,
  statsOf,
  studyRunId,
  type NetworkCost,
  type StudyArmReport,
  type StudyListEntry,
  type StudyNumber,
  type StudyReport,
  ZEROISE_ONLY
} from '../../shared/study'
import { TRAINED_MODEL_FILE } from '../engine/jobs/trained-model'
import { readCheckpoint } from '../runs/checkpoint-file'
import { RunFolder, type RunManifest } from '../runs/run-folder'
import { RunIndex } from '../runs/run-index'
import { trainedNetworkCost, type TrainedNetworkShape } from './cost'
import { listStudyNames, readStudyState } from './state'

interface RunData {
  manifest: RunManifest<Record<string, unknown>> | null
  epochs: EpochRecord[]
  result: Record<string, unknown> | null
}

async function readRun(index: RunIndex, runId: string): Promise<RunData> {
  const folder = new RunFolder(index.pathOf(runId))
  const manifest = await folder.readManifest<Record<string, unknown>>().catch(() => null)
  if (manifest === null) return { manifest: null, epochs: [], result: null }
  const epochs = await folder.readJsonLines<EpochRecord>('epochs')
  const text = await readFile(join(folder.path, 'result.json'), 'utf8').catch(() => null)
  return { manifest, epochs, result: text === null ? null : (JSON.parse(text) as Record<string, unknown>) }
}

const curve = (epochs: EpochRecord[], pick: (record: EpochRecord) => number | null | undefined) =>
  epochs.flatMap((record): Array<[number, number]> => {
    const value = pick(record)
    return value === null || value === undefined ? [] : [[record.epoch, value]]
  })

function meanCost(costs: NetworkCost[]): NetworkCost | null {
  if (costs.length === 0) return null
  const mean = (key: keyof NetworkCost) => costs.reduce((sum, cost) => sum + cost[key], 0) / costs.length
  return {
    ops: mean('ops'),
    bops: mean('bops'),
    flops: mean('flops'),
    binaryParams: mean('binaryParams'),
    floatParams: mean('floatParams'),
    sizeBytes: mean('sizeBytes')
  }
}

/** BNAS parse against DARTS parse of one epoch's α (recorded as softmax; log p has the same softmax). */
function parseDifferenceOf(record: EpochRecord): number | null {
  if (record.alphaNormal === undefined || record.alphaReduce === undefined) return null
  const logs = (matrix: number[][]) => matrix.map((row) => row.map((p) => Math.log(Math.max(p, 1e-30))))
  const [normal, reduce] = [logs(record.alphaNormal), logs(record.alphaReduce)]
  return genotypeDifference(deriveGenotype(normal, reduce), deriveGenotype(normal, reduce, { excludeZeroise: true }))
}

async function costOf(index: RunIndex, runId: string): Promise<NetworkCost | null> {
  const path = join(index.pathOf(runId), TRAINED_MODEL_FILE)
  const saved = await readCheckpoint<TrainedNetworkShape>(path).catch(() => null)
  if (saved === null) return null
  return trainedNetworkCost(saved.state)
}

/**
 * The report of a study, from its state file and its runs' folders only (nothing is kept anywhere else), so it can be
 * rebuilt at any time, while the study runs too. Needs a TF.js backend for the networks' costs (any backend).
 */
export async function buildStudyReport(runsRoot: string, name: string): Promise<StudyReport> {
  const state = await readStudyState(runsRoot, name)
  if (state === null)
    throw new Error(`no study '${name}' in ${runsRoot}: run it first (\`bnas study FILE\`), or check --runs`)
  const study = resolveStudy(state.file)
  const index = new RunIndex(runsRoot)
  const numbers: StudyNumber[] = []
  let completedRuns = 0
  let totalRuns = 0
  let seconds = 0
  const arms: StudyArmReport[] = []
  for (const arm of study.arms) {
    const runs: StudyArmReport['runs'] = []
    const finals: number[] = []
    const bests: number[] = []
    const searchBests: number[] = []
    const costBySeed: StudyArmReport['costBySeed'] = []
    const trainCurves: Array<Array<[number, number]>> = []
    const lossCurves: Array<Array<[number, number]>> = []
    const searchCurves: Array<Array<[number, number]>> = []
    const entropyCurves: Array<Array<[number, number]>> = []
    const freeCurves: Array<Array<[number, number]>> = []
    const freeNormalCurves: Array<Array<[number, number]>> = []
    const zeroiseCurves: Array<Array<[number, number]>> = []
    const parseCurves: Array<Array<[number, number]>> = []
    const genotypes: StudyArmReport['genotypes'] = []
    for (const entry of arm.seeds) {
      const push = (runId: string, metric: string, value: number) =>
        numbers.push({ arm: arm.name, seed: entry.seed, runId, metric, value })
      for (const kind of ['search', 'train'] as const) {
        if (entry[kind] === null) continue
        totalRuns++
        const runId = studyRunId(study.name, arm.name, entry.seed, kind)
        const run = await readRun(index, runId)
        const runSeconds = run.epochs.reduce((sum, record) => sum + record.seconds, 0)
        seconds += runSeconds
        runs.push({
          seed: entry.seed,
          kind,
          runId,
          status: run.manifest?.status ?? 'missing',
          epochsDone: run.epochs.length,
          epochs: (entry[kind] as { epochs: number }).epochs,
          seconds: runSeconds,
          ...(run.manifest?.message === undefined ? {} : { message: run.manifest.message })
        })
        const completed = run.manifest?.status === 'completed'
        if (completed) completedRuns++
        if (kind === 'search') {
          searchCurves.push(curve(run.epochs, (r) => r.validationAccuracy))
          entropyCurves.push(curve(run.epochs, (r) => r.entropy))
          freeCurves.push(curve(run.epochs, (r) => parameterFreeShare(r.genotype)))
          freeNormalCurves.push(curve(run.epochs, (r) => parameterFreeShare(r.genotype, 'normal')))
          zeroiseCurves.push(curve(run.epochs, (r) => parameterFreeShare(r.genotype, 'both', ZEROISE_ONLY)))
          parseCurves.push(curve(run.epochs, parseDifferenceOf))
          if (completed && typeof run.result?.bestValidationAccuracy === 'number') {
            searchBests.push(run.result.bestValidationAccuracy)
            push(runId, 'search best validation accuracy', run.result.bestValidationAccuracy)
            const last = run.epochs[run.epochs.length - 1]
            if (last?.entropy !== undefined) push(runId, 'final α entropy', last.entropy)
            const share = parameterFreeShare(run.result.genotype)
            if (share !== null) push(runId, 'parameter-free share of the searched cell', share)
            if (entry.train === null) genotypes.push({ seed: entry.seed, runId, genotype: run.result.genotype })
          }
        } else {
          trainCurves.push(curve(run.epochs, (r) => r.validationAccuracy))
          lossCurves.push(curve(run.epochs, (r) => r.trainLoss))
          const last = run.epochs[run.epochs.length - 1]
          if (completed && last !== undefined) {
            finals.push(last.validationAccuracy)
            push(runId, 'final test accuracy', last.validationAccuracy)
            const best = Math.max(...run.epochs.map((r) => r.validationAccuracy))
            bests.push(best)
            push(runId, 'best test accuracy', best)
            const cost = await costOf(index, runId)
            if (cost !== null) {
              costBySeed.push({ seed: entry.seed, runId, cost })
              push(runId, 'OPs', cost.ops)
            }
          }
          // darts-v2-binary without a genotype trains DARTS V2 itself: drawn as such beside the searched cells.
          const config = run.manifest?.config
          const genotype = config?.genotype ?? (config?.architecture === 'darts-v2-binary' ? DARTS_V2 : undefined)
          if (genotype !== undefined) genotypes.push({ seed: entry.seed, runId, genotype })
        }
      }
    }
    const train = arm.seeds[0]?.train ?? null
    const search = arm.seeds[0]?.search ?? null
    arms.push({
      // null images: the whole train (or test) split.
      budget: {
        search:
          search === null
            ? null
            : { epochs: search.epochs, images: search.subset ?? null, cells: search.cells, channels: search.channels },
        train:
          train === null
            ? null
            : {
                epochs: train.epochs,
                images: train.subset ?? null,
                testImages: train.testSubset ?? null,
                cells: train.cells,
                channels: train.channels,
                lr: train.lr
              }
      },
      name: arm.name,
      ...(arm.description === undefined ? {} : { description: arm.description }),
      trains:
        train === null
          ? null
          : (train as { architecture?: string }).architecture !== undefined &&
              (train as { architecture?: string }).architecture !== 'cell'
            ? (train as { architecture?: string }).architecture!
            : arm.genotype.kind === 'published'
              ? arm.genotype.name
              : arm.genotype.kind === 'from-search'
                ? 'its searched cell'
                : null,
      seeds: arm.seeds.map((entry) => entry.seed),
      runs,
      finalAccuracy: statsOf(finals),
      bestAccuracy: statsOf(bests),
      searchAccuracy: statsOf(searchBests),
      cost: meanCost(costBySeed.map((entry) => entry.cost)),
      costBySeed,
      trainCurve: bandOf(trainCurves),
      trainLossCurve: bandOf(lossCurves),
      searchCurve: bandOf(searchCurves),
      entropy: bandOf(entropyCurves),
      paramFreeShare: bandOf(freeCurves),
      paramFreeShareNormal: bandOf(freeNormalCurves),
      zeroiseShare: bandOf(zeroiseCurves),
      parseDifference: bandOf(parseCurves),
      genotypes
    })
  }
  return {
    name: study.name,
    ...(study.description === undefined ? {} : { description: study.description }),
    dataset: study.dataset,
    generatedAt: new Date().toISOString(),
    completedRuns,
    totalRuns,
    seconds,
    arms,
    numbers
  }
}

/** Every study of a runs folder with how far it got (read from the run manifests, no report built). */
export async function listStudies(
  runsRoot: string,
  running: ReadonlySet<string> = new Set()
): Promise<StudyListEntry[]> {
  const entries: StudyListEntry[] = []
  const index = new RunIndex(runsRoot)
  for (const name of await listStudyNames(runsRoot)) {
    const state = await readStudyState(runsRoot, name).catch(() => null)
    if (state === null) continue
    let completed = 0
    for (const run of state.runs) {
      const manifest = await new RunFolder(index.pathOf(run.runId)).readManifest().catch(() => null)
      if (manifest?.status === 'completed') completed++
    }
    entries.push({
      name,
      ...(state.file.description === undefined ? {} : { description: state.file.description }),
      dataset: state.file.dataset,
      arms: state.file.arms.length,
      totalRuns: state.runs.length,
      completedRuns: completed,
      state: running.has(name)
        ? 'running'
        : completed === state.runs.length
          ? 'completed'
          : completed === 0
            ? 'not-started'
            : 'incomplete',
      updatedAt: state.updatedAt
    })
  }
  return entries
}
