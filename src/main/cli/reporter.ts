import { SingleBar } from 'cli-progress'
import type { EpochRecord, ProgressRecord } from '../../shared/jobs'
import type { JobListener } from '../engine/jobs/search-job'

/**
 * How a job talks to a terminal: a progress bar when stdout is one, JSON lines with --json (one object per line,
 * `{"event": ...}`), plain lines otherwise (logs, CI). The records are the ones the run folder keeps.
 */
export interface CliReporter extends JobListener {
  result(value: object): void
  close(): void
}

export function createReporter(json: boolean): CliReporter {
  const emit = (event: string, data: object): void =>
    void process.stdout.write(JSON.stringify({ event, ...data }) + '\n')
  if (json) {
    return {
      progress: (record) => emit('progress', record),
      epoch: (record) => emit('epoch', record),
      log: (message) => emit('log', { message }),
      result: (value) => emit('result', value),
      close: () => undefined
    }
  }
  const bar = process.stdout.isTTY
    ? new SingleBar({
        format:
          ' {bar} {percentage}% | epoch {epoch}/{epochs} | step {value}/{total} | loss {loss} | acc {acc} | {speed} img/s | ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: false
      })
    : null
  let started = false
  const line = (text: string): void => {
    if (bar !== null && started) bar.stop()
    process.stdout.write(text + '\n')
    if (bar !== null && started) bar.start(bar.getTotal(), lastValue, lastPayload)
  }
  let lastValue = 0
  let lastPayload: Record<string, string | number> = {}
  return {
    progress(record: ProgressRecord) {
      lastValue = record.step
      lastPayload = {
        epoch: record.epoch,
        epochs: record.epochs,
        loss: record.trainLoss.toFixed(3),
        acc: `${(record.trainAccuracy * 100).toFixed(1)}%`,
        speed: record.imagesPerSecond.toFixed(1)
      }
      if (bar === null) {
        process.stdout.write(
          `step ${record.step}/${record.totalSteps} epoch ${record.epoch}/${record.epochs} loss ${lastPayload.loss} acc ${lastPayload.acc} ${lastPayload.speed} img/s ETA ${Math.round(record.etaSeconds)} s\n`
        )
        return
      }
      if (!started) {
        bar.start(record.totalSteps, record.step, lastPayload)
        started = true
      } else bar.update(record.step, lastPayload)
    },
    epoch(record: EpochRecord) {
      void record // the job also logs a one-line summary of each epoch
    },
    log: (message) => line(message),
    result: (value) => line(JSON.stringify(value, null, 2)),
    close: () => {
      if (bar !== null && started) bar.stop()
    }
  }
}
