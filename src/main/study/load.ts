import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { resolveStudy, StudyError, type ResolvedStudy } from '../../shared/study'
import { appRoot } from '../app/paths'

/** The built-in studies (issue 15): resources/studies/<name>.json, shipped with the app. */
export function builtinStudiesDir(root = appRoot()): string {
  return join(root, 'resources', 'studies')
}

export async function builtinStudyNames(root?: string): Promise<string[]> {
  const entries = await readdir(builtinStudiesDir(root)).catch(() => [] as string[])
  return entries
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.slice(0, -5))
    .sort()
}

export function builtinStudyPath(name: string, root?: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new StudyError(`unknown built-in study '${name}'`)
  return join(builtinStudiesDir(root), `${name}.json`)
}

/**
 * Reads and validates a study file. `overrides` replaces top-level fields (the dataset, e.g. to run a built-in study
 * on another dataset) before validation.
 */
export async function loadStudyFile(path: string, overrides: { dataset?: string } = {}): Promise<ResolvedStudy> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new StudyError(`study file ${path} cannot be read: check the path`)
  }
  let input: unknown
  try {
    input = JSON.parse(text)
  } catch (error) {
    throw new StudyError(`study file ${path} is not valid JSON: ${(error as Error).message}`)
  }
  if (overrides.dataset !== undefined && input !== null && typeof input === 'object')
    input = { ...input, dataset: overrides.dataset }
  return resolveStudy(input)
}

export async function loadBuiltinStudy(name: string, overrides: { dataset?: string } = {}): Promise<ResolvedStudy> {
  const names = await builtinStudyNames()
  if (!names.includes(name))
    throw new StudyError(`unknown built-in study '${name}'; built-in studies: ${names.join(', ') || 'none found'}`)
  return loadStudyFile(builtinStudyPath(name), overrides)
}
