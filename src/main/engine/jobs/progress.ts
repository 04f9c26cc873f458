import type { ProgressRecord } from '../../../shared/jobs'

/** Where a job stands, as its checkpoints record it: steps done, the epoch, and the running sums of that epoch. */
export interface StepPosition {
  /** Steps completed since the start of the run. */
  step: number
  epoch: number
  /** Steps of `epoch` already done. */
  stepInEpoch: number
  /** Running sums of the current epoch, so a resumed epoch reports the same averages. */
  epochSums: { loss: number; correct: number; seen: number }
}

export function startPosition(): StepPosition {
  return { step: 0, epoch: 0, stepInEpoch: 0, epochSums: { loss: 0, correct: 0, seen: 0 } }
}

/** Counts one finished step of `size` images whose mean loss and correct count are given. */
export function countStep(
  position: StepPosition,
  stepInEpoch: number,
  loss: number,
  correct: number,
  size: number
): void {
  if (!Number.isFinite(loss))
    throw new Error(
      `the training loss became ${loss} at step ${position.step + 1}: lower the learning rate and start a new run`
    )
  position.epochSums.loss += loss * size
  position.epochSums.correct += correct
  position.epochSums.seen += size
  position.step += 1
  position.stepInEpoch = stepInEpoch + 1
}

/** The position at the start of the epoch after `epoch`. */
export function nextEpoch<P extends StepPosition>(position: P, epoch: number): P {
  return { ...position, epoch: epoch + 1, stepInEpoch: 0, epochSums: { loss: 0, correct: 0, seen: 0 } }
}

export function epochAverages(position: StepPosition): { trainLoss: number; trainAccuracy: number } {
  return {
    trainLoss: position.epochSums.loss / position.epochSums.seen,
    trainAccuracy: position.epochSums.correct / position.epochSums.seen
  }
}

export interface ProgressContext {
  epochs: number
  stepsPerEpoch: number
  totalSteps: number
  /** Images one step processes (a search step reads a train and a validation batch). */
  imagesPerStep: number
  learningRate: number
  /** Images processed since `since` (ms timestamp), for the speed and the ETA. */
  images: number
  since: number
}

/** Whether this step's progress is reported: every `every` steps and at the end of each epoch. */
export function isReportStep(position: StepPosition, every: number, stepsPerEpoch: number): boolean {
  return position.step % every === 0 || position.stepInEpoch === stepsPerEpoch
}

export function progressRecord(position: StepPosition, context: ProgressContext): ProgressRecord {
  const seconds = (Date.now() - context.since) / 1000
  const imagesPerSecond = context.images / Math.max(seconds, 1e-3)
  return {
    type: 'progress',
    epoch: position.epoch + 1,
    epochs: context.epochs,
    stepInEpoch: position.stepInEpoch,
    stepsPerEpoch: context.stepsPerEpoch,
    step: position.step,
    totalSteps: context.totalSteps,
    ...epochAverages(position),
    learningRate: context.learningRate,
    imagesPerSecond,
    etaSeconds: ((context.totalSteps - position.step) * context.imagesPerStep) / Math.max(imagesPerSecond, 1e-6)
  }
}
