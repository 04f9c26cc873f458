import type { Command } from 'commander'
import { describeBackends } from '../../engine/backend'

/** `bnas backends`: every compute backend, fastest first, whether it runs here, and why not. */
export function registerBackends(program: Command): void {
  program
    .command('backends')
    .description('list the compute backends, fastest first, with whether each is available here and why not')
    .option('--json', 'print JSON', false)
    .action(async (options: { json: boolean }) => {
      const backends = await describeBackends()
      if (options.json) {
        process.stdout.write(JSON.stringify(backends) + '\n')
        return
      }
      for (const backend of backends) {
        const state = backend.available ? 'available' : `unavailable: ${backend.reason ?? 'unknown reason'}`
        const lines = [
          `${backend.available ? '✓' : '✗'} ${backend.name.padEnd(16)} ${backend.description}`,
          `    ${state}`
        ]
        // The GPU adapter (or other hardware) found, and why 'auto' does not pick a backend that runs.
        if (backend.found) lines.push(`    found: ${backend.found}`)
        if (backend.notAuto) lines.push(`    not chosen by auto: ${backend.notAuto}`)
        if (backend.advice) lines.push(`    to use it: ${backend.advice}`)
        process.stdout.write(lines.join('\n') + '\n')
      }
    })
}
