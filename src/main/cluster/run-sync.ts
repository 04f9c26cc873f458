import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { writeFileAtomic } from '../runs/atomic-write'
import { decodeCheckpoint } from '../runs/checkpoint-file'
import { RUN_FILES } from '../runs/run-folder'
import { checkKey, type Store } from './store'

/**
 * Copies run folders between a machine and the store. In the store a run is `runs/<id>/<file>` plus `runs/<id>/files.json`,
 * the SHA-256 and size of every file, written last: a reader trusts only files whose checksum matches it, and the
 * checkpoint is checked once more by its own checksum (checkpoint-file.ts).
 */
export const INDEX_FILE = 'files.json'

export interface RunIndexFile {
  runId: string
  updatedAt: string
  files: Record<string, { sha256: string; bytes: number }>
}

export const runPrefix = (runId: string): string => `runs/${checkKey(runId).join('/')}/`

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

async function listFiles(folder: string): Promise<string[]> {
  const files: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.name.startsWith('.')) continue // temporary files of atomic writes in progress
      const path = join(dir, entry.name)
      if (entry.isDirectory()) await walk(path)
      else if (entry.isFile()) files.push(relative(folder, path).split(sep).join('/'))
    }
  }
  await walk(folder)
  return files.sort()
}

/**
 * Uploads a run folder, skipping files unchanged since the last upload (`uploaded` remembers their checksums). The
 * checkpoint is read first and stored last among the data files: the metrics stored beside it then reach at least its
 * step (the engine appends them before it checkpoints), which is what a resume elsewhere needs.
 */
export class RunUploader {
  private readonly uploaded = new Map<string, string>()

  constructor(
    private readonly store: Store,
    private readonly runId: string,
    private readonly folder: string,
    /** Rewrites run.json on its way to the store (the dataset spec as submitted, the worker's name). */
    private readonly rewriteManifest: (manifest: Record<string, unknown>) => Record<string, unknown> = (m) => m
  ) {}

  async upload(): Promise<void> {
    const checkpointName = RUN_FILES.latestCheckpoint.split(sep).join('/')
    const checkpoint = await readFile(join(this.folder, RUN_FILES.latestCheckpoint)).catch(() => null)
    if (checkpoint !== null) decodeCheckpoint(checkpoint, join(this.folder, RUN_FILES.latestCheckpoint))
    const names = (await listFiles(this.folder)).filter((name) => name !== checkpointName)
    const index: RunIndexFile = { runId: this.runId, updatedAt: new Date().toISOString(), files: {} }
    const prefix = runPrefix(this.runId)
    const put = async (name: string, data: Uint8Array): Promise<void> => {
      const sum = sha256(data)
      index.files[name] = { sha256: sum, bytes: data.length }
      if (this.uploaded.get(name) === sum) return
      await this.store.put(prefix + name, data)
      this.uploaded.set(name, sum)
    }
    for (const name of names) {
      let data: Uint8Array = await readFile(join(this.folder, name))
      if (name === RUN_FILES.manifest) {
        data = Buffer.from(
          JSON.stringify(this.rewriteManifest(JSON.parse(Buffer.from(data).toString('utf8'))), null, 2) + '\n'
        )
      }
      await put(name, data)
    }
    if (checkpoint !== null) await put(checkpointName, checkpoint)
    await this.store.put(prefix + INDEX_FILE, JSON.stringify(index, null, 2) + '\n')
  }
}

export async function readRunIndex(store: Store, runId: string): Promise<RunIndexFile | null> {
  const bytes = await store.get(runPrefix(runId) + INDEX_FILE)
  if (bytes === null) return null
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as RunIndexFile
  } catch {
    throw new Error(`${store.description}: ${runPrefix(runId)}${INDEX_FILE} is damaged (not valid JSON)`)
  }
}

/**
 * Downloads a run from the store into `folder` (emptied first), checking every file against the index. Returns false
 * when the store has no such run. A file whose checksum does not match fails the download, naming the file.
 */
export async function downloadRun(store: Store, runId: string, folder: string): Promise<boolean> {
  const index = await readRunIndex(store, runId)
  if (index === null) return false
  const prefix = runPrefix(runId)
  const files: Array<[string, Uint8Array]> = []
  for (const [name, expected] of Object.entries(index.files)) {
    checkKey(name)
    const data = await store.get(prefix + name)
    if (data === null) throw new Error(`${store.description}: ${prefix}${name} is listed in ${INDEX_FILE} but missing`)
    if (sha256(data) !== expected.sha256)
      throw new Error(
        `${store.description}: ${prefix}${name} does not match its checksum in ${INDEX_FILE} (damaged or half copied)`
      )
    if (name === RUN_FILES.latestCheckpoint.split(sep).join('/')) decodeCheckpoint(data, prefix + name)
    files.push([name, data])
  }
  await rm(folder, { recursive: true, force: true })
  await mkdir(join(folder, RUN_FILES.checkpoints), { recursive: true })
  for (const [name, data] of files) {
    const path = join(folder, ...name.split('/'))
    await mkdir(dirname(path), { recursive: true })
    await writeFileAtomic(path, data)
  }
  return true
}

/** The run ids in the store. */
export async function listStoredRuns(store: Store): Promise<string[]> {
  const keys = await store.list('runs/')
  return [...new Set(keys.filter((key) => key.endsWith('/' + INDEX_FILE)).map((key) => key.split('/')[1]!))].sort()
}
