import type { EpochRecord, ProgressRecord } from '../../../shared/jobs'

/**
 * Merging what the engine reports into what a page shows. A run's history arrives twice over a reload or a reconnect:
 * once in `runs.get` (the run folder) and again as live events that were already in flight. Records are keyed by what
 * identifies them in the folder (a progress record by its step, an epoch record by its epoch), so the merge is
 * idempotent and keeps order. A resumed run truncates history after its checkpoint: a record at a step or epoch
 * already seen replaces the later ones.
 */
export function mergeProgress(into: readonly ProgressRecord[], records: readonly ProgressRecord[]): ProgressRecord[] {
  let merged = [...into]
  for (const record of records) {
    const last = merged[merged.length - 1]
    if (last === undefined || record.step > last.step) merged.push(record)
    else merged = [...merged.filter((kept) => kept.step < record.step), record]
  }
  return merged
}

export function mergeEpochs(into: readonly EpochRecord[], records: readonly EpochRecord[]): EpochRecord[] {
  let merged = [...into]
  for (const record of records) {
    const last = merged[merged.length - 1]
    if (last === undefined || record.epoch > last.epoch) merged.push(record)
    else merged = [...merged.filter((kept) => kept.epoch < record.epoch), record]
  }
  return merged
}

/** Keeps at most `limit` progress points, thinning the old ones evenly so a long run's curve stays cheap to draw. */
export function thinProgress(records: readonly ProgressRecord[], limit = 2000): ProgressRecord[] {
  if (records.length <= limit) return [...records]
  const stride = records.length / limit
  const thinned: ProgressRecord[] = []
  for (let i = 0; i < limit - 1; i++) thinned.push(records[Math.floor(i * stride)]!)
  thinned.push(records[records.length - 1]!)
  return thinned
}
