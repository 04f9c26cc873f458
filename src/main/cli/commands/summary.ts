import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import {
  assertGenotype,
  isPublishedGenotypeName,
  parseDartsGenotypePython,
  parseGenotype,
  PUBLISHED_GENOTYPES,
  validateDartsGenotype,
  type DartsGenotype,
  publishedBnasGenotype,
  PUBLISHED_GENOTYPE_NAMES,
  type Genotype
} from '../../../shared/genotype'
import { TRAIN_ARCHITECTURES, type TrainArchitecture } from '../../../shared/jobs'
import { initBackend } from '../../engine/backend'
import { summarizeTrainNetwork, type Macro, type Shape3 } from '../../engine/network'
import { formatSummaryTable, type ModelSummary } from '../../engine/summary'

export interface SummaryCliOptions {
  genotype?: string
  /** cell (default), binary-resnet18 or darts-v2-binary. */
  architecture?: string
  cells?: string
  channels?: string
  input?: string
  classes?: string
  macro?: string
  json?: boolean
  layers?: boolean
}

/** Defaults per macro: BNAS-A on CIFAR-10, BNAS-D on ImageNet. */
const DEFAULTS: Record<Macro, { cells: number; channels: number; input: string; classes: number }> = {
  cifar: { cells: 20, channels: 36, input: '32x32x3', classes: 10 },
  imagenet: { cells: 12, channels: 64, input: '224x224x3', classes: 1000 }
}

export function parseInputShape(text: string): Shape3 {
  const match = /^\s*(\d+)\s*[x×]\s*(\d+)\s*[x×]\s*(\d+)\s*$/i.exec(text)
  const dims = match ? [Number(match[1]), Number(match[2]), Number(match[3])] : []
  if (!match || dims.some((d) => d < 1)) {
    throw new Error(`--input must be HxWxC with positive integers, e.g. 32x32x3 (got '${text}')`)
  }
  return dims as Shape3
}

function parseCount(text: string | undefined, fallback: number, option: string): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(value) || value < 1) {
    throw new Error(`${option} must be a positive integer (got '${text}')`)
  }
  return value
}

/**
 * A published name, a file holding JSON or the authors' `Genotype(...)` text, or a run folder: a search run's best
 * genotype (genotype.json) or the genotype a training run trained.
 */
export async function loadGenotype(nameOrFile: string): Promise<Genotype> {
  if (isPublishedGenotypeName(nameOrFile)) return publishedBnasGenotype(nameOrFile)
  if ((await stat(nameOrFile).catch(() => null))?.isDirectory()) return loadRunGenotype(nameOrFile)
  let text: string
  try {
    text = await readFile(nameOrFile, 'utf8')
  } catch {
    throw new Error(
      `unknown genotype '${nameOrFile}': neither a published name (${PUBLISHED_GENOTYPE_NAMES.join(', ')}) ` +
        'nor a readable file'
    )
  }
  try {
    return parseGenotype(text)
  } catch (error) {
    throw new Error(`${nameOrFile}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/**
 * A DARTS-space genotype for the darts-v2-binary baseline: the published DARTS_V2, or a file in JSON or the
 * `Genotype(...)` text.
 */
export async function loadDartsGenotype(nameOrFile: string): Promise<DartsGenotype> {
  if (nameOrFile === 'DARTS_V2') return structuredClone(PUBLISHED_GENOTYPES.DARTS_V2.genotype) as DartsGenotype
  if (isPublishedGenotypeName(nameOrFile)) {
    throw new Error(
      `${nameOrFile} is a BNAS cell: darts-v2-binary takes a DARTS-space genotype (DARTS_V2 or a file); train a BNAS ` +
        'cell with architecture cell'
    )
  }
  const text = await readFile(nameOrFile, 'utf8').catch(() => null)
  if (text === null) throw new Error(`unknown DARTS genotype '${nameOrFile}': neither DARTS_V2 nor a readable file`)
  try {
    if (!text.trimStart().startsWith('{')) return parseDartsGenotypePython(text)
    const checked = validateDartsGenotype(JSON.parse(text))
    if (!checked.ok) throw new Error(checked.errors.join('; '))
    return checked.genotype
  } catch (error) {
    throw new Error(`${nameOrFile}: not a DARTS genotype: ${error instanceof Error ? error.message : String(error)}`)
  }
}

async function loadRunGenotype(folder: string): Promise<Genotype> {
  const searchResult = join(folder, 'genotype.json')
  const text = await readFile(searchResult, 'utf8').catch(() => null)
  if (text !== null) return parseGenotype(text)
  const manifest = await readFile(join(folder, 'run.json'), 'utf8').catch(() => null)
  const trained =
    manifest === null ? undefined : (JSON.parse(manifest) as { config?: { genotype?: unknown } }).config?.genotype
  if (trained !== undefined) return assertGenotype(trained, `${folder}/run.json`)
  throw new Error(`${folder} holds no genotype yet: a search run writes genotype.json when it completes`)
}

/** The work of `bnas summary`, callable in-process (tests, other commands). */
export async function computeSummary(options: SummaryCliOptions): Promise<ModelSummary> {
  const macro = (options.macro ?? 'cifar') as Macro
  if (macro !== 'cifar' && macro !== 'imagenet') {
    throw new Error(`--macro must be cifar or imagenet (got '${options.macro}')`)
  }
  const defaults = DEFAULTS[macro]
  const architecture = (options.architecture ?? 'cell') as TrainArchitecture
  if (!TRAIN_ARCHITECTURES.includes(architecture)) {
    throw new Error(`--architecture must be one of ${TRAIN_ARCHITECTURES.join(', ')} (got '${options.architecture}')`)
  }
  let genotype: object | undefined
  if (options.genotype !== undefined) {
    if (architecture === 'binary-resnet18') throw new Error('--genotype: binary-resnet18 has no cell to give')
    genotype =
      architecture === 'darts-v2-binary'
        ? await loadDartsGenotype(options.genotype)
        : await loadGenotype(options.genotype)
  } else if (architecture === 'cell') {
    throw new Error('--genotype is needed for architecture cell (a published name or a file)')
  }
  const config = {
    architecture,
    genotype,
    cells: parseCount(options.cells, defaults.cells, '--cells'),
    channels: parseCount(options.channels, defaults.channels, '--channels'),
    classes: parseCount(options.classes, defaults.classes, '--classes'),
    input: parseInputShape(options.input ?? defaults.input),
    macro
  }
  // Nothing is computed, only weights allocated: the pure-JS backend starts fastest and is always there.
  await initBackend('cpu')
  return summarizeTrainNetwork(config)
}

/** The text `bnas summary` prints: the table, or JSON with `--json`. */
export async function runSummary(options: SummaryCliOptions): Promise<string> {
  const summary = await computeSummary(options)
  return options.json ? JSON.stringify(summary, null, 2) : formatSummaryTable(summary, { layers: options.layers })
}

export function registerSummary(program: Command): void {
  program
    .command('summary')
    .description('parameters (1-bit / 32-bit), BOPs, FLOPs, OPs and size of a final network built from a genotype')
    .option(
      '--genotype <name|file>',
      `a published genotype (${PUBLISHED_GENOTYPE_NAMES.join(', ')}) or a file; needed by architecture cell`
    )
    .option(
      '--architecture <name>',
      'cell (default), binary-resnet18 (width --channels) or darts-v2-binary (DARTS_V2 unless --genotype)'
    )
    .option('--cells <L>', 'number of cells (default 20 for cifar, 12 for imagenet)')
    .option('--channels <C>', 'initial channels (default 36 for cifar, 64 for imagenet)')
    .option('--input <HxWxC>', 'input image shape (default 32x32x3 for cifar, 224x224x3 for imagenet)')
    .option('--classes <K>', 'number of classes (default 10 for cifar, 1000 for imagenet)')
    .option('--macro <cifar|imagenet>', 'macro-architecture (stem and head)', 'cifar')
    .option('--layers', 'one row per layer instead of per block', false)
    .option('--json', 'print JSON (with trainableParams, totals under both accountings, blocks and layers)', false)
    .action(async (options: SummaryCliOptions) => {
      process.stdout.write(`${await runSummary(options)}\n`)
    })
}
