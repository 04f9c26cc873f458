/**
 * How the caller steers a running job between steps: pause (the job waits), resume, stop (the job checkpoints
 * and ends with status 'stopped'). Checked once per step, so a pause or stop takes effect within one step.
 */
export class JobControl {
  private paused = false
  private stopped = false
  private wake: (() => void) | null = null

  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
    this.wake?.()
  }

  stop(): void {
    this.stopped = true
    this.wake?.()
  }

  get isPaused(): boolean {
    return this.paused
  }

  get shouldStop(): boolean {
    return this.stopped
  }

  /** Resolves at once when running, or when resumed or stopped. */
  async waitWhilePaused(onPause?: () => void): Promise<void> {
    if (!this.paused || this.stopped) return
    onPause?.()
    while (this.paused && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve))
    this.wake = null
  }
}

/** Resolves after pending I/O and messages have been handled (a macrotask turn, not just a microtask). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
