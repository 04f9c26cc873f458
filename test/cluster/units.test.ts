import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, checkReachable, redactUrl, redisOptions } from '../../src/main/cluster/connection'
import { resolveJobDataset } from '../../src/main/cluster/dataset-access'
import { ClusterQueue, validateClusterJob } from '../../src/main/cluster/queue'
import { downloadRun, RunUploader } from '../../src/main/cluster/run-sync'
import { FolderStore } from '../../src/main/cluster/store'
import { expandGrid, parseGridArgument } from '../../src/main/cluster/sweep'
import { encodeCheckpoint } from '../../src/main/runs/checkpoint-file'
import { cli, haveRedis, makeTlsFiles, root, startRedis, TINY_SEARCH, type RedisProcess } from './harness'

const made: string[] = []
const temp = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `bnas-cluster-${name}-`))
  made.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true })
})

describe('the store', () => {
  it('refuses keys that would leave its folder', async () => {
    const store = new FolderStore(temp('store'))
    for (const key of ['../x', '/etc/passwd', 'runs/../../x', 'runs/a/..', '', 'runs//x', '.hidden', 'runs/a b'])
      await expect(store.put(key, 'x'), key).rejects.toThrow(/invalid store key/)
    await expect(store.get('../../etc/passwd')).rejects.toThrow(/invalid store key/)
    await expect(store.removeAll('../')).rejects.toThrow(/invalid store key/)
  })

  it('puts, gets and lists atomically written keys', async () => {
    const store = new FolderStore(temp('store'))
    await store.put('runs/a/run.json', '{}')
    await store.put('runs/a/checkpoints/latest.ckpt', new Uint8Array([1, 2, 3]))
    expect(await store.list('runs/')).toEqual(['runs/a/checkpoints/latest.ckpt', 'runs/a/run.json'])
    expect(Buffer.from((await store.get('runs/a/checkpoints/latest.ckpt'))!)).toEqual(Buffer.from([1, 2, 3]))
    expect(await store.get('runs/b/run.json')).toBeNull()
    await expect(new FolderStore(join(temp('store'), 'missing')).check()).rejects.toThrow(/does not exist: create it/)
  })

  it('copies a run folder both ways and refuses a damaged copy, naming the file', async () => {
    const store = new FolderStore(temp('store'))
    const run = temp('run')
    mkdirSync(join(run, 'checkpoints'))
    writeFileSync(
      join(run, 'run.json'),
      JSON.stringify({ id: 'r1', kind: 'search', status: 'running', config: { dataset: '/w/data' } })
    )
    writeFileSync(join(run, 'metrics.jsonl'), '{"step":1}\n')
    writeFileSync(join(run, 'checkpoints', 'latest.ckpt'), encodeCheckpoint({ state: { step: 1 }, tensors: [] }))
    writeFileSync(join(run, 'checkpoints', '.latest.ckpt.1.2.tmp'), 'half written')
    await new RunUploader(store, 'r1', run, (manifest) => ({
      ...manifest,
      config: { dataset: 'cifar10:data' }
    })).upload()
    expect(await store.list('runs/r1/')).toEqual([
      'runs/r1/checkpoints/latest.ckpt',
      'runs/r1/files.json',
      'runs/r1/metrics.jsonl',
      'runs/r1/run.json'
    ])
    const copy = join(temp('copy'), 'r1')
    expect(await downloadRun(store, 'r1', copy)).toBe(true)
    expect(readFileSync(join(copy, 'metrics.jsonl'), 'utf8')).toBe('{"step":1}\n')
    expect(JSON.parse(readFileSync(join(copy, 'run.json'), 'utf8')).config.dataset).toBe('cifar10:data')
    expect(await downloadRun(store, 'nothing', copy)).toBe(false)
    // An index naming a file outside the run (a tampered store) is refused before anything is written.
    await store.put(
      'runs/r2/files.json',
      JSON.stringify({ runId: 'r2', files: { '../../../evil': { sha256: '', bytes: 0 } } })
    )
    await expect(downloadRun(store, 'r2', join(temp('copy'), 'r2'))).rejects.toThrow(/invalid store key/)

    writeFileSync(join(store.root, 'runs', 'r1', 'metrics.jsonl'), '{"step":2}\n')
    await expect(downloadRun(store, 'r1', copy)).rejects.toThrow(/runs\/r1\/metrics.jsonl does not match its checksum/)
    // A run folder whose checkpoint is damaged is not stored at all.
    writeFileSync(
      join(run, 'checkpoints', 'latest.ckpt'),
      encodeCheckpoint({ state: { step: 1 }, tensors: [{ name: 'w', shape: [1], data: new Float32Array([1]) }] }).slice(
        0,
        -1
      )
    )
    await expect(new RunUploader(store, 'r1', run).upload()).rejects.toThrow(/checkpoint .* is truncated/)
  })
})

describe('job datasets', () => {
  it('resolve inside the worker datasets folder only', () => {
    const data = temp('data')
    mkdirSync(join(data, 'cifar'))
    const outside = temp('outside')
    symlinkSync(outside, join(data, 'escape'))
    expect(resolveJobDataset('cifar10:cifar', data, 'w1')).toBe(`cifar10:${join(data, 'cifar')}`)
    expect(resolveJobDataset('synthetic:64?size=16', undefined, 'w1')).toBe('synthetic:64?size=16')
    expect(resolveJobDataset('fashion-mnist', undefined, 'w1')).toBe('fashion-mnist')
    expect(() => resolveJobDataset('cifar10:/etc', data, 'w1')).toThrow(/relative to each worker's datasets folder/)
    expect(() => resolveJobDataset('cifar10:../x', data, 'w1')).toThrow(/no absolute path, no '\.\.'/)
    expect(() => resolveJobDataset('cifar10:escape', data, 'w1')).toThrow(/leads outside worker w1's datasets folder/)
    expect(() => resolveJobDataset('cifar10:missing', data, 'w1')).toThrow(
      /worker w1 lacks dataset 'cifar10:missing': .* does not exist on it/
    )
    expect(() => resolveJobDataset('cifar10:cifar', undefined, 'w1')).toThrow(
      /worker w1 lacks dataset .*without --datasets DIR/
    )
  })

  it('are checked when a job is queued', () => {
    expect(() =>
      validateClusterJob({ kind: 'search', runId: 'r1', config: { ...TINY_SEARCH, dataset: 'mnist:/home/me/mnist' } })
    ).toThrow(/name the dataset relative to the workers' datasets folder/)
    expect(() => validateClusterJob({ kind: 'search', runId: '../evil', config: TINY_SEARCH })).toThrow(
      /invalid cluster job: runId/
    )
    expect(() => validateClusterJob({ kind: 'search', runId: 'r1', config: { ...TINY_SEARCH, cells: 1 } })).toThrow(
      /invalid cluster job: config.cells: cells must be at least 3/
    )
    expect(() => validateClusterJob({ kind: 'export', runId: 'r1', config: TINY_SEARCH })).toThrow(
      /invalid cluster job: kind/
    )
    expect(
      (validateClusterJob({ kind: 'search', runId: 'r1', config: TINY_SEARCH }).config as { lambda: number }).lambda
    ).toBe(1)
  })
})

describe('sweeps', () => {
  it('expand every combination of the grid', () => {
    const configs = expandGrid({ epochs: 1 }, { seed: [1, 2], lambda: [0, 1, 2] })
    expect(configs).toHaveLength(6)
    expect(configs).toContainEqual({ epochs: 1, seed: 2, lambda: 0 })
    expect(new Set(configs.map((c) => `${c.seed}/${c.lambda}`)).size).toBe(6)
    expect(() =>
      expandGrid({}, { a: Array.from({ length: 40 }, (_, i) => i), b: Array.from({ length: 40 }, (_, i) => i) })
    ).toThrow(/1600 jobs; at most 1000/)
  })

  it('read --grid arguments with flag or config names', () => {
    expect(parseGridArgument('weight-lr=0.01,0.1')).toEqual(['weightLr', [0.01, 0.1]])
    expect(parseGridArgument('augment=true,false')).toEqual(['augment', [true, false]])
    expect(parseGridArgument('weightGradient=xnor,ste')).toEqual(['weightGradient', ['xnor', 'ste']])
    expect(() => parseGridArgument('seed')).toThrow(/--grid expects name=value1,value2/)
    expect(() => parseGridArgument('seed=1,,2')).toThrow(/an empty value/)
  })
})

describe('Redis URLs', () => {
  let redis: RedisProcess
  beforeAll(async () => {
    if (!haveRedis) return
    redis = await startRedis({ password: 's3cret/+' })
  })
  afterAll(async () => redis?.stop())

  it('carry the password and TLS settings, and hide the password in messages', () => {
    const options = redisOptions('rediss://bob:p%40ss@example.org:6380/2')
    expect(options).toMatchObject({
      host: 'example.org',
      port: 6380,
      username: 'bob',
      password: 'p@ss',
      db: 2,
      tls: { servername: 'example.org' }
    })
    expect(redisOptions('redis://127.0.0.1').tls).toBeUndefined()
    expect(() => redisOptions('rediss://h', { ca: '/no/such/ca.pem' })).toThrow(
      /cannot read the TLS CA file \/no\/such\/ca.pem/
    )
    expect(() => redisOptions('redis://h', { ca: '/x' })).toThrow(/use rediss:\/\/ for TLS/)
    expect(() => redisOptions('http://h')).toThrow(/starts with redis:\/\/ or rediss:\/\//)
    expect(redactUrl('redis://:hunter2@h:1')).toBe('redis://:***@h:1')
    expect(redactUrl('rediss://bob:hunter2@h')).toBe('rediss://bob:***@h')
  })

  it.skipIf(!haveRedis)('log in with the password, and say so clearly when it is wrong', async () => {
    const queue = new ClusterQueue(redis.url)
    try {
      await queue.check()
      expect((await queue.overview()).url).toBe(`redis://:***@127.0.0.1:${redis.port}`)
    } finally {
      await queue.close()
    }
    const wrong = connect(`redis://:nope@127.0.0.1:${redis.port}`)
    wrong.on('error', () => undefined)
    try {
      await expect(checkReachable(wrong, `redis://:nope@127.0.0.1:${redis.port}`, 3000)).rejects.toThrow(
        /refused the login .*check the password in the URL/
      )
    } finally {
      wrong.disconnect()
    }
  })

  it.skipIf(!haveRedis)(
    'speak TLS with rediss:// and the CA given, and refuse a server they cannot verify',
    async () => {
      const tls = makeTlsFiles(temp('tls'))
      const secure = await startRedis({ tls, password: 'pw' })
      try {
        const queue = new ClusterQueue(secure.url, { ca: tls.ca })
        try {
          await queue.check()
          expect((await queue.overview()).connected).toBe(true)
        } finally {
          await queue.close()
        }
        // Without the CA the self-made certificate cannot be verified: no connection, a clear timeout message.
        const unverified = new ClusterQueue(secure.url)
        try {
          await expect(unverified.check(2000)).rejects.toThrow(
            /no Redis answers at rediss:\/\/:\*\*\*@127.0.0.1:\d+ within 2 s \(.*certificate.*\)/
          )
        } finally {
          await unverified.close()
        }
      } finally {
        await secure.stop()
      }
    }
  )
})

describe('bnas worker', () => {
  const native = existsSync(join(root, 'native', 'build', 'Release', 'bnas_native.node'))
  it.skipIf(!native)('refuses several jobs at once on the native backend, before taking any', () => {
    const store = temp('store')
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        cli,
        'worker',
        '--redis',
        'redis://127.0.0.1:1',
        '--store',
        store,
        '--concurrency',
        '2',
        '--backend',
        'native'
      ],
      { cwd: root, encoding: 'utf8', timeout: 60_000 }
    )
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('--concurrency 2 cannot run on the native backend')
  })
})
