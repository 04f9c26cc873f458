import { readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { DatasetError } from './errors'

/** Turns a file system error into a DatasetError naming the path and the cause in words. */
export function fsProblem(path: string, error: unknown): DatasetError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const problem =
    code === 'ENOENT'
      ? 'does not exist'
      : code === 'EACCES' || code === 'EPERM'
        ? 'cannot be read (permission denied)'
        : code === 'EISDIR'
          ? 'is a folder, expected a file'
          : code === 'ENOTDIR'
            ? 'is not a folder'
            : `cannot be read (${error instanceof Error ? error.message : String(error)})`
  return new DatasetError(path, problem)
}

/** Reads a whole file, with a DatasetError for any failure. */
export function readDataFile(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw fsProblem(path, error)
  }
}

/** Checks that `path` is an existing folder. */
export function requireFolder(path: string): void {
  let isDir: boolean
  try {
    isDir = statSync(path).isDirectory()
  } catch (error) {
    throw fsProblem(path, error)
  }
  if (!isDir) throw new DatasetError(path, 'is a file, expected a folder')
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

export function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** Gunzips when the content starts with the gzip magic (1f 8b), whatever the file name says. */
export function maybeGunzip(path: string, data: Buffer): Buffer {
  if (data.length < 2 || data[0] !== 0x1f || data[1] !== 0x8b) return data
  try {
    return gunzipSync(data)
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    throw new DatasetError(path, `is a damaged or truncated gzip file (${why})`)
  }
}

/**
 * An absolute path from what the user typed. `~/` is expanded because a shell leaves it alone inside a spec
 * (`cifar10:~/data` does not start with `~`).
 */
export function userPath(path: string): string {
  if (path === '~') return homedir()
  if (path.startsWith('~/')) return join(homedir(), path.slice(2))
  return resolve(path)
}
