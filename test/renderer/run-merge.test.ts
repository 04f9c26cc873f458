import { describe, expect, it } from 'vitest'
import type { EpochRecord, ProgressRecord } from '../../src/shared/jobs'
import { mergeEpochs, mergeProgress, thinProgress } from '../../src/renderer/src/lib/run-merge'

const progress = (step: number): ProgressRecord => ({
  type: 'progress',
  epoch: 1,
  epochs: 1,
  stepInEpoch: step,
  stepsPerEpoch: 100,
  step,
  totalSteps: 100,
  trainLoss: 1 / step,
  trainAccuracy: 0.5,
  learningRate: 0.1,
  imagesPerSecond: 10,
  etaSeconds: 1
})
const epoch = (n: number, accuracy = 0.5): EpochRecord => ({
  type: 'epoch',
  epoch: n,
  step: n * 10,
  trainLoss: 1,
  trainAccuracy: 0.5,
  validationLoss: 1,
  validationAccuracy: accuracy,
  learningRate: 0.1,
  imagesPerSecond: 1,
  seconds: 1
})

describe('merging a run folder’s history with live events', () => {
  it('drops records already in the history (a reload replays what was in flight)', () => {
    const history = [1, 2, 3].map(progress)
    const merged = mergeProgress(history, [2, 3, 4, 5].map(progress))
    expect(merged.map((r) => r.step)).toEqual([1, 2, 3, 4, 5])
    expect(mergeProgress(merged, [progress(5)]).map((r) => r.step)).toEqual([1, 2, 3, 4, 5])
  })

  it('lets a resumed run replace what came after its checkpoint', () => {
    const merged = mergeProgress([1, 2, 3, 4].map(progress), [progress(3)])
    expect(merged.map((r) => r.step)).toEqual([1, 2, 3])
    const epochs = mergeEpochs([epoch(1), epoch(2, 0.4), epoch(3)], [epoch(2, 0.6)])
    expect(epochs.map((r) => [r.epoch, r.validationAccuracy])).toEqual([
      [1, 0.5],
      [2, 0.6]
    ])
  })

  it('thins a long curve evenly and keeps its last point', () => {
    const records = Array.from({ length: 10_000 }, (_, i) => progress(i + 1))
    const thinned = thinProgress(records, 500)
    expect(thinned).toHaveLength(500)
    expect(thinned[0]!.step).toBe(1)
    expect(thinned.at(-1)!.step).toBe(10_000)
    expect(thinProgress(records.slice(0, 10), 500)).toHaveLength(10)
  })
})
