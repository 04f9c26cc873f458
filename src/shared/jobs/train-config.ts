import { z } from 'zod'
import { datasetSpecStringSchema } from '../datasets'

/**
 * Every setting of a final training run (BNAS-SPEC sections 5.2 and 5.3). The genotype is stored resolved (the
 * cell itself, not only a name), so a run folder always says exactly what it trained.
 */
const positiveInt = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .positive(`${what} must be at least 1`)
const nonNegative = (what: string) =>
  z.number({ error: `${what} must be a number` }).nonnegative(`${what} must not be negative`)

/**
 * The networks a training run can train: 'cell' is the BNAS final network of `genotype`; the other two are the
 * hand-designed binary baselines of issue 15 (src/main/engine/network/baselines): a Bi-Real-style binary ResNet-18
 * whose width is `channels`, and the DARTS V2 cell with its ops binarized in the BNAS cell template.
 */
export const TRAIN_ARCHITECTURES = ['cell', 'binary-resnet18', 'darts-v2-binary'] as const
export type TrainArchitecture = (typeof TRAIN_ARCHITECTURES)[number]

/**
 * The settings' fields without the cross-field checks, for schemas that derive from it (`.omit`, `.pick` refuse a
 * refined object in zod 4). Parse with {@link trainConfigSchema}.
 */
export const trainConfigObjectSchema = z
  .object({
    dataset: datasetSpecStringSchema,
    /** Absent in run folders written before the baselines existed: those trained the cell. */
    architecture: z
      .enum(TRAIN_ARCHITECTURES, {
        error: (issue) =>
          `architecture must be one of ${TRAIN_ARCHITECTURES.join(', ')} (got ${JSON.stringify(issue.input)})`
      })
      .default('cell'),
    /**
     * The cell to train: a genotype object (validated when the network is built). Needed by 'cell'; 'darts-v2-binary'
     * takes DARTS_V2 when it is absent (or a DARTS-space genotype); 'binary-resnet18' has no cell.
     */
    genotype: z
      .unknown()
      .refine((value) => typeof value === 'object' && value !== null, 'genotype must be a genotype object')
      .optional(),
    /** Where the genotype came from, for the user: a published name, a file, or a search run. */
    genotypeSource: z.string().optional(),
    /** The baselines are built for the cifar macro only. */
    macro: z.enum(['cifar', 'imagenet']).default('cifar'),
    /** Cells L of a cell or darts-v2-binary network; binary-resnet18 has its fixed 16 blocks and ignores it. */
    cells: positiveInt('cells').min(3, 'cells must be at least 3').default(20),
    /** Initial channels C; for binary-resnet18 the first stage's width (stages C, 2C, 4C, 8C). */
    channels: positiveInt('channels').default(36),
    epochs: positiveInt('epochs').default(600),
    batchSize: positiveInt('batchSize').default(256),
    /** one-cycle: spec 5.2 (CIFAR); cosine-restarts: spec 5.3 (ImageNet, period 50 epochs); cosine: plain annealing. */
    schedule: z.enum(['one-cycle', 'cosine-restarts', 'cosine']).default('one-cycle'),
    lr: z.number().positive().max(10).default(0.05),
    momentum: z.number().min(0).lt(1).default(0.9),
    weightDecay: nonNegative('weightDecay').default(3e-6),
    /** Final drop-path probability; it grows linearly from 0 over the epochs (spec 5.2: 0.2). */
    dropPath: z.number().min(0).lt(1).default(0.2),
    labelSmoothing: z.number().min(0).lt(1).default(0),
    /** Global gradient-norm clip applied before the XNOR transform (spec 5.3: 5); 0 = off. */
    gradClip: nonNegative('gradClip').default(0),
    augment: z.boolean().default(true),
    cutout: z.number().int().min(0).default(0),
    subset: positiveInt('subset').optional(),
    testSubset: positiveInt('testSubset').optional(),
    weightGradient: z.enum(['xnor', 'ste']).default('xnor'),
    seed: z.number().int().nonnegative().default(0),
    checkpointEvery: positiveInt('checkpointEvery').default(100),
    progressEvery: positiveInt('progressEvery').default(10)
  })
  .strict()

export const trainConfigSchema = trainConfigObjectSchema.superRefine((config, ctx) => {
  if (config.architecture === 'cell' && config.genotype === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['genotype'],
      message:
        'architecture cell needs a genotype (a published name, a genotype file or a search run); the baselines ' +
        "'binary-resnet18' and 'darts-v2-binary' train without one"
    })
  }
  if (config.architecture === 'binary-resnet18' && config.genotype !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['genotype'],
      message: 'architecture binary-resnet18 has no cell: leave the genotype out (its size is set by channels)'
    })
  }
})

export type TrainConfigInput = z.input<typeof trainConfigSchema>
export type TrainConfig = z.output<typeof trainConfigSchema>

export const TRAIN_PRESETS = {
  /** BNAS-A on CIFAR-10 (spec 5.2): 20 cells, C = 36, 600 epochs, batch 256, one-cycle 0.05, drop-path 0.2. */
  'bnas-a': {
    cells: 20,
    channels: 36,
    epochs: 600,
    batchSize: 256,
    schedule: 'one-cycle',
    lr: 0.05,
    weightDecay: 3e-6,
    dropPath: 0.2
  },
  /** A short training a laptop CPU finishes in minutes: a small network of the same cell. */
  quick: {
    cells: 5,
    channels: 8,
    epochs: 3,
    batchSize: 32,
    subset: 2000,
    testSubset: 500,
    schedule: 'cosine',
    lr: 0.05,
    dropPath: 0,
    // Without a clip the first epoch's binary gradients can blow up at lr 0.05 (Fashion-MNIST, latest_cell_zeroise:
    // validation loss 11.8 and 57 % after 3 epochs; with clip 5: 1.03 and 59 %, the loss falling every epoch).
    gradClip: 5,
    checkpointEvery: 20,
    progressEvery: 5
  }
} as const satisfies Record<string, Partial<TrainConfigInput>>

export type TrainPresetName = keyof typeof TRAIN_PRESETS

export function isTrainPresetName(name: string): name is TrainPresetName {
  return Object.hasOwn(TRAIN_PRESETS, name)
}
