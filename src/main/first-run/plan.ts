import { FIRST_RUN_BUDGETS, type FirstRunBudget, type FirstRunPlan } from '../../shared/first-run'
import { SEARCH_PRESETS, TRAIN_PRESETS, searchConfigSchema, trainConfigSchema } from '../../shared/jobs'
import type { FoundDataset } from '../../shared/datasets-found'

/**
 * The first run's settings: the quick presets on the recommended dataset, cut to what a 2-core laptop CPU finishes
 * in about four minutes (measured with the native kernels on Fashion-MNIST on 2 cores: one search epoch of 25 steps
 * 47 s, so 3 epochs about 2.5 min; one training epoch of 62 steps about 16 s; the exports seconds). BNAS_FIRST_RUN_BUDGET=tiny shrinks every size so
 * that the end-to-end test walks the same path in seconds; nothing else changes.
 */

const BUDGET: Record<FirstRunBudget, { search: object; train: object; minutes: number }> = {
  laptop: {
    search: { ...SEARCH_PRESETS.quick, epochs: 3 },
    // Gradient clipping: a freshly searched cell on Fashion-MNIST diverged (NaN loss by step 20) at lr 0.05 without
    // it, and trains steadily with it (51.8 % after one epoch).
    train: { ...TRAIN_PRESETS.quick, epochs: 3, gradClip: 5 },
    minutes: 4
  },
  tiny: {
    search: {
      cells: 3,
      channels: 2,
      batchSize: 8,
      epochs: 1,
      subset: 64,
      validationSubset: 32,
      progressEvery: 1,
      checkpointEvery: 4
    },
    train: {
      cells: 3,
      channels: 2,
      batchSize: 8,
      epochs: 1,
      subset: 64,
      testSubset: 32,
      schedule: 'cosine',
      dropPath: 0,
      gradClip: 5,
      progressEvery: 1,
      checkpointEvery: 4
    },
    minutes: 0.5
  }
}

export function firstRunBudget(env: NodeJS.ProcessEnv = process.env): FirstRunBudget {
  const value = env.BNAS_FIRST_RUN_BUDGET
  if (value === undefined || value === '') return 'laptop'
  if ((FIRST_RUN_BUDGETS as readonly string[]).includes(value)) return value as FirstRunBudget
  throw new Error(`BNAS_FIRST_RUN_BUDGET must be one of ${FIRST_RUN_BUDGETS.join(', ')}, got '${value}'`)
}

export function firstRunPlan(dataset: FoundDataset, budget: FirstRunBudget): FirstRunPlan {
  const spec = dataset.spec ?? 'synthetic:2000'
  const { search, train, minutes } = BUDGET[budget]
  const trainConfig = trainConfigSchema.parse({ ...train, dataset: spec, genotype: {} })
  const { genotype: _genotype, genotypeSource: _source, ...trainSettings } = trainConfig
  return {
    budget,
    dataset: spec,
    // "Fashion-MNIST", not the picker's "Fashion-MNIST (IDX)": the sentence is about the data, not its format.
    datasetName: dataset.name.replace(/ \(.*\)$/, ''),
    synthetic: dataset.kind === 'synthetic',
    search: searchConfigSchema.parse({ ...search, dataset: spec }),
    train: trainSettings,
    exports: ['genotype', 'packed', 'onnx'],
    expectedMinutes: minutes
  }
}
