import { closeSync, openSync, renameSync, rmSync, writeSync, createReadStream } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { DatasetError } from './errors'

/**
 * Extracts chosen members of a .tar.gz, streaming (the CIFAR archives are 170 MB). Only what `pick` accepts is
 * written, under a name `pick` gives inside `destDir`: names from the archive never become paths, so a hostile
 * archive cannot write outside the folder. Reads ustar, GNU long names ('L') and pax headers ('x') as GNU tar and
 * Python's tarfile write them. Each file is written to a .tmp name and renamed when complete.
 */
export async function extractTarGz(
  archive: string,
  destDir: string,
  pick: (memberPath: string) => string | null
): Promise<string[]> {
  const written: string[] = []
  const parser = new TarParser(archive, destDir, pick, written)
  try {
    await pipeline(createReadStream(archive), createGunzip(), parser)
  } catch (error) {
    parser.abort()
    if (error instanceof DatasetError) throw error
    const why = error instanceof Error ? error.message : String(error)
    throw new DatasetError(archive, `is not a readable .tar.gz (${why})`)
  }
  if (!parser.ended) throw new DatasetError(archive, 'is truncated: the tar archive ends inside a member')
  return written
}

const BLOCK = 512

function readString(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length)
  const end = raw.indexOf(0)
  return raw.subarray(0, end < 0 ? length : end).toString('utf8')
}

function readSize(block: Buffer): number {
  // Base-256 (GNU) for sizes of 8 GiB and more; octal text otherwise.
  if (block[124] & 0x80) {
    let n = 0
    for (let i = 125; i < 136; i++) n = n * 256 + block[i]
    return n
  }
  return parseInt(readString(block, 124, 12).trim() || '0', 8)
}

function checksumOk(block: Buffer): boolean {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]
  return sum === parseInt(readString(block, 148, 8).trim(), 8)
}

class TarParser extends Writable {
  ended = false
  private pending = Buffer.alloc(0)
  private remaining = 0 // body bytes of the current member still to come
  private padding = 0
  private fd: number | null = null
  private tmpPath = ''
  private finalPath = ''
  private meta: 'L' | 'x' | null = null
  private metaChunks: Buffer[] = []
  private longName: string | null = null

  constructor(
    private readonly archive: string,
    private readonly destDir: string,
    private readonly pick: (memberPath: string) => string | null,
    private readonly written: string[]
  ) {
    super()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      this.consume(chunk)
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  abort(): void {
    if (this.fd !== null) {
      closeSync(this.fd)
      this.fd = null
      rmSync(this.tmpPath, { force: true })
    }
  }

  private consume(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = Buffer.alloc(0)
    while (data.length && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, data.length)
        this.body(data.subarray(0, take))
        this.remaining -= take
        data = data.subarray(take)
        if (this.remaining === 0) this.endMember()
        continue
      }
      if (this.padding > 0) {
        const skip = Math.min(this.padding, data.length)
        this.padding -= skip
        data = data.subarray(skip)
        continue
      }
      if (data.length < BLOCK) {
        this.pending = Buffer.from(data)
        return
      }
      this.header(data.subarray(0, BLOCK))
      data = data.subarray(BLOCK)
    }
  }

  private header(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.ended = true // the end-of-archive marker; what follows is padding
      return
    }
    if (!checksumOk(block)) throw new DatasetError(this.archive, 'is damaged: a tar header checksum does not match')
    const size = readSize(block)
    const type = String.fromCharCode(block[156] || 0x30)
    const prefix = readString(block, 257, 6) === 'ustar' ? readString(block, 345, 155) : ''
    const name = this.longName ?? (prefix ? `${prefix}/${readString(block, 0, 100)}` : readString(block, 0, 100))
    this.longName = null
    this.remaining = size
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK
    if (type === 'L' || type === 'x') {
      this.meta = type
      this.metaChunks = []
    } else if (type === '0' || type === '7') {
      const target = this.pick(name)
      if (target !== null) {
        this.finalPath = join(this.destDir, target)
        this.tmpPath = `${this.finalPath}.tmp`
        this.fd = openSync(this.tmpPath, 'w')
      }
    }
    if (size === 0) this.endMember()
  }

  private body(bytes: Buffer): void {
    if (this.meta) this.metaChunks.push(Buffer.from(bytes))
    else if (this.fd !== null) writeSync(this.fd, bytes)
  }

  private endMember(): void {
    if (this.meta) {
      const text = Buffer.concat(this.metaChunks).toString('utf8')
      if (this.meta === 'L') this.longName = text.replace(/\0+$/, '')
      else this.longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1] ?? null
      this.meta = null
    } else if (this.fd !== null) {
      closeSync(this.fd)
      this.fd = null
      renameSync(this.tmpPath, this.finalPath)
      this.written.push(this.finalPath)
    }
  }
}
