import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { initBackend, BACKEND_OPTION_HELP, type BackendPreference } from '../../engine/backend'
import { ClusterWorker } from '../../cluster/worker'
import { FolderStore } from '../../cluster/store'
import { parseNumber } from '../job-cli'

interface WorkerOptions {
  redis: string
  store: string
  work?: string
  datasets?: string
  concurrency: number
  backend: string
  name?: string
  tlsCa?: string
  tlsCert?: string
  tlsKey?: string
  lockMs: number
  stalledMs?: number
  syncMs: number
}

/**
 * `bnas worker`: a headless worker of the cluster. Start any number, on any machines that reach the Redis and the
 * store folder; each takes search and training jobs from the queue until it is stopped (Ctrl+C / SIGTERM hands its
 * running jobs back to the queue with a checkpoint).
 */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run search and training jobs from the cluster queue (Redis + BullMQ) until stopped')
    .requiredOption('--redis <url>', 'the queue: redis://[user:password@]host:port[/db], or rediss:// for TLS')
    .requiredOption('--store <folder>', 'the shared folder where runs (checkpoints, results) are stored')
    .option('--work <folder>', "this machine's working copies of its runs (default ~/.bnas-studio/worker-runs)")
    .option(
      '--datasets <folder>',
      'where the dataset paths of jobs are found on this machine (cifar10:NAME → folder/NAME)'
    )
    .option('--concurrency <n>', 'jobs run at once by this worker', parseNumber, 1)
    .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
    .option('--name <name>', 'the name shown for this worker (default host-pid)')
    .option('--tls-ca <file>', 'rediss://: PEM file of the CA that signed the server certificate')
    .option('--tls-cert <file>', 'rediss://: PEM client certificate')
    .option('--tls-key <file>', 'rediss://: PEM client key')
    .option('--lock-ms <n>', 'a job whose worker is silent this long goes to another worker', parseNumber, 30_000)
    .option('--stalled-ms <n>', 'how often to look for such jobs (default: --lock-ms)', parseNumber)
    .option('--sync-ms <n>', "how often a running job's folder is copied to the store", parseNumber, 5000)
    .action(async (options: WorkerOptions) => {
      for (const [flag, value, min] of [
        ['--concurrency', options.concurrency, 1],
        ['--lock-ms', options.lockMs, 500],
        ['--sync-ms', options.syncMs, 50]
      ] as const)
        if (!Number.isInteger(value) || value < min)
          throw new Error(`${flag} must be a whole number of at least ${min}`)
      const store = new FolderStore(options.store)
      await store.check()
      const log = (message: string): void => void process.stdout.write(`${new Date().toISOString()} ${message}\n`)
      const report = await initBackend(options.backend as BackendPreference)
      log(`backend: ${report.name}`)
      // Two engine threads on the native kernels in one process crash it (measured: a segmentation fault).
      if (report.name === 'native' && options.concurrency > 1)
        throw new Error(
          `--concurrency ${options.concurrency} cannot run on the native backend (its kernels take one job per process): start ${options.concurrency} workers instead, or pick another --backend`
        )
      const worker = new ClusterWorker({
        url: options.redis,
        tls: { ca: options.tlsCa, cert: options.tlsCert, key: options.tlsKey },
        store,
        workDir: resolve(options.work ?? join(homedir(), '.bnas-studio', 'worker-runs')),
        ...(options.datasets === undefined ? {} : { datasetsRoot: resolve(options.datasets) }),
        concurrency: options.concurrency,
        backend: report.name,
        ...(options.name === undefined ? {} : { name: options.name }),
        lockMs: options.lockMs,
        ...(options.stalledMs === undefined ? {} : { stalledMs: options.stalledMs }),
        syncMs: options.syncMs,
        log
      })
      await worker.start()
      await new Promise<void>((done) => {
        const stop = (): void => {
          log('stopping: running jobs checkpoint and go back to the queue')
          void worker.close().finally(done)
        }
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
    })
}
