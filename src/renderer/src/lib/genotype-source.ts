import { deriveGenotype, validateDartsGenotype, validateGenotype, type GenotypeOf } from '../../../shared/genotype'
import type { EpochRecord } from '../../../shared/jobs'

/** A genotype value from a run folder or an event (typed `unknown` there), if it is one of either space. */
export function asGenotype(value: unknown): GenotypeOf<string> | null {
  if (value === null || value === undefined) return null
  const bnas = validateGenotype(value)
  if (bnas.ok) return bnas.genotype
  const darts = validateDartsGenotype(value)
  return darts.ok ? darts.genotype : null
}

/**
 * The genotype of a search epoch: the one the engine derived, or (older records) derived here from the stored
 * softmax(α). log p is passed as α because softmax(log p) = p, so the parse sees exactly the stored weights.
 */
export function genotypeOfEpoch(record: EpochRecord | undefined, gamma = 1): GenotypeOf<string> | null {
  if (record === undefined) return null
  if (gamma === 1) {
    const stored = asGenotype(record.genotype)
    if (stored) return stored
  } else {
    const stored = asGenotype(record.genotypeTransfer)
    if (stored) return stored
  }
  if (!record.alphaNormal || !record.alphaReduce) return null
  const logs = (matrix: number[][]) => matrix.map((row) => row.map((p) => Math.log(Math.max(p, 1e-30))))
  return deriveGenotype(logs(record.alphaNormal), logs(record.alphaReduce), { gamma })
}

/** α history of one edge: for each op, its weight per epoch. */
export function alphaHistory(
  epochs: readonly EpochRecord[],
  cell: 'normal' | 'reduce',
  row: number
): Array<Array<[number, number]>> {
  const series: Array<Array<[number, number]>> = []
  for (const record of epochs) {
    const matrix = cell === 'normal' ? record.alphaNormal : record.alphaReduce
    const weights = matrix?.[row]
    if (!weights) continue
    weights.forEach((weight, op) => (series[op] ??= []).push([record.epoch, weight]))
  }
  return series
}
