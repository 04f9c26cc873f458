import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadDataset } from '../../src/main/datasets'
import { DownloadManager } from '../../src/main/datasets/download-manager'
import { findDatasets, recommendedDataset } from '../../src/main/datasets/found'
import { DEBIAN_FASHION_MNIST } from '../../src/main/datasets/mnist'
import { datasetDownloadSchema, foundDatasetSchema, type DatasetDownload } from '../../src/shared/datasets-found'
import { encodeCifar, encodeIdx, randomCifarRecords, tempFolder } from './helpers'

/**
 * What the Datasets page is told: which datasets this machine has (by their files, without loading them), the one to
 * start from, and CIFAR downloads from the page with progress, resume and checksum (download.ts doing the work), here
 * against a local server holding an archive in CIFAR-10's exact layout.
 */
const { dir, cleanup } = tempFolder('bnas-found-')
const haveDebianFashion = existsSync(join(DEBIAN_FASHION_MNIST, 'train-images-idx3-ubyte.gz'))

let archive: Buffer
let md5: string
let server: Server
let url: string
/** Drops the connection after this many bytes of a whole-file answer (0: send it all). */
let cutAt = 0

beforeAll(async () => {
  const src = join(dir, 'src', 'cifar-10-batches-bin')
  mkdirSync(src, { recursive: true })
  for (let i = 1; i <= 5; i++)
    writeFileSync(join(src, `data_batch_${i}.bin`), encodeCifar(randomCifarRecords(40, 1, [10], i)))
  writeFileSync(join(src, 'test_batch.bin'), encodeCifar(randomCifarRecords(20, 1, [10], 9)))
  writeFileSync(join(src, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n')
  execFileSync('tar', ['czf', join(dir, 'a.tar.gz'), '-C', join(dir, 'src'), 'cifar-10-batches-bin'])
  archive = readFileSync(join(dir, 'a.tar.gz'))
  md5 = createHash('md5').update(archive).digest('hex')
  server = createServer((request, response) => {
    const match = /^bytes=(\d+)-$/.exec(request.headers.range ?? '')
    if (match) {
      const start = Number(match[1])
      response.writeHead(206, {
        'Content-Range': `bytes ${start}-${archive.length - 1}/${archive.length}`,
        'Content-Length': archive.length - start
      })
      response.end(archive.subarray(start))
      return
    }
    response.writeHead(200, { 'Content-Length': archive.length })
    if (cutAt > 0) response.write(archive.subarray(0, cutAt), () => response.destroy())
    else response.end(archive)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cifar-10-binary.tar.gz`
})

afterAll(async () => {
  await new Promise((done) => server.close(done))
  cleanup()
})

describe('datasets found on this machine', () => {
  it('finds nothing in an empty folder but the installed Fashion-MNIST, and says how to get the rest', () => {
    const root = join(dir, 'empty')
    const found = findDatasets(root)
    for (const entry of found) foundDatasetSchema.parse(entry)
    const byKind = Object.fromEntries(found.map((entry) => [entry.kind, entry]))
    expect(Object.keys(byKind).sort()).toEqual(['cifar10', 'cifar100', 'fashion-mnist', 'folder', 'mnist', 'synthetic'])
    expect(byKind.cifar10.found).toBe(false)
    expect(byKind.cifar10.downloadBytes).toBeGreaterThan(1e8)
    expect(byKind.cifar10.how).toContain(`bnas datasets download cifar10 ${root}`)
    expect(byKind.mnist.how).toContain(join(root, 'mnist'))
    expect(byKind.synthetic.found).toBe(true)
    expect(byKind['fashion-mnist'].found).toBe(haveDebianFashion)
    expect(recommendedDataset(found).spec).toBe(haveDebianFashion ? 'fashion-mnist' : 'synthetic:2000')
  })

  it('finds MNIST and CIFAR in the datasets folder by their files; the spec it gives loads', () => {
    const root = join(dir, 'some')
    mkdirSync(join(root, 'mnist'), { recursive: true })
    const images = (n: number) => encodeIdx(0x803, [n, 28, 28], new Uint8Array(n * 784).fill(7))
    const labels = (n: number) =>
      encodeIdx(
        0x801,
        [n],
        Uint8Array.from({ length: n }, (_, i) => i % 10)
      )
    writeFileSync(join(root, 'mnist', 'train-images-idx3-ubyte'), images(20))
    writeFileSync(join(root, 'mnist', 'train-labels-idx1-ubyte'), labels(20))
    writeFileSync(join(root, 'mnist', 't10k-images-idx3-ubyte'), images(10))
    writeFileSync(join(root, 'mnist', 't10k-labels-idx1-ubyte'), labels(10))
    const found = findDatasets(root)
    const mnist = found.find((entry) => entry.kind === 'mnist')!
    expect(mnist).toMatchObject({ found: true, spec: `mnist:${join(root, 'mnist')}` })
    expect(loadDataset(mnist.spec!).train.count).toBe(20)
    // A half-unpacked CIFAR folder is not found.
    mkdirSync(join(root, 'cifar-10-batches-bin'), { recursive: true })
    writeFileSync(join(root, 'cifar-10-batches-bin', 'data_batch_1.bin'), '')
    expect(findDatasets(root).find((entry) => entry.kind === 'cifar10')!.found).toBe(false)
    if (!haveDebianFashion) expect(recommendedDataset(found).kind).toBe('mnist')
  })
})

describe('downloads from the page', () => {
  function manager(root: string, sourceMd5 = md5) {
    const reports: DatasetDownload[] = []
    const downloads = new DownloadManager({
      root,
      report: (state) => reports.push(datasetDownloadSchema.parse(state)),
      sources: { cifar10: { url, md5: sourceMd5 } },
      throttleMs: 0
    })
    return { downloads, reports }
  }

  it('downloads, checks and extracts CIFAR-10, reporting progress; the dataset is then found and loads', async () => {
    const root = join(dir, 'downloads')
    const { downloads, reports } = manager(root)
    expect(downloads.start('cifar10').state).toBe('downloading')
    // A second click while it runs does not start another.
    expect(downloads.start('cifar10').state).toBe('downloading')
    await downloads.idle()
    const states = reports.map((report) => report.state)
    expect(states[0]).toBe('downloading')
    expect(states.slice(-2)).toEqual(['extracting', 'done'])
    expect(reports.filter((report) => report.state === 'downloading').at(-1)).toMatchObject({
      received: archive.length,
      total: archive.length
    })
    const done = downloads.list()[0]
    expect(done).toMatchObject({
      kind: 'cifar10',
      state: 'done',
      spec: `cifar10:${join(root, 'cifar-10-batches-bin')}`
    })
    const entry = findDatasets(root).find((d) => d.kind === 'cifar10')!
    expect(entry).toMatchObject({ found: true, spec: done.spec })
    expect(loadDataset(entry.spec!).train.count).toBe(200)
  })

  it('resumes an interrupted download where it stopped', async () => {
    const root = join(dir, 'resume')
    const { downloads, reports } = manager(root)
    const cut = Math.floor(archive.length / 2)
    cutAt = cut
    downloads.start('cifar10')
    await downloads.idle()
    cutAt = 0
    expect(downloads.list()[0].state).toBe('failed')
    expect(downloads.list()[0].message).toMatch(/run again to resume/)
    downloads.start('cifar10')
    await downloads.idle()
    expect(downloads.list()[0].state).toBe('done')
    const resumed = reports.filter((report) => report.resumedFrom > 0)
    expect(resumed.length).toBeGreaterThan(0)
    // What arrived before the cut was kept (the socket may lose its last unsent chunk), and only the rest was fetched.
    expect(resumed[0].resumedFrom).toBeGreaterThan(0)
    expect(resumed[0].resumedFrom).toBeLessThanOrEqual(cut)
  })

  it('fails with the checksum message on a wrong MD5, extracting nothing', async () => {
    const root = join(dir, 'bad-md5')
    const { downloads, reports } = manager(root, '0'.repeat(32))
    downloads.start('cifar10')
    await downloads.idle()
    const last = reports.at(-1)!
    expect(last.state).toBe('failed')
    expect(last.message).toMatch(/checksum mismatch: MD5 [0-9a-f]{32}, expected 0{32}/)
    expect(reports.some((report) => report.state === 'extracting')).toBe(false)
    expect(existsSync(join(root, 'cifar-10-batches-bin', 'data_batch_1.bin'))).toBe(false)
  })
})
