import { readdir, readFile, rm, stat } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { runIdSchema, type EpochRecord, type ProgressRecord, type RunDetail, type RunSummary } from '../../shared/jobs'
import { RunFolder, type RunManifest } from './run-folder'

/** The runs folder of the app: every run is a sub-folder; the Runs page is this listing. */
export class RunIndex {
  readonly root: string

  constructor(root: string) {
    this.root = resolve(root)
  }

  /** The folder of a run id; refuses ids that are not plain folder names (no path can leave the runs folder). */
  pathOf(id: string): string {
    const parsed = runIdSchema.safeParse(id)
    if (!parsed.success) throw new Error(`invalid run id ${JSON.stringify(id)}: ${parsed.error.issues[0]?.message}`)
    const path = resolve(this.root, parsed.data)
    if (!path.startsWith(this.root + sep)) throw new Error(`invalid run id ${JSON.stringify(id)}`)
    return path
  }

  /** A new, unused run id: kind, date and time, and a counter if needed. */
  async newId(kind: string, now = new Date()): Promise<string> {
    const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
    for (let n = 0; ; n++) {
      const id = `${kind}-${stamp}${n === 0 ? '' : `-${n}`}`
      const exists = await stat(join(this.root, id)).then(
        () => true,
        () => false
      )
      if (!exists) return id
    }
  }

  async list(active: ReadonlySet<string> = new Set()): Promise<RunSummary[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => [])
    const summaries: RunSummary[] = []
    for (const entry of entries) {
      if (!entry.isDirectory() || !runIdSchema.safeParse(entry.name).success) continue
      const summary = await this.summary(entry.name, active).catch(() => null)
      if (summary !== null) summaries.push(summary)
    }
    return summaries.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  }

  async summary(id: string, active: ReadonlySet<string> = new Set()): Promise<RunSummary> {
    const folder = new RunFolder(this.pathOf(id))
    const manifest = await folder.readManifest<{ dataset?: string; epochs?: number }>()
    const epochs = await folder.readJsonLines<EpochRecord>('epochs')
    return summarize(id, folder.path, manifest, epochs, active.has(id))
  }

  async detail(id: string, active: ReadonlySet<string> = new Set()): Promise<RunDetail> {
    const folder = new RunFolder(this.pathOf(id))
    const manifest = await folder.readManifest<{ dataset?: string; epochs?: number }>()
    const epochs = await folder.readJsonLines<EpochRecord>('epochs')
    const metrics = await folder.readJsonLines<ProgressRecord | EpochRecord>('metrics')
    const log = await readFile(folder.file('log'), 'utf8').catch(() => '')
    return {
      summary: summarize(id, folder.path, manifest, epochs, active.has(id)),
      config: manifest.config,
      progress: metrics.filter((record): record is ProgressRecord => record.type === 'progress'),
      epochs,
      // The newest part of the log is what a person reads; keep the reply small for very long runs.
      log: log.length > 200_000 ? log.slice(-200_000) : log
    }
  }

  async remove(id: string, active: ReadonlySet<string> = new Set()): Promise<void> {
    if (active.has(id)) throw new Error(`run ${id} is running: stop it before deleting it`)
    const path = this.pathOf(id)
    await new RunFolder(path).readManifest() // only ever delete what is really a run folder
    await rm(path, { recursive: true, force: true })
  }
}

function summarize(
  id: string,
  path: string,
  manifest: RunManifest<{ dataset?: string; epochs?: number }>,
  epochs: EpochRecord[],
  active: boolean
): RunSummary {
  let best: EpochRecord | null = null
  for (const record of epochs) if (best === null || record.validationAccuracy > best.validationAccuracy) best = record
  const config = manifest.config
  const trainGenotype = (config as { genotype?: unknown }).genotype
  return {
    id,
    path,
    kind: manifest.kind,
    status: manifest.status,
    ...(manifest.message === undefined ? {} : { message: manifest.message }),
    createdAt: manifest.createdAt,
    updatedAt: manifest.updatedAt,
    dataset: config.dataset ?? '',
    epochsDone: epochs.length,
    epochs: config.epochs ?? epochs.length,
    bestAccuracy: best?.validationAccuracy ?? null,
    genotype: manifest.kind === 'train' ? (trainGenotype ?? null) : (best?.genotype ?? null),
    active
  }
}
