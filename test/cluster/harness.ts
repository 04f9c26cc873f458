import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * What the cluster tests run against: a real redis-server on 127.0.0.1 (a free port, its own temporary folder) and
 * real `bnas worker` processes started from the sources with tsx, as the other CLI tests start the command line.
 */
export const root = fileURLToPath(new URL('../..', import.meta.url))
export const cli = join(root, 'src', 'main', 'cli', 'index.ts')

/** Whether redis-server is installed (Debian: redis-server; .ci/run installs it). Tests without it say they skipped. */
export const haveRedis = spawnSync('redis-server', ['--version']).status === 0
if (!haveRedis) console.warn('skipped: the cluster tests need redis-server (Debian: apt-get install redis-server)')

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

export interface RedisProcess {
  url: string
  port: number
  dir: string
  /** kill -9 and start again on the same port and folder (what the AOF must survive). */
  restart(downMs?: number): Promise<void>
  stop(): Promise<void>
}

/** A CA and a server certificate for 127.0.0.1, made with openssl for one test (rediss://). */
export function makeTlsFiles(dir: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]): void => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`)
  }
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=bnas-test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem'
  )
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr')
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n')
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
    '-out',
    'server.pem'
  )
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') }
}

export async function startRedis(
  options: { aof?: boolean; password?: string; tls?: { ca: string; cert: string; key: string } } = {}
): Promise<RedisProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-redis-'))
  const port = await freePort()
  const args = [
    // With TLS the plain port is off and only rediss:// answers.
    ...(options.tls === undefined
      ? ['--port', String(port)]
      : [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          options.tls.cert,
          '--tls-key-file',
          options.tls.key,
          '--tls-ca-cert-file',
          options.tls.ca,
          '--tls-auth-clients',
          'no'
        ]),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.aof === true ? 'yes' : 'no',
    // Every write on disk before Redis answers: a kill -9 of Redis then loses nothing acknowledged.
    ...(options.aof === true ? ['--appendfsync', 'always'] : []),
    ...(options.password === undefined ? [] : ['--requirepass', options.password])
  ]
  let child: ChildProcess
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const deadline = Date.now() + 10_000
    while (!output.includes('Ready to accept connections')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
  await launch()
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`
  return {
    url: `${options.tls === undefined ? 'redis' : 'rediss'}://${auth}127.0.0.1:${port}`,
    port,
    dir,
    async restart(downMs = 1000) {
      await kill()
      await new Promise((resolve) => setTimeout(resolve, downMs))
      await launch()
    },
    async stop() {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface WorkerProcess {
  name: string
  output(): string
  exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): Promise<void>
}

export function startWorker(name: string, redisUrl: string, store: string, extra: string[] = []): WorkerProcess {
  const work = join(store, '..', `work-${name}`)
  mkdirSync(work, { recursive: true })
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'worker',
      '--redis',
      redisUrl,
      '--store',
      store,
      '--work',
      work,
      '--name',
      name,
      '--backend',
      'wasm',
      // Short lock and stall check: a killed worker's job moves on within about 3 s.
      '--lock-ms',
      '2000',
      '--stalled-ms',
      '1000',
      '--sync-ms',
      '100',
      ...extra
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    name,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      await exited
    }
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 120_000
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== null && value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A search small enough for a test: 32 + 32 images of 16×16, 3 cells of 2 channels, 4 steps per epoch. */
export const TINY_SEARCH = {
  dataset: 'synthetic:64?size=16&channels=1&classes=4',
  cells: 3,
  channels: 2,
  batchSize: 8,
  epochs: 1,
  checkpointEvery: 2,
  progressEvery: 1
}
