import { access, appendFile, mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { writeFileAtomic } from './atomic-write'

/**
 * A run is a folder; the app's history is these folders.
 *
 *   run.json          what the run is (kind, config, dataset, seed) and its status, rewritten atomically
 *   metrics.jsonl     append-only: one JSON object per line (progress every N steps, one summary per epoch)
 *   epochs.jsonl      append-only: per epoch, softmax α of every edge and the genotype derived from it
 *   log.txt           append-only human-readable log
 *   checkpoints/      latest.ckpt (every N steps and at each epoch end), written atomically
 *   model/            the trained network of a training run
 */
export const RUN_FILES = {
  manifest: 'run.json',
  metrics: 'metrics.jsonl',
  epochs: 'epochs.jsonl',
  log: 'log.txt',
  checkpoints: 'checkpoints',
  latestCheckpoint: join('checkpoints', 'latest.ckpt'),
  model: 'model'
} as const

export type RunStatus = 'running' | 'paused' | 'stopped' | 'completed' | 'failed'

export interface RunManifest<Config = unknown> {
  id: string
  kind: 'search' | 'train'
  createdAt: string
  updatedAt: string
  status: RunStatus
  /** Why a run failed or stopped, in words for the user. */
  message?: string
  appVersion: string
  config: Config
}

export class RunFolder {
  readonly path: string

  constructor(path: string) {
    this.path = resolve(path)
  }

  file(name: keyof typeof RUN_FILES): string {
    return join(this.path, RUN_FILES[name])
  }

  /** Makes a new run folder; refuses a folder that already holds anything, so no earlier run is overwritten. */
  static async create<Config>(path: string, manifest: Omit<RunManifest<Config>, 'updatedAt'>): Promise<RunFolder> {
    const folder = new RunFolder(path)
    const existing = await readdir(folder.path).catch(() => null)
    if (existing !== null && existing.length > 0) {
      throw new Error(
        `${folder.path} is not empty: choose a new folder for the run (or \`bnas resume ${folder.path}\` to continue it)`
      )
    }
    await mkdir(join(folder.path, RUN_FILES.checkpoints), { recursive: true })
    await folder.writeManifest({ ...manifest, updatedAt: manifest.createdAt })
    return folder
  }

  /** Opens an existing run, with a clear error when the folder is not one. */
  static async open(path: string): Promise<RunFolder> {
    const folder = new RunFolder(path)
    const info = await stat(folder.path).catch(() => null)
    if (info === null || !info.isDirectory()) throw new Error(`run folder ${folder.path} does not exist`)
    await folder.readManifest()
    return folder
  }

  async readManifest<Config = unknown>(): Promise<RunManifest<Config>> {
    const path = this.file('manifest')
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch {
      throw new Error(`${this.path} is not a BNAS Studio run: it has no ${RUN_FILES.manifest}`)
    }
    try {
      return JSON.parse(text) as RunManifest<Config>
    } catch {
      throw new Error(`${path} is damaged (not valid JSON)`)
    }
  }

  async writeManifest(manifest: RunManifest<unknown>): Promise<void> {
    await writeFileAtomic(this.file('manifest'), JSON.stringify(manifest, null, 2) + '\n')
  }

  async updateManifest(change: Partial<Pick<RunManifest, 'status' | 'message'>>): Promise<RunManifest> {
    const manifest = await this.readManifest()
    const next = { ...manifest, ...change, updatedAt: new Date().toISOString() }
    if (change.message === undefined && change.status !== undefined) delete next.message
    await this.writeManifest(next)
    return next
  }

  async appendJsonLine(name: 'metrics' | 'epochs', record: object): Promise<void> {
    await appendFile(this.file(name), JSON.stringify(record) + '\n')
  }

  async appendLog(line: string): Promise<void> {
    await appendFile(this.file('log'), `${new Date().toISOString()} ${line}\n`)
  }

  /**
   * Reads a JSON-lines file. A kill -9 can leave the last line half written; that line is dropped (the
   * checkpoint it belonged to was not written yet either). A damaged line anywhere else is an error.
   */
  async readJsonLines<T>(name: 'metrics' | 'epochs'): Promise<T[]> {
    const text = await readFile(this.file(name), 'utf8').catch(() => '')
    const lines = text.split('\n')
    const records: T[] = []
    lines.forEach((line, index) => {
      if (line.trim() === '') return
      try {
        records.push(JSON.parse(line) as T)
      } catch {
        const isLast = lines.slice(index + 1).every((rest) => rest.trim() === '')
        if (!isLast) throw new Error(`${this.file(name)} line ${index + 1} is damaged (not valid JSON)`)
      }
    })
    return records
  }

  /**
   * Whether there is a checkpoint to resume from. A run killed before its first checkpoint simply starts again (its
   * logs emptied); a run that recorded progress but has no checkpoint is an error, never a silent restart.
   */
  async canResume(): Promise<boolean> {
    const checkpoint = this.file('latestCheckpoint')
    const exists = await access(checkpoint).then(
      () => true,
      () => false
    )
    if (exists) return true
    const recorded = await this.readJsonLines<{ step?: number }>('metrics')
    if (recorded.some((record) => (record.step ?? 0) > 0)) {
      throw new Error(
        `checkpoint ${checkpoint} is missing, but the run recorded progress: it cannot be resumed exactly`
      )
    }
    await this.truncateAfterStep(0)
    return false
  }

  /**
   * On resume: drops the records written after the checkpoint being resumed from (they will be written again),
   * so the logs of a resumed run read as if it had never stopped.
   */
  async truncateAfterStep(step: number): Promise<void> {
    for (const name of ['metrics', 'epochs'] as const) {
      const kept = (await this.readJsonLines<{ step?: number }>(name)).filter((record) => (record.step ?? 0) <= step)
      await writeFileAtomic(this.file(name), kept.map((record) => JSON.stringify(record) + '\n').join(''))
    }
  }
}
