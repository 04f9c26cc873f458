import { join } from 'node:path'
import type { DatasetDownload, DownloadableKind } from '../../shared/datasets-found'
import { CIFAR_ARCHIVES, downloadCifar } from './download'

/**
 * Downloads the app starts for the Datasets page, one per kind at a time, into the app's datasets folder. The work is
 * download.ts's (Range resume, MD5 check before extraction, extraction of the expected members only); this keeps
 * each download's latest state, so a page that opens (or reconnects) midway sees it, and reports every change,
 * progress at most every `throttleMs`.
 */
export interface DownloadManagerOptions {
  root: string
  report: (state: DatasetDownload) => void
  /** Other sources (a mirror, or a test server) with their MD5. */
  sources?: Partial<Record<DownloadableKind, { url: string; md5: string }>>
  throttleMs?: number
}

export class DownloadManager {
  private readonly states = new Map<DownloadableKind, DatasetDownload>()
  private readonly running = new Map<DownloadableKind, Promise<void>>()

  constructor(private readonly options: DownloadManagerOptions) {}

  /** Every download this session started, newest state each (finished and failed ones too). */
  list(): DatasetDownload[] {
    return [...this.states.values()]
  }

  /** Starts downloading `kind` unless it is under way; answers its state now. */
  start(kind: DownloadableKind): DatasetDownload {
    const current = this.states.get(kind)
    if (this.running.has(kind) && current) return current
    const folder = join(this.options.root, CIFAR_ARCHIVES[kind].folder)
    const throttle = this.options.throttleMs ?? 250
    let last = 0
    const set = (patch: Partial<DatasetDownload>, force = true): void => {
      const next = { ...this.states.get(kind)!, ...patch }
      this.states.set(kind, next)
      const now = Date.now()
      if (force || now - last >= throttle) {
        last = now
        this.options.report(next)
      }
    }
    this.states.set(kind, { kind, state: 'downloading', received: 0, total: null, resumedFrom: 0, folder })
    this.options.report(this.states.get(kind)!)
    const source = this.options.sources?.[kind]
    const task = downloadCifar(kind, this.options.root, {
      ...(source ?? {}),
      onProgress: ({ received, total, resumedFrom }) =>
        set({ state: 'downloading', received, total, resumedFrom }, false),
      onStage: (stage) => set({ state: stage })
    })
      .then((extracted) => set({ state: 'done', spec: `${kind}:${extracted}`, folder: extracted }))
      .catch((error: unknown) =>
        set({ state: 'failed', message: error instanceof Error ? error.message : String(error) })
      )
      .finally(() => this.running.delete(kind))
    this.running.set(kind, task)
    return this.states.get(kind)!
  }

  /** Resolves when every running download has ended (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all(this.running.values())
  }
}
