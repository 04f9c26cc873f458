import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { basename, join, posix } from 'node:path'
import { CIFAR10_FOLDER, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, CIFAR100_FOLDER } from './cifar'
import { DatasetError } from './errors'
import { isFile, userPath } from './files'
import { extractTarGz } from './tar'

/**
 * Downloading CIFAR on request, where the network allows: into a folder the user names (never into a dataset folder),
 * resuming a partial `.part` file with an HTTP Range request, checking the official MD5 before anything is extracted.
 * Offline it fails at once and tells the user to point at a folder instead.
 */

export interface CifarArchive {
  url: string
  /** The MD5 the CIFAR page publishes for the archive. */
  md5: string
  fileName: string
  /** The folder inside the archive, and the files of it we keep. */
  folder: string
  members: string[]
}

export const CIFAR_ARCHIVES: Record<'cifar10' | 'cifar100', CifarArchive> = {
  cifar10: {
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    md5: 'c32a1d4ab5d03f1284b67883e8d87530',
    fileName: 'cifar-10-binary.tar.gz',
    folder: CIFAR10_FOLDER,
    members: [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE, 'batches.meta.txt']
  },
  cifar100: {
    url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    md5: '03b5dce01913d631647c71ecec9e9cb8',
    fileName: 'cifar-100-binary.tar.gz',
    folder: CIFAR100_FOLDER,
    members: ['train.bin', 'test.bin', 'coarse_label_names.txt', 'fine_label_names.txt']
  }
}

export interface DownloadProgress {
  /** Bytes of the file on disk so far, including a resumed part. */
  received: number
  /** Total size when the server says it; null otherwise. */
  total: number | null
  /** Bytes that were already there from an earlier, interrupted download. */
  resumedFrom: number
}

export interface DownloadOptions {
  onProgress?: (progress: DownloadProgress) => void
  /** Give up when the server sends nothing for this long. Default 30 s. */
  timeoutMs?: number
  signal?: AbortSignal
  /** What to point at instead when offline, e.g. cifar10:/path/to/cifar-10-batches-bin. */
  offlineHint?: string
}

const OFFLINE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT'])

function get(url: string, headers: Record<string, string>, options: DownloadOptions): Promise<IncomingMessage> {
  return new Promise((resolvePromise, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { headers, signal: options.signal })
    request.setTimeout(options.timeoutMs ?? 30_000, () => {
      request.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' }))
    })
    request.on('response', resolvePromise)
    request.on('error', reject)
    request.end()
  })
}

function fileSize(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Downloads `url` to `dest`, through `dest.part`: an interrupted download leaves the part, and the next call asks
 * the server for the rest (Range). The MD5 of the whole file is checked before it is renamed to `dest`; a mismatch
 * removes the part (resuming corrupt bytes would never succeed).
 */
export async function downloadFile(
  url: string,
  dest: string,
  md5: string,
  options: DownloadOptions = {}
): Promise<void> {
  const part = `${dest}.part`
  let redirects = 0
  let current = url
  for (;;) {
    const resumedFrom = fileSize(part)
    let response: IncomingMessage
    try {
      response = await get(current, resumedFrom ? { Range: `bytes=${resumedFrom}-` } : {}, options)
    } catch (error) {
      throw networkError(url, dest, error, options.offlineHint)
    }
    const status = response.statusCode ?? 0
    if (status >= 300 && status < 400 && response.headers.location && redirects++ < 5) {
      response.resume()
      current = new URL(response.headers.location, current).toString()
      continue
    }
    if (status === 416 && resumedFrom > 0) {
      // The part is already whole (or longer than the file): let the checksum decide.
      response.resume()
      break
    }
    if (status !== 200 && status !== 206) {
      response.resume()
      throw new DatasetError(url, `download failed: HTTP ${status} ${response.statusMessage ?? ''}`.trim())
    }
    // 206 continues the part; 200 means the server ignored the Range and sends the whole file again.
    const append = status === 206 && contentRangeStart(response) === resumedFrom
    if (status === 206 && !append) {
      response.resume()
      throw new DatasetError(
        url,
        `download failed: the server resumed at the wrong offset (${response.headers['content-range']})`
      )
    }
    const start = append ? resumedFrom : 0
    const length = Number(response.headers['content-length'])
    const total = Number.isFinite(length) && length >= 0 ? start + length : null
    let received = start
    options.onProgress?.({ received, total, resumedFrom: start })
    const out = createWriteStream(part, { flags: append ? 'a' : 'w' })
    try {
      await new Promise<void>((done, fail) => {
        response.on('data', (chunk: Buffer) => {
          received += chunk.length
          options.onProgress?.({ received, total, resumedFrom: start })
        })
        response.on('error', fail)
        response.on('aborted', () => fail(Object.assign(new Error('connection closed early'), { code: 'ECONNRESET' })))
        out.on('error', fail)
        out.on('finish', done)
        response.pipe(out)
      })
    } catch (error) {
      // Keep every byte that arrived: flush the part before reporting, so the next run resumes from all of it.
      response.unpipe(out)
      if (!out.destroyed) await new Promise((closed) => out.end(closed))
      throw networkError(url, dest, error, options.offlineHint)
    }
    if (total !== null && received < total) {
      throw new DatasetError(url, `download interrupted at ${received} of ${total} bytes; run again to resume`)
    }
    break
  }
  const actual = await md5File(part)
  if (actual !== md5) {
    rmSync(part, { force: true })
    throw new DatasetError(
      dest,
      `checksum mismatch: MD5 ${actual}, expected ${md5}; the download was removed, run again`
    )
  }
  renameSync(part, dest)
}

function contentRangeStart(response: IncomingMessage): number {
  const match = /^bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''))
  return match ? Number(match[1]) : -1
}

function networkError(url: string, dest: string, error: unknown, hint = 'the folder'): DatasetError {
  if (error instanceof DatasetError) return error
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? ''
  const why = error instanceof Error ? error.message : String(error)
  const host = new URL(url).host
  if (OFFLINE_CODES.has(code)) {
    return new DatasetError(
      url,
      `cannot reach ${host} (${code}): no network here? Download ${basename(new URL(url).pathname)} on a machine ` +
        `that has one, unpack it, and point at the folder instead: ${hint}`
    )
  }
  const partial = fileSize(`${dest}.part`)
  return new DatasetError(url, `download failed (${code || why}) after ${partial} bytes; run again to resume`)
}

export interface CifarDownloadOptions extends DownloadOptions {
  /** Another source of the same archive (a mirror, or a test server), with its MD5. */
  url?: string
  md5?: string
  /** Told when the work moves on from downloading: checking a kept archive's MD5, then extracting it. */
  onStage?: (stage: 'checking' | 'extracting') => void
}

/**
 * Makes CIFAR-10 or CIFAR-100 available in `destDir` and returns the folder to name in the spec
 * (`cifar10:<returned>`). Files already there are kept: an extracted folder skips the download, a verified archive
 * skips to extraction, a partial archive resumes.
 */
export async function downloadCifar(
  kind: 'cifar10' | 'cifar100',
  destDir: string,
  options: CifarDownloadOptions = {}
): Promise<string> {
  const archive = CIFAR_ARCHIVES[kind]
  const root = userPath(destDir)
  const folder = join(root, archive.folder)
  const complete = (): boolean => archive.members.every((m) => isFile(join(folder, m)))
  if (complete()) return folder
  const makeFolder = (path: string): void => {
    try {
      mkdirSync(path, { recursive: true })
    } catch (error) {
      throw new DatasetError(path, `cannot be created (${error instanceof Error ? error.message : String(error)})`)
    }
  }
  makeFolder(root)
  const tarball = join(root, archive.fileName)
  const md5 = options.md5 ?? archive.md5
  if (isFile(tarball)) options.onStage?.('checking')
  if (!(isFile(tarball) && (await md5File(tarball)) === md5)) {
    rmSync(tarball, { force: true })
    const offlineHint = `${kind}:/path/to/${archive.folder}`
    await downloadFile(options.url ?? archive.url, tarball, md5, { offlineHint, ...options })
  }
  makeFolder(folder)
  options.onStage?.('extracting')
  // Keep only the expected files of the expected folder, by name.
  await extractTarGz(tarball, folder, (member) => {
    const name = posix.basename(member)
    const parent = posix.basename(posix.dirname(member))
    return parent === archive.folder && archive.members.includes(name) ? name : null
  })
  const missing = archive.members.filter((m) => !isFile(join(folder, m)))
  if (missing.length) throw new DatasetError(tarball, `does not contain ${archive.folder}/${missing.join(', ')}`)
  return folder
}
