import type { EpochRecord, ProgressRecord, SearchConfig, TrainConfig } from '../../shared/jobs'
import type { JobResult } from '../engine/jobs/run-job'

/** Messages between a cluster worker and the thread running one job's engine (internal, typed, not zod-checked). */
export type ToJobThread =
  | {
      type: 'start'
      kind: 'search' | 'train'
      folder: string
      /** True: continue the run in `folder` from its checkpoint; false: a new run with `config`. */
      resume: boolean
      config: SearchConfig | TrainConfig
      /** The spec as the job names it, and as resolved on this machine. */
      datasetSpec: string
      localDataset: string
      backend: string
      worker: string
    }
  | { type: 'control'; action: 'pause' | 'resume' | 'stop' }

export type FromJobThread =
  | { type: 'progress'; record: ProgressRecord }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'log'; message: string }
  | { type: 'done'; result: JobResult }
  | { type: 'failed'; message: string }
