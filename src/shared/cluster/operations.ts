import { z } from 'zod'
import { runIdSchema, searchConfigSchema, trainConfigSchema } from '../jobs'
import {
  clusterJobStateSchema,
  clusterOverviewSchema,
  jobPrioritySchema,
  redisUrlSchema,
  sweepGridSchema
} from './index'

/**
 * The contract's cluster operations (spread into src/shared/contract/operations.ts): connect the app to a queue and
 * its store, queue jobs and sweeps, steer them, and fetch a remote run into the local runs folder.
 */
const jobRequest = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('search'), config: searchConfigSchema, priority: jobPrioritySchema.optional() }).strict(),
  z.object({ kind: z.literal('train'), config: trainConfigSchema, priority: jobPrioritySchema.optional() }).strict()
])

export const clusterOperations = {
  /** Connects to the queue at `url`; `store` is the folder the workers store runs in (as this machine reaches it). */
  'cluster.connect': {
    request: z.object({ url: redisUrlSchema, store: z.string().min(1, 'give the store folder').max(4096) }).strict(),
    reply: clusterOverviewSchema
  },
  'cluster.disconnect': { request: z.object({}).strict(), reply: z.object({ connected: z.literal(false) }) },
  /** Queue counts, live workers and the newest jobs with their worker, speed and failure reason. */
  'cluster.overview': { request: z.object({}).strict(), reply: clusterOverviewSchema },
  /** Queues one search or training with the validated config. */
  'cluster.submit': { request: jobRequest, reply: z.object({ runId: runIdSchema }) },
  /** Queues one job per combination of the grid's values over a base config (validated in full before queuing). */
  'cluster.sweep': {
    request: z
      .object({
        kind: z.enum(['search', 'train']),
        base: z.record(z.string(), z.unknown()),
        grid: sweepGridSchema,
        priority: jobPrioritySchema.optional(),
        name: runIdSchema.optional()
      })
      .strict(),
    reply: z.object({ sweep: z.string(), runIds: z.array(runIdSchema) })
  },
  'cluster.control': {
    request: z.object({ runId: runIdSchema, action: z.enum(['pause', 'resume', 'stop']) }).strict(),
    reply: z.object({ runId: runIdSchema, state: clusterJobStateSchema })
  },
  /** Copies a remote run (as far as it got) from the store into the local runs folder, where every page reads it. */
  'cluster.open': {
    request: z.object({ runId: runIdSchema }).strict(),
    reply: z.object({ runId: runIdSchema, path: z.string() })
  }
} as const
