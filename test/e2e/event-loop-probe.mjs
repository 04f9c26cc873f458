// Preloaded into the browser-mode server (NODE_OPTIONS=--import) by the end-to-end tests: measures the event-loop
// delay of its main thread, the one that routes every request and event, and appends one JSON line per second to
// BNAS_ELD_FILE: { t, mean, p50, p99, max } in milliseconds over that second. Worker threads are left alone.
import { appendFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { isMainThread } from 'node:worker_threads'

const file = process.env.BNAS_ELD_FILE
if (isMainThread && file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  const ms = (ns) => Math.round((ns / 1e6) * 100) / 100
  const timer = setInterval(() => {
    if (histogram.count > 0) {
      const line = {
        t: Date.now(),
        mean: ms(histogram.mean),
        p50: ms(histogram.percentile(50)),
        p99: ms(histogram.percentile(99)),
        max: ms(histogram.max)
      }
      appendFileSync(file, JSON.stringify(line) + '\n')
    }
    histogram.reset()
  }, 1000)
  timer.unref()
}
