import { initBackend, type BackendPreference } from '../engine/backend'
import { JobControl } from '../engine/jobs/control'
import type { JobResult } from '../engine/jobs/run-job'
import type { CliReporter } from './reporter'

/** Pieces every job command shares: number flags, backend start-up, and Ctrl+C handling. */
export function parseNumber(value: string): number {
  const number = Number(value)
  if (value.trim() === '' || !Number.isFinite(number)) throw new Error(`expected a number, got '${value}'`)
  return number
}

export async function withBackend(preference: string, reporter: CliReporter): Promise<void> {
  const report = await initBackend(preference as BackendPreference)
  const skipped = report.tried
    .filter((attempt) => !attempt.available)
    .map((attempt) => `${attempt.backend} (${attempt.reason})`)
  reporter.log(`backend: ${report.name}${skipped.length > 0 ? `; not used: ${skipped.join('; ')}` : ''}`)
}

/** Ctrl+C (or SIGTERM) stops the job at the next step with a checkpoint, so `bnas resume` can continue it. */
export async function runWithSignals(
  reporter: CliReporter,
  run: (control: JobControl) => Promise<JobResult>
): Promise<void> {
  const control = new JobControl()
  const stop = (): void => {
    reporter.log('stopping after this step (writing a checkpoint)…')
    control.stop()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const result = await run(control)
    reporter.close()
    reporter.result(result)
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    reporter.close()
  }
}
