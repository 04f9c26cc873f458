import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'
import { writeFileAtomic } from '../runs/atomic-write'

/**
 * Where runs live so that every worker and the app can reach them. Keys are '/'-separated relative names
 * ('runs/<run id>/run.json'). A put is atomic: a reader sees the old bytes or the new, never half. This is the whole
 * interface, so an object store (S3, GCS) can stand in for the shared folder later.
 */
export interface Store {
  /** For messages: where the store is. */
  readonly description: string
  put(key: string, data: Uint8Array | string): Promise<void>
  /** The bytes, or null when there is no such key. */
  get(key: string): Promise<Uint8Array | null>
  /** Every key under a prefix ending in '/', sorted. */
  list(prefix: string): Promise<string[]>
  /** Deletes every key under a prefix ending in '/'. */
  removeAll(prefix: string): Promise<void>
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

/** Refuses keys that could leave the store: empty, absolute, '..' or odd segments. */
export function checkKey(key: string, { prefix = false } = {}): string[] {
  const body = prefix ? key.replace(/\/$/, '') : key
  const segments = body.split('/')
  if (body === '' || segments.some((segment) => !SEGMENT.test(segment) || segment.includes('..')))
    throw new Error(
      `invalid store key ${JSON.stringify(key)}: use '/'-separated names of letters, digits, '.', '_' and '-'`
    )
  return segments
}

/** The store as a folder every machine mounts (NFS, SMB, a synced drive), written with atomic renames. */
export class FolderStore implements Store {
  readonly root: string

  constructor(root: string) {
    this.root = resolve(root)
  }

  get description(): string {
    return this.root
  }

  private pathOf(key: string, options?: { prefix?: boolean }): string {
    const path = resolve(this.root, ...checkKey(key, options))
    if (!path.startsWith(this.root + sep))
      throw new Error(`invalid store key ${JSON.stringify(key)}: outside the store`)
    return path
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const path = this.pathOf(key)
    await mkdir(resolve(path, '..'), { recursive: true })
    await writeFileAtomic(path, data)
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return await readFile(this.pathOf(key))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.pathOf(prefix, { prefix: true })
    const keys: string[] = []
    const walk = async (folder: string): Promise<void> => {
      const entries = await readdir(folder, { withFileTypes: true }).catch(() => [])
      for (const entry of entries) {
        // Temporary files of writes in progress start with '.'; they are not keys.
        if (entry.name.startsWith('.')) continue
        const path = join(folder, entry.name)
        if (entry.isDirectory()) await walk(path)
        else if (entry.isFile()) keys.push(relative(this.root, path).split(sep).join('/'))
      }
    }
    await walk(base)
    return keys.sort()
  }

  async removeAll(prefix: string): Promise<void> {
    await rm(this.pathOf(prefix, { prefix: true }), { recursive: true, force: true })
  }

  /** Fails clearly when the folder is missing or cannot be written, before a worker takes any job. */
  async check(): Promise<void> {
    const info = await stat(this.root).catch(() => null)
    if (info === null || !info.isDirectory())
      throw new Error(
        `store folder ${this.root} does not exist: create it (a folder every worker and the app can reach)`
      )
    const probe = `.probe-${process.pid}`
    await writeFileAtomic(join(this.root, probe), 'ok').catch((error: Error) => {
      throw new Error(`store folder ${this.root} cannot be written: ${error.message}`)
    })
    await rm(join(this.root, probe), { force: true })
  }
}
