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
        process.stdout.write(
          `${backend.available ? '✓' : '✗'} ${backend.name.padEnd(16)} ${backend.description}\n    ${state}\n`
        )
      }
    })
}
