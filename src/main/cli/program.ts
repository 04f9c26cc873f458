import { Command, CommanderError } from 'commander'
import { registerServe } from './commands/serve'
import { registerDatasets } from './commands/datasets'
import { registerSummary } from './commands/summary'
import { registerResume, registerSearch } from './commands/search'
import { registerEval, registerTrain } from './commands/train'
import { registerBench } from './commands/bench'
import { registerBackends } from './commands/backends'
import { registerBenchInfer, registerExport, registerPredict } from './commands/export'
import { registerWorker } from './commands/worker'
import { registerSweep } from './commands/sweep'
import { registerStudy } from './commands/study'

/**
 * The `bnas` command line: every job of the app runs headless from here.
 * Each sub-command lives in its own file under commands/ and registers itself on the program.
 */
export function createProgram(version: string): Command {
  const program = new Command('bnas')
    .description('BNAS Studio: search, inspect, train and export binary neural network architectures')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
  registerServe(program)
  registerDatasets(program)
  registerSummary(program)
  registerSearch(program)
  registerResume(program)
  registerTrain(program)
  registerEval(program)
  registerBench(program)
  registerBackends(program)
  registerExport(program)
  registerPredict(program)
  registerBenchInfer(program)
  registerWorker(program)
  registerSweep(program)
  registerStudy(program)
  return program
}

/** Runs the program and turns a thrown error into a one-line message and exit code 1, never a stack dump. */
export async function runCli(argv: string[], version: string): Promise<void> {
  const program = createProgram(version)
  program.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode
      return
    }
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`bnas: ${message}\n`)
    process.exitCode = 1
  }
}
