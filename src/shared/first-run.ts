import { z } from 'zod'
import { searchConfigSchema, trainConfigObjectSchema } from './jobs'

/**
 * The first-run path: one button that searches a small cell on the dataset found here, trains it and exports it.
 * The plan comes from the engine side (it knows the datasets and the budget); the renderer runs its three steps with
 * the ordinary operations (search.start, train.start, export.run), so each step is a normal run the user can open.
 */
export const FIRST_RUN_BUDGETS = ['laptop', 'tiny'] as const
export type FirstRunBudget = (typeof FIRST_RUN_BUDGETS)[number]

export const firstRunPlanSchema = z.object({
  budget: z.enum(FIRST_RUN_BUDGETS),
  dataset: z.string(),
  datasetName: z.string(),
  /** True when no real dataset was found and the plan falls back to synthetic data. */
  synthetic: z.boolean(),
  search: searchConfigSchema,
  /** The training's settings; the genotype is the search's result, added when the search has finished. */
  train: trainConfigObjectSchema.omit({ genotype: true, genotypeSource: true }),
  exports: z.array(z.enum(['genotype', 'tfjs', 'onnx', 'packed'])),
  /** Rough minutes on a 2-core laptop CPU with the native kernels, measured for this budget. */
  expectedMinutes: z.number().positive()
})
export type FirstRunPlan = z.infer<typeof firstRunPlanSchema>
