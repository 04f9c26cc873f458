import { describe, expect, it } from 'vitest'
import { findDatasets, recommendedDataset } from '../../src/main/datasets/found'
import { firstRunBudget, firstRunPlan } from '../../src/main/first-run/plan'
import { firstRunPlanSchema } from '../../src/shared/first-run'
import { searchConfigSchema, trainConfigSchema } from '../../src/shared/jobs'
import { PUBLISHED_GENOTYPES } from '../../src/shared/genotype'

/** The first run's plan: valid configs for the ordinary operations, on the dataset found, within its budget. */
describe('the first-run plan', () => {
  const synthetic = recommendedDataset(findDatasets('/nonexistent')).kind === 'synthetic'
  const found = findDatasets('/nonexistent')

  it('reads its budget from BNAS_FIRST_RUN_BUDGET and rejects a wrong one with the accepted names', () => {
    expect(firstRunBudget({})).toBe('laptop')
    expect(firstRunBudget({ BNAS_FIRST_RUN_BUDGET: 'tiny' })).toBe('tiny')
    expect(() => firstRunBudget({ BNAS_FIRST_RUN_BUDGET: 'huge' })).toThrow(
      "BNAS_FIRST_RUN_BUDGET must be one of laptop, tiny, got 'huge'"
    )
  })

  it('plans the quick presets on the recommended dataset, as configs search.start and train.start accept', () => {
    for (const budget of ['laptop', 'tiny'] as const) {
      const plan = firstRunPlanSchema.parse(firstRunPlan(recommendedDataset(found), budget))
      expect(plan.dataset).toBe(synthetic ? 'synthetic:2000' : 'fashion-mnist')
      expect(plan.synthetic).toBe(synthetic)
      expect(searchConfigSchema.parse(plan.search)).toEqual(plan.search)
      const train = trainConfigSchema.parse({
        ...plan.train,
        dataset: plan.dataset,
        genotype: PUBLISHED_GENOTYPES.latest_cell_zeroise.genotype
      })
      expect(train.gradClip).toBe(5)
      expect(plan.exports).toEqual(['genotype', 'packed', 'onnx'])
    }
    const laptop = firstRunPlan(recommendedDataset(found), 'laptop')
    // The measured budget: 3 search epochs of 25 steps and 3 training epochs of the quick presets.
    expect(laptop.search).toMatchObject({ cells: 5, channels: 4, epochs: 3, subset: 1600, batchSize: 32 })
    expect(laptop.train).toMatchObject({ cells: 5, channels: 8, epochs: 3, subset: 2000 })
    const tiny = firstRunPlan(recommendedDataset(found), 'tiny')
    expect(tiny.search.subset! * tiny.search.epochs).toBeLessThan(laptop.search.subset! * laptop.search.epochs)
  })

  it('falls back to synthetic data where no real dataset is found', () => {
    const plan = firstRunPlan(
      found.find((entry) => entry.kind === 'synthetic')!,
      'laptop'
    )
    expect(plan).toMatchObject({ dataset: 'synthetic:2000', synthetic: true })
  })
})
