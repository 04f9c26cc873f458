import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DatasetError, loadDataset } from '../../src/main/datasets'
import { downloadCifar, type DownloadProgress } from '../../src/main/datasets/download'
import { encodeCifar, randomCifarRecords, tempFolder } from './helpers'

const { dir, cleanup } = tempFolder()

/** A small archive shaped like cifar-10-binary.tar.gz, packed by GNU tar (an independent writer). */
function buildArchive(): Buffer {
  const src = join(dir, 'src', 'cifar-10-batches-bin')
  mkdirSync(src, { recursive: true })
  for (let i = 1; i <= 5; i++)
    writeFileSync(join(src, `data_batch_${i}.bin`), encodeCifar(randomCifarRecords(20, 1, [10], i)))
  writeFileSync(join(src, 'test_batch.bin'), encodeCifar(randomCifarRecords(10, 1, [10], 7)))
  writeFileSync(
    join(src, 'batches.meta.txt'),
    'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n'
  )
  writeFileSync(join(src, 'not-wanted.html'), '<p>only the listed members are extracted</p>')
  const out = join(dir, 'archive.tar.gz')
  execFileSync('tar', ['czf', out, '-C', join(dir, 'src'), 'cifar-10-batches-bin'])
  return readFileSync(out)
}

let archive: Buffer
let md5: string
let server: Server
let url: string
/** What the next responses do: 'cut' sends the first `cutAt` bytes then drops the connection. */
const behaviour = { mode: 'normal' as 'normal' | 'cut' | 'ignore-range' | 'corrupt', cutAt: 0 }
const ranges: (string | undefined)[] = []

beforeAll(async () => {
  archive = buildArchive()
  md5 = createHash('md5').update(archive).digest('hex')
  server = createServer((request, response) => {
    ranges.push(request.headers.range)
    const body = behaviour.mode === 'corrupt' ? Buffer.from(archive).fill(1, 100, 200) : archive
    const match = /^bytes=(\d+)-$/.exec(request.headers.range ?? '')
    if (match && behaviour.mode !== 'ignore-range') {
      const start = Number(match[1])
      if (start >= body.length) {
        response.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end()
        return
      }
      response.writeHead(206, {
        'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'Content-Length': body.length - start
      })
      response.end(body.subarray(start))
      return
    }
    response.writeHead(200, { 'Content-Length': body.length })
    if (behaviour.mode === 'cut') {
      response.write(body.subarray(0, behaviour.cutAt), () => response.destroy())
      return
    }
    response.end(body)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cifar-10-binary.tar.gz`
})

afterAll(async () => {
  await new Promise((done) => server.close(done))
  cleanup()
})

describe('CIFAR download', () => {
  it('offline: fails at once telling the user to point at a folder', async () => {
    const started = Date.now()
    const error = await downloadCifar('cifar10', join(dir, 'offline'), {
      url: 'http://cifar.invalid/cifar-10-binary.tar.gz'
    }).catch((e) => e)
    expect(error).toBeInstanceOf(DatasetError)
    expect(error.message).toMatch(/cannot reach cifar\.invalid \((ENOTFOUND|EAI_AGAIN)\): no network here\?/)
    expect(error.message).toContain('point at the folder instead: cifar10:/path/to/cifar-10-batches-bin')
    expect(existsSync(join(dir, 'offline', 'cifar-10-batches-bin'))).toBe(false)
    expect(Date.now() - started).toBeLessThan(10_000)
    const refused = await downloadCifar('cifar10', join(dir, 'offline'), { url: 'http://127.0.0.1:1/x.tar.gz' }).catch(
      (e) => e
    )
    expect(refused.message).toMatch(/cannot reach 127\.0\.0\.1:1 \(ECONNREFUSED\)/)
  })

  it('resumes an interrupted download with a Range request, checks MD5, extracts only the listed files', async () => {
    const dest = join(dir, 'dl')
    behaviour.mode = 'cut'
    behaviour.cutAt = Math.floor(archive.length / 3)
    ranges.length = 0
    const first = await downloadCifar('cifar10', dest, { url, md5 }).catch((e) => e)
    expect(first).toBeInstanceOf(DatasetError)
    expect(first.message).toMatch(/run again to resume/)
    const partSize = statSync(join(dest, 'cifar-10-binary.tar.gz.part')).size
    expect(partSize).toBeGreaterThan(0)
    expect(partSize).toBeLessThan(archive.length)

    behaviour.mode = 'normal'
    const progress: DownloadProgress[] = []
    const folder = await downloadCifar('cifar10', dest, { url, md5, onProgress: (p) => progress.push({ ...p }) })
    expect(ranges).toEqual([undefined, `bytes=${partSize}-`])
    expect(progress[0]).toEqual({ received: partSize, total: archive.length, resumedFrom: partSize })
    expect(progress.at(-1)).toEqual({ received: archive.length, total: archive.length, resumedFrom: partSize })
    expect(folder).toBe(join(dest, 'cifar-10-batches-bin'))
    expect(readdirSync(folder).sort()).toEqual([
      'batches.meta.txt',
      'data_batch_1.bin',
      'data_batch_2.bin',
      'data_batch_3.bin',
      'data_batch_4.bin',
      'data_batch_5.bin',
      'test_batch.bin'
    ])
    expect(existsSync(join(dest, 'cifar-10-binary.tar.gz.part'))).toBe(false)
    const dataset = loadDataset(`cifar10:${folder}`)
    expect([dataset.train.count, dataset.test.count]).toEqual([100, 10])

    // Already there: no request at all.
    ranges.length = 0
    expect(await downloadCifar('cifar10', dest, { url, md5 })).toBe(folder)
    expect(ranges).toEqual([])
  })

  it('starts over when the server ignores the Range header', async () => {
    const dest = join(dir, 'norange')
    mkdirSync(dest)
    writeFileSync(join(dest, 'cifar-10-binary.tar.gz.part'), archive.subarray(0, 500))
    behaviour.mode = 'ignore-range'
    ranges.length = 0
    const folder = await downloadCifar('cifar10', dest, { url, md5 })
    expect(ranges).toEqual(['bytes=500-'])
    expect(loadDataset(`cifar10:${folder}`).train.count).toBe(100)
  })

  it('a checksum mismatch removes the download and says so', async () => {
    const dest = join(dir, 'corrupt')
    behaviour.mode = 'corrupt'
    const error = await downloadCifar('cifar10', dest, { url, md5 }).catch((e) => e)
    expect(error).toBeInstanceOf(DatasetError)
    expect(error.file).toBe(join(dest, 'cifar-10-binary.tar.gz'))
    expect(error.problem).toMatch(
      new RegExp(`^checksum mismatch: MD5 [0-9a-f]{32}, expected ${md5}; the download was removed, run again$`)
    )
    expect(existsSync(join(dest, 'cifar-10-binary.tar.gz.part'))).toBe(false)
    expect(existsSync(join(dest, 'cifar-10-binary.tar.gz'))).toBe(false)
    behaviour.mode = 'normal'
  })

  it('a damaged archive with the right checksum is reported, not half-extracted', async () => {
    const dest = join(dir, 'damaged')
    mkdirSync(dest)
    const cut = archive.subarray(0, archive.length - 40)
    writeFileSync(join(dest, 'cifar-10-binary.tar.gz'), cut)
    const error = await downloadCifar('cifar10', dest, { url, md5: createHash('md5').update(cut).digest('hex') }).catch(
      (e) => e
    )
    expect(error).toBeInstanceOf(DatasetError)
    expect(error.file).toBe(join(dest, 'cifar-10-binary.tar.gz'))
    expect(readdirSync(join(dest, 'cifar-10-batches-bin')).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })
})
