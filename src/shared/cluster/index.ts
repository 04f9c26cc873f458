import { z } from 'zod'
import { runIdSchema, searchConfigSchema, trainConfigSchema } from '../jobs'

/**
 * A job on the cluster queue (Redis + BullMQ): what a worker runs. The config is the same validated config a local
 * run takes; the dataset stays a spec (inside the config) that every worker resolves against its own datasets
 * folder. The run id names the run folder in the store and on the worker, so it is a plain folder name.
 */
export const clusterJobSchema = z.discriminatedUnion('kind', [
  z
    .object({ kind: z.literal('search'), runId: runIdSchema, config: searchConfigSchema, sweep: z.string().optional() })
    .strict(),
  z
    .object({ kind: z.literal('train'), runId: runIdSchema, config: trainConfigSchema, sweep: z.string().optional() })
    .strict()
])
export type ClusterJobInput = z.input<typeof clusterJobSchema>
export type ClusterJob = z.output<typeof clusterJobSchema>

/** BullMQ's priorities: 1 is the highest, larger numbers wait longer. 0 (none) is served before any priority. */
export const jobPrioritySchema = z.number().int().min(0).max(2_097_152)

/** A Redis URL: redis:// or rediss:// (TLS), optionally with user and password. */
export const redisUrlSchema = z
  .string()
  .min(1, 'give the Redis URL, e.g. redis://host:6379')
  .max(2000)
  .refine((value) => /^rediss?:\/\/[^\s]+$/.test(value), 'a Redis URL starts with redis:// or rediss:// (TLS)')

/** A worker as it announces itself (heartbeat every few seconds). */
export const clusterWorkerSchema = z.object({
  name: z.string(),
  host: z.string(),
  pid: z.number().int(),
  backend: z.string(),
  concurrency: z.number().int(),
  startedAt: z.string(),
  lastSeen: z.string(),
  /** Run ids it is running now. */
  running: z.array(z.string())
})
export type ClusterWorker = z.infer<typeof clusterWorkerSchema>

/** BullMQ's states of a job, plus 'stopped': completed because a user stopped it (its run can be continued). */
export const clusterJobStateSchema = z.enum([
  'stopped',
  'waiting',
  'prioritized',
  'delayed',
  'active',
  'completed',
  'failed',
  'paused',
  'unknown'
])

/** One job as the app lists it: the queue's state plus the worker that runs it and its latest speed. */
export const clusterJobSummarySchema = z.object({
  runId: z.string(),
  kind: z.enum(['search', 'train']),
  state: clusterJobStateSchema,
  sweep: z.string().optional(),
  dataset: z.string(),
  priority: z.number(),
  attempts: z.number().int(),
  failedReason: z.string().optional(),
  worker: z.string().optional(),
  imagesPerSecond: z.number().optional(),
  step: z.number().optional(),
  totalSteps: z.number().optional(),
  paused: z.boolean(),
  createdAt: z.string(),
  finishedAt: z.string().optional()
})
export type ClusterJobSummary = z.infer<typeof clusterJobSummarySchema>

export const clusterOverviewSchema = z.object({
  url: z.string(),
  connected: z.boolean(),
  message: z.string().optional(),
  counts: z.object({
    waiting: z.number().int(),
    active: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    delayed: z.number().int()
  }),
  workers: z.array(clusterWorkerSchema),
  jobs: z.array(clusterJobSummarySchema)
})
export type ClusterOverview = z.infer<typeof clusterOverviewSchema>

/**
 * A sweep: a base config and, per hyper-parameter, the values to try. Every combination is one job (the grid), so
 * a sweep over seeds is `{ seed: [1, 2, 3] }`. Kept small: at most 1000 jobs.
 */
export const sweepGridSchema = z
  .record(z.string(), z.array(z.union([z.number(), z.string(), z.boolean()])).min(1, 'give at least one value'))
  .refine((grid) => Object.keys(grid).length > 0, 'a sweep needs at least one hyper-parameter with values')
export type SweepGrid = z.infer<typeof sweepGridSchema>
export const MAX_SWEEP_JOBS = 1000
