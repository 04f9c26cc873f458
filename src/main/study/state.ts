import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { studyFileSchema, type StudyFile } from '../../shared/study'
import { writeFileAtomic } from '../runs/atomic-write'

/**
 * A study's state in the runs folder: `studies/<name>.json` keeps the study file as it was run and which run belongs
 * to which arm and seed. The runs themselves are ordinary run folders beside it (the Runs page lists them); the state
 * only says how they group, so deleting it loses nothing a rerun cannot rebuild.
 */
export const STUDIES_FOLDER = 'studies'

export interface StudyRunEntry {
  arm: string
  seed: number
  kind: 'search' | 'train'
  runId: string
}

export interface StudyState {
  name: string
  file: StudyFile
  createdAt: string
  updatedAt: string
  runs: StudyRunEntry[]
}

export function studyStatePath(runsRoot: string, name: string): string {
  return join(runsRoot, STUDIES_FOLDER, `${name}.json`)
}

export async function readStudyState(runsRoot: string, name: string): Promise<StudyState | null> {
  const path = studyStatePath(runsRoot, name)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return null
  }
  let state: StudyState
  try {
    state = JSON.parse(text) as StudyState
  } catch {
    throw new Error(`${path} is damaged (not valid JSON): delete it and run the study again to rebuild it`)
  }
  const file = studyFileSchema.safeParse(state.file)
  if (!file.success || !Array.isArray(state.runs))
    throw new Error(`${path} is not a study state: delete it and run the study again to rebuild it`)
  return { ...state, file: file.data }
}

export async function writeStudyState(runsRoot: string, state: StudyState): Promise<void> {
  await mkdir(join(runsRoot, STUDIES_FOLDER), { recursive: true })
  await writeFileAtomic(studyStatePath(runsRoot, state.name), JSON.stringify(state, null, 2) + '\n')
}

/** The names of the studies that have a state in this runs folder. */
export async function listStudyNames(runsRoot: string): Promise<string[]> {
  const entries = await readdir(join(runsRoot, STUDIES_FOLDER)).catch(() => [] as string[])
  return entries
    .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
    .map((name) => name.slice(0, -'.json'.length))
    .sort()
}
