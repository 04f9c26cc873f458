import { z } from 'zod'
import { datasetSpecStringSchema } from '../datasets'
import { isPublishedGenotypeName, PUBLISHED_GENOTYPE_NAMES, publishedBnasGenotype } from '../genotype'
import {
  isSearchPresetName,
  isTrainPresetName,
  runIdSchema,
  SEARCH_PRESETS,
  searchConfigSchema,
  TRAIN_PRESETS,
  trainConfigSchema,
  type SearchConfig,
  type TrainConfig
} from '../jobs'

/**
 * A study: arms (a search and/or a training, each with seeds) run as ordinary runs and compared in one report. The
 * file gives partial configs; every arm × seed is resolved through the real search and training schemas before
 * anything runs, so a typo in the third arm fails at once with the arm and the field named.
 */

/** Names become parts of run ids (`<study>-<arm>-s<seed>-search`): plain folder-name characters only. */
const nameSchema = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(48, `${what} must be at most 48 characters`)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, `${what} may hold letters, digits, '_' and '-' only`)

/** The partial configs of a file: any field of the real schemas (checked later, per arm), plus a preset name. */
const partialConfig = z.record(z.string(), z.unknown())

export const studyArmInputSchema = z
  .object({
    name: nameSchema('an arm name'),
    description: z.string().max(2000).optional(),
    search: partialConfig.optional(),
    /** train.genotype: a published genotype name, or 'from-search' (this arm's own search result, seed by seed). */
    train: partialConfig.optional(),
    seeds: z
      .array(z.number().int('a seed must be a whole number').nonnegative('a seed must not be negative'))
      .min(1, 'give at least one seed')
      .max(32, 'at most 32 seeds per arm')
      .refine((seeds) => new Set(seeds).size === seeds.length, 'seeds must not repeat')
  })
  .strict()
  .refine((arm) => arm.search !== undefined || arm.train !== undefined, {
    message: 'an arm needs a search, a train, or both'
  })

export const studyFileSchema = z
  .object({
    name: nameSchema('the study name'),
    description: z.string().max(4000).optional(),
    dataset: datasetSpecStringSchema,
    /** Settings every arm starts from (an arm's own settings override them). */
    base: z.object({ search: partialConfig.optional(), train: partialConfig.optional() }).strict().optional(),
    arms: z
      .array(studyArmInputSchema)
      .min(1, 'a study needs at least one arm')
      .max(16, 'at most 16 arms per study')
      .refine((arms) => new Set(arms.map((arm) => arm.name)).size === arms.length, 'arm names must be unique')
  })
  .strict()

export type StudyFileInput = z.input<typeof studyFileSchema>
export type StudyFile = z.output<typeof studyFileSchema>

/** Where an arm's training genotype comes from. */
export type GenotypeChoice = { kind: 'published'; name: string } | { kind: 'from-search' } | { kind: 'none' }

export interface ResolvedArmSeed {
  seed: number
  /** The full, validated search config (seed = this seed), or null when the arm only trains. */
  search: SearchConfig | null
  /**
   * The full, validated training config (seed = this seed), or null. For 'from-search' it holds a stand-in genotype
   * until the search has run: use `trainConfigFor` to build the real one.
   */
  train: TrainConfig | null
}

export interface ResolvedArm {
  name: string
  description?: string
  genotype: GenotypeChoice
  seeds: ResolvedArmSeed[]
}

export interface ResolvedStudy {
  name: string
  description?: string
  dataset: string
  arms: ResolvedArm[]
  /** The file as given, kept in the study's state so a later run can tell whether it changed. */
  file: StudyFile
}

export const FROM_SEARCH = 'from-search'

/** Thrown for any problem of a study file; the message names the arm and the field. */
export class StudyError extends Error {
  override name = 'StudyError'
}

function issueText(error: z.ZodError, what: 'search' | 'training'): string {
  const issue = error.issues[0]!
  // An unknown field is named itself (a typo is the usual cause), not as an issue of the object around it.
  if (issue.code === 'unrecognized_keys')
    return `${[...issue.path, issue.keys[0]].join('.')}: not a ${what} setting (check its spelling)`
  return `${issue.path.join('.') || 'value'}: ${issue.message}`
}

/** The search or training run id of one arm's seed: what the Runs page lists and `bnas resume` takes. */
export function studyRunId(study: string, arm: string, seed: number, kind: 'search' | 'train'): string {
  return `${study}-${arm}-s${seed}-${kind}`
}

function withPreset(
  what: 'search' | 'train',
  arm: string,
  ...layers: Array<Record<string, unknown> | undefined>
): Record<string, unknown> {
  const merged: Record<string, unknown> = {}
  for (const layer of layers) if (layer !== undefined) Object.assign(merged, layer)
  const preset = merged.preset
  delete merged.preset
  if (preset === undefined) return merged
  const presets: Record<string, object> = what === 'search' ? SEARCH_PRESETS : TRAIN_PRESETS
  const known = what === 'search' ? isSearchPresetName : isTrainPresetName
  if (typeof preset !== 'string' || !known(preset))
    throw new StudyError(
      `arm '${arm}': ${what}.preset: unknown preset ${JSON.stringify(preset)}; presets: ${Object.keys(presets).join(', ')}`
    )
  // The preset is the bottom layer: the file's explicit settings win over it.
  return { ...presets[preset], ...merged }
}

function resolveGenotype(arm: string, value: unknown, hasSearch: boolean): GenotypeChoice {
  if (value === undefined) return { kind: 'none' }
  if (value === FROM_SEARCH) {
    if (!hasSearch) throw new StudyError(`arm '${arm}': train.genotype: 'from-search' needs a search in the same arm`)
    return { kind: 'from-search' }
  }
  if (typeof value !== 'string' || !isPublishedGenotypeName(value))
    throw new StudyError(
      `arm '${arm}': train.genotype: ${JSON.stringify(value)} is neither '${FROM_SEARCH}' nor a published genotype (${PUBLISHED_GENOTYPE_NAMES.join(', ')})`
    )
  return { kind: 'published', name: value }
}

/**
 * Validates a study file completely: its shape, then every arm × seed through the real search and training
 * schemas. Returns the resolved configs or throws a StudyError such as
 * `arm 'no-entropy': search.lambda: lambda must not be negative`.
 */
export function resolveStudy(input: unknown): ResolvedStudy {
  const parsed = studyFileSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const [first, index, ...rest] = issue.path
    // Name the arm, not its position, wherever the file gives one.
    const armName =
      first === 'arms' && typeof index === 'number'
        ? (input as { arms?: Array<{ name?: unknown }> }).arms?.[index]?.name
        : undefined
    if (typeof armName === 'string')
      throw new StudyError(`arm '${armName}': ${rest.join('.') || 'arm'}: ${issue.message}`)
    throw new StudyError(`study file: ${issue.path.join('.') || 'file'}: ${issue.message}`)
  }
  const file = parsed.data
  const arms = file.arms.map((arm): ResolvedArm => {
    // The base settings apply only to the parts an arm has: an arm without `search` runs no search.
    const searchRaw = arm.search === undefined ? null : withPreset('search', arm.name, file.base?.search, arm.search)
    const trainRaw = arm.train === undefined ? null : withPreset('train', arm.name, file.base?.train, arm.train)
    const genotype = resolveGenotype(arm.name, trainRaw?.genotype, searchRaw !== null)
    const seeds = arm.seeds.map((seed): ResolvedArmSeed => {
      let search: SearchConfig | null = null
      if (searchRaw !== null) {
        const raw = searchRaw
        const config = searchConfigSchema.safeParse({ ...raw, dataset: raw.dataset ?? file.dataset, seed })
        if (!config.success) throw new StudyError(`arm '${arm.name}': search.${issueText(config.error, 'search')}`)
        search = config.data
      }
      let train: TrainConfig | null = null
      if (trainRaw !== null) {
        const raw = { ...trainRaw }
        delete raw.genotype
        const stand =
          genotype.kind === 'published'
            ? { genotype: genotypeObject(genotype.name, arm.name), genotypeSource: genotype.name }
            : genotype.kind === 'from-search'
              ? // A stand-in so the other fields are checked now; replaced by the search's cell before training.
                { genotype: publishedBnasGenotype('latest_cell_zeroise'), genotypeSource: FROM_SEARCH }
              : {}
        const config = trainConfigSchema.safeParse({ ...raw, ...stand, dataset: raw.dataset ?? file.dataset, seed })
        if (!config.success) throw new StudyError(`arm '${arm.name}': train.${issueText(config.error, 'training')}`)
        train = config.data
      }
      return { seed, search, train }
    })
    return {
      name: arm.name,
      ...(arm.description === undefined ? {} : { description: arm.description }),
      genotype,
      seeds
    }
  })
  // Every run id must itself be a valid run id (the names are short enough; this catches the 128-character limit).
  for (const arm of arms)
    for (const { seed } of arm.seeds) {
      const id = studyRunId(file.name, arm.name, seed, 'search')
      if (!runIdSchema.safeParse(id).success) throw new StudyError(`arm '${arm.name}': run id ${id} is not valid`)
    }
  return {
    name: file.name,
    ...(file.description === undefined ? {} : { description: file.description }),
    dataset: file.dataset,
    arms,
    file
  }
}

function genotypeObject(name: string, arm: string) {
  try {
    return publishedBnasGenotype(name)
  } catch (error) {
    throw new StudyError(`arm '${arm}': train.genotype: ${(error as Error).message}`)
  }
}

/** The training config of one arm's seed with its real genotype (the search's cell for 'from-search'). */
export function trainConfigFor(study: string, arm: ResolvedArm, entry: ResolvedArmSeed, searchGenotype: unknown) {
  if (entry.train === null) throw new Error(`arm '${arm.name}' has no training`)
  if (arm.genotype.kind !== 'from-search') return entry.train
  if (searchGenotype === null || typeof searchGenotype !== 'object')
    throw new Error(
      `arm '${arm.name}', seed ${entry.seed}: search run ${studyRunId(study, arm.name, entry.seed, 'search')} has no genotype to train`
    )
  return trainConfigSchema.parse({
    ...entry.train,
    genotype: searchGenotype,
    genotypeSource: studyRunId(study, arm.name, entry.seed, 'search')
  })
}
