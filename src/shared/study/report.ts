import { z } from 'zod'
import { runIdSchema } from '../jobs'

/**
 * A study's report as the app page, the standalone HTML file, the JSON export and the docs' markdown all read it:
 * built from the runs' folders only, every number traceable to its run (`numbers`).
 */
const stats = z.object({ mean: z.number(), std: z.number(), min: z.number(), max: z.number(), n: z.number().int() })
export type Stats = z.infer<typeof stats>

/** One epoch of a curve over seeds: mean and the min/max band, n = seeds that reached this epoch. */
const curvePoint = z.object({
  epoch: z.number().int(),
  mean: z.number(),
  min: z.number(),
  max: z.number(),
  n: z.number().int()
})
export type CurvePoint = z.infer<typeof curvePoint>

const runRow = z.object({
  seed: z.number().int(),
  kind: z.enum(['search', 'train']),
  runId: runIdSchema,
  /** 'missing' until the runner has created the run. */
  status: z.enum(['missing', 'running', 'paused', 'stopped', 'completed', 'failed']),
  epochsDone: z.number().int(),
  epochs: z.number().int(),
  seconds: z.number(),
  /** Why a run failed or stopped, from its folder. */
  message: z.string().optional()
})

const cost = z.object({
  ops: z.number(),
  bops: z.number(),
  flops: z.number(),
  binaryParams: z.number(),
  floatParams: z.number(),
  sizeBytes: z.number()
})
export type NetworkCost = z.infer<typeof cost>

export const studyArmReportSchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  /** What is trained: a published genotype, the arm's own search result, or another architecture. */
  trains: z.string().nullable(),
  seeds: z.array(z.number().int()),
  runs: z.array(runRow),
  /** Test accuracy after the last training epoch (spec 5.2: the run's result), over completed training runs. */
  finalAccuracy: stats.nullable(),
  /** Best test accuracy of any epoch, over completed training runs. */
  bestAccuracy: stats.nullable(),
  /** Search: the best end-of-epoch validation accuracy, over completed searches. */
  searchAccuracy: stats.nullable(),
  /** Cost of the trained network (per seed the same unless the searched cell differs: then the mean). */
  cost: cost.nullable(),
  costBySeed: z.array(z.object({ seed: z.number().int(), runId: runIdSchema, cost })),
  trainCurve: z.array(curvePoint),
  trainLossCurve: z.array(curvePoint),
  searchCurve: z.array(curvePoint),
  entropy: z.array(curvePoint),
  /** Share of parameter-free ops (Zeroise, pools, skip) among the derived cell's edges, both cells, per epoch. */
  paramFreeShare: z.array(curvePoint),
  paramFreeShareNormal: z.array(curvePoint),
  /** Share of Zeroise alone among the derived cell's edges (both cells), per epoch: what study 2 turns on and off. */
  zeroiseShare: z.array(curvePoint),
  /**
   * Share of the cell's edges on which the BNAS parse (Zeroise a candidate) and the DARTS parse (Zeroise ignored) of
   * the same α differ, per epoch: 0 means Zeroise as a layer changed nothing in that search.
   */
  parseDifference: z.array(curvePoint),
  /** The budget of the arm's runs as configured (seed 1's; the seeds differ only in their seed). */
  budget: z.object({
    search: z
      .object({
        epochs: z.number().int(),
        images: z.number().int().nullable(),
        cells: z.number().int(),
        channels: z.number().int()
      })
      .nullable(),
    train: z
      .object({
        epochs: z.number().int(),
        images: z.number().int().nullable(),
        testImages: z.number().int().nullable(),
        cells: z.number().int(),
        channels: z.number().int(),
        lr: z.number()
      })
      .nullable()
  }),
  /** The genotype each seed ended with: the search's best (search arms) or the one trained. */
  genotypes: z.array(z.object({ seed: z.number().int(), runId: runIdSchema, genotype: z.unknown() }))
})
export type StudyArmReport = z.infer<typeof studyArmReportSchema>

export const studyNumberSchema = z.object({
  arm: z.string(),
  seed: z.number().int(),
  runId: runIdSchema,
  metric: z.string(),
  value: z.number()
})
export type StudyNumber = z.infer<typeof studyNumberSchema>

export const studyReportSchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  dataset: z.string(),
  generatedAt: z.string(),
  /** Runs completed of all the study's runs. */
  completedRuns: z.number().int(),
  totalRuns: z.number().int(),
  /** Wall-clock seconds of every epoch of every run, summed: the compute the study took. */
  seconds: z.number(),
  arms: z.array(studyArmReportSchema),
  numbers: z.array(studyNumberSchema)
})
export type StudyReport = z.infer<typeof studyReportSchema>

export const studyListEntrySchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  dataset: z.string(),
  arms: z.number().int(),
  totalRuns: z.number().int(),
  completedRuns: z.number().int(),
  /** 'running' while this app runs it. */
  state: z.enum(['not-started', 'incomplete', 'completed', 'running']),
  updatedAt: z.string()
})
export type StudyListEntry = z.infer<typeof studyListEntrySchema>

/** Mean, sample standard deviation (n − 1; 0 for one value), min and max. */
export function statsOf(values: readonly number[]): Stats | null {
  if (values.length === 0) return null
  const n = values.length
  const mean = values.reduce((a, b) => a + b, 0) / n
  const variance = n < 2 ? 0 : values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1)
  return { mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values), n }
}

/** Per-epoch mean and min/max over several curves of (epoch, value) pairs; epochs any curve lacks count fewer seeds. */
export function bandOf(curves: ReadonlyArray<ReadonlyArray<readonly [number, number]>>): CurvePoint[] {
  const byEpoch = new Map<number, number[]>()
  for (const curve of curves)
    for (const [epoch, value] of curve) {
      if (!Number.isFinite(value)) continue
      const list = byEpoch.get(epoch) ?? []
      list.push(value)
      byEpoch.set(epoch, list)
    }
  return [...byEpoch.entries()]
    .sort(([a], [b]) => a - b)
    .map(([epoch, values]) => {
      const s = statsOf(values)!
      return { epoch, mean: s.mean, min: s.min, max: s.max, n: s.n }
    })
}

/** Ops without weights: the candidates a search collapses onto when nothing stops it (spec section 4). */
export const PARAMETER_FREE_OPS: ReadonlySet<string> = new Set([
  'none',
  'max_pool_3x3',
  'avg_pool_3x3',
  'skip_connect',
  'identity'
])

/**
 * Share of parameter-free ops (or of the ops given) among a genotype's edges (normal and reduce, or normal only),
 * null if it has none.
 */
export function parameterFreeShare(
  genotype: unknown,
  cells: 'both' | 'normal' = 'both',
  ops: ReadonlySet<string> = PARAMETER_FREE_OPS
): number | null {
  if (genotype === null || typeof genotype !== 'object') return null
  const g = genotype as { normal?: unknown; reduce?: unknown }
  const edges = [
    ...(Array.isArray(g.normal) ? g.normal : []),
    ...(cells === 'both' && Array.isArray(g.reduce) ? g.reduce : [])
  ]
  if (edges.length === 0) return null
  const free = edges.filter((edge) => Array.isArray(edge) && ops.has(String(edge[0]))).length
  return free / edges.length
}

export const ZEROISE_ONLY: ReadonlySet<string> = new Set(['none'])

/** Share of edges (op, input) of `a` not matched in `b`, node by node, over both cells; null for non-genotypes. */
export function genotypeDifference(a: unknown, b: unknown): number | null {
  const cellsOf = (g: unknown) => {
    const x = g as { normal?: unknown; reduce?: unknown } | null
    return x !== null && typeof x === 'object' && Array.isArray(x.normal) && Array.isArray(x.reduce)
      ? [x.normal as Array<[string, number]>, x.reduce as Array<[string, number]>]
      : null
  }
  const [ca, cb] = [cellsOf(a), cellsOf(b)]
  if (ca === null || cb === null) return null
  let total = 0
  let differing = 0
  for (const [cell, edges] of ca.entries()) {
    const other = cb[cell]!
    for (let node = 0; node * 2 < edges.length; node++) {
      const mine = edges.slice(node * 2, node * 2 + 2).map(([op, input]) => `${op}@${input}`)
      const theirs = other.slice(node * 2, node * 2 + 2).map(([op, input]) => `${op}@${input}`)
      for (const edge of mine) {
        total++
        const at = theirs.indexOf(edge)
        if (at < 0) differing++
        else theirs.splice(at, 1)
      }
    }
  }
  return total === 0 ? null : differing / total
}
