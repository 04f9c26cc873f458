import { z } from 'zod'
import { datasetSpecStringSchema } from '../datasets'

/**
 * Every hyper-parameter of a BNAS search (BNAS-SPEC sections 4 and 5.1), validated the same way in the command
 * line, the contract and the run folder. Defaults are the paper's; presets override a few.
 */
const positiveInt = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .positive(`${what} must be at least 1`)
const nonNegative = (what: string) =>
  z.number({ error: `${what} must be a number` }).nonnegative(`${what} must not be negative`)
const rate = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .positive(`${what} must be greater than 0`)
    .max(10, `${what} above 10 is surely a typo`)

export const searchConfigSchema = z
  .object({
    dataset: datasetSpecStringSchema,
    /** Use only this many train images (seeded choice) for a quick run; the search split halves them. */
    subset: positiveInt('subset').optional(),
    /** Images of the α half used for the end-of-epoch validation; all when absent. */
    validationSubset: positiveInt('validationSubset').optional(),
    trainPortion: z.number().gt(0).lt(1).default(0.5),
    cells: positiveInt('cells').min(3, 'cells must be at least 3 (two reductions and a normal cell)').default(8),
    channels: positiveInt('channels').default(16),
    epochs: positiveInt('epochs').default(50),
    batchSize: positiveInt('batchSize').default(64),
    weightLr: rate('weightLr').default(0.025),
    weightLrMin: nonNegative('weightLrMin').default(0.001),
    momentum: z.number().min(0).lt(1).default(0.9),
    weightDecay: nonNegative('weightDecay').default(3e-4),
    archLr: rate('archLr').default(3e-4),
    archBeta1: z.number().min(0).lt(1).default(0.5),
    archBeta2: z.number().min(0).lt(1).default(0.999),
    archWeightDecay: nonNegative('archWeightDecay').default(1e-3),
    /** λ of the entropy regularizer; 0 turns it off. */
    lambda: nonNegative('lambda').default(1),
    /** τ of exp(−t/τ), in epochs. */
    tau: rate('tau').max(1e6).default(7.7),
    /** γ for the ImageNet-transfer genotype (Zeroise column divided by γ). */
    gamma: z.number().min(1, 'gamma must be at least 1').default(3),
    /** 'xnor': the authors' gradient transform (default); 'ste': plain straight-through. */
    weightGradient: z.enum(['xnor', 'ste']).default('xnor'),
    /**
     * How the genotype is read from α (spec section 6). 'layer' (BNAS): Zeroise counts like any op, so a cell can keep
     * it as a real layer. 'placeholder' (DARTS' parse): Zeroise is searched but ignored when the cell is derived.
     */
    zeroise: z.enum(['layer', 'placeholder']).default('layer'),
    augment: z.boolean().default(true),
    seed: z.number().int().nonnegative().default(2),
    /** Write a checkpoint every this many steps (and at every epoch end). */
    checkpointEvery: positiveInt('checkpointEvery').default(50),
    /** Write a progress record every this many steps. */
    progressEvery: positiveInt('progressEvery').default(10)
  })
  .strict()
  .refine((config) => config.weightLrMin <= config.weightLr, {
    message: 'weightLrMin must not exceed weightLr',
    path: ['weightLrMin']
  })

export type SearchConfigInput = z.input<typeof searchConfigSchema>
export type SearchConfig = z.output<typeof searchConfigSchema>

export const SEARCH_PRESETS = {
  /** BNAS-SPEC 5.1 exactly: CIFAR-10 search on a GPU. */
  paper: { cells: 8, channels: 16, batchSize: 64, epochs: 50 },
  /**
   * A real search that finishes in a few minutes on 2 CPU cores: a small supernet on a few thousand
   * Fashion-MNIST images. α moves (the entropy term anneals over the few epochs with a short τ).
   */
  quick: {
    cells: 5,
    channels: 4,
    batchSize: 32,
    epochs: 4,
    subset: 1600,
    validationSubset: 400,
    tau: 2,
    archLr: 3e-3,
    checkpointEvery: 10,
    progressEvery: 5
  }
} as const satisfies Record<string, Partial<SearchConfigInput>>

export type SearchPresetName = keyof typeof SEARCH_PRESETS

export function isSearchPresetName(name: string): name is SearchPresetName {
  return Object.hasOwn(SEARCH_PRESETS, name)
}
