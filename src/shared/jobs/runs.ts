import { z } from 'zod'
import { epochRecordSchema, jobStatusSchema, progressRecordSchema } from './job-events'

/**
 * Runs as the app lists and shows them. A run is addressed by its id, the name of its folder inside the runs
 * folder, never by a path: the contract cannot be used to read or delete anything else on disk.
 */
export const runIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a run id is a folder name of letters, digits, ".", "_" and "-"')
  .refine((id) => !id.includes('..'), 'a run id cannot contain ".."')

export const runSummarySchema = z.object({
  id: runIdSchema,
  path: z.string(),
  kind: z.enum(['search', 'train']),
  status: jobStatusSchema,
  message: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  dataset: z.string(),
  epochsDone: z.number().int(),
  epochs: z.number().int(),
  bestAccuracy: z.number().nullable(),
  /** The genotype the run stands for: the best epoch's (search) or the one trained (train). */
  genotype: z.unknown().nullable(),
  /** True while a job of this app is running it. */
  active: z.boolean()
})
export type RunSummary = z.infer<typeof runSummarySchema>

export const runDetailSchema = z.object({
  summary: runSummarySchema,
  config: z.unknown(),
  progress: z.array(progressRecordSchema),
  epochs: z.array(epochRecordSchema),
  log: z.string()
})
export type RunDetail = z.infer<typeof runDetailSchema>
