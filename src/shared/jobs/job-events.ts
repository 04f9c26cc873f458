import { z } from 'zod'

/**
 * What a running job reports: the same records go to the run folder (metrics.jsonl / epochs.jsonl), to the
 * command line (progress bar or JSON lines) and, as contract events, to the renderer.
 */
export const jobStatusSchema = z.enum(['running', 'paused', 'stopped', 'completed', 'failed'])
export type JobStatus = z.infer<typeof jobStatusSchema>

export const progressRecordSchema = z.object({
  type: z.literal('progress'),
  epoch: z.number().int(),
  epochs: z.number().int(),
  /** Step within the epoch, 1-based after it ran. */
  stepInEpoch: z.number().int(),
  stepsPerEpoch: z.number().int(),
  /** Steps done since the run began (resumes included). */
  step: z.number().int(),
  totalSteps: z.number().int(),
  trainLoss: z.number(),
  trainAccuracy: z.number(),
  learningRate: z.number(),
  imagesPerSecond: z.number(),
  etaSeconds: z.number()
})
export type ProgressRecord = z.infer<typeof progressRecordSchema>

const matrix = z.array(z.array(z.number()))

export const epochRecordSchema = z.object({
  type: z.literal('epoch'),
  epoch: z.number().int(),
  step: z.number().int(),
  trainLoss: z.number(),
  trainAccuracy: z.number(),
  validationLoss: z.number(),
  validationAccuracy: z.number(),
  learningRate: z.number(),
  imagesPerSecond: z.number(),
  seconds: z.number(),
  /** Search only: mean edge entropy H̄ and the regularizer's coefficient λ·exp(−t/τ). */
  entropy: z.number().optional(),
  entropyCoefficient: z.number().optional(),
  /** Search only: softmax(α) per edge (14 × 7) at the end of the epoch. */
  alphaNormal: matrix.optional(),
  alphaReduce: matrix.optional(),
  /** Search only: the genotype derived at the end of the epoch (γ = 1), and with γ for ImageNet transfer. */
  genotype: z.unknown().optional(),
  genotypeTransfer: z.unknown().optional()
})
export type EpochRecord = z.infer<typeof epochRecordSchema>

export const jobStatusEventSchema = z.object({
  status: jobStatusSchema,
  message: z.string().optional(),
  folder: z.string()
})
export type JobStatusEvent = z.infer<typeof jobStatusEventSchema>
