import type { AppInfo } from '../../shared/contract'
import { formatGenotypeJson, formatGenotypePython, parseGenotype, PUBLISHED_GENOTYPES } from '../../shared/genotype'
import type { EngineHost } from '../engine-host/engine-host'
import type { HandlerTable } from './dispatcher'

export interface HandlerContext {
  engine: EngineHost
  version: string
  mode: AppInfo['mode']
  modeReason?: string
}

/** The handlers of every operation in src/shared/contract/operations.ts, shared by both transports. */
export function createHandlers(context: HandlerContext): HandlerTable {
  return {
    'app.info': () => ({
      name: 'BNAS Studio',
      version: context.version,
      mode: context.mode,
      ...(context.modeReason === undefined ? {} : { modeReason: context.modeReason }),
      platform: `${process.platform}-${process.arch}`,
      engine: context.engine.status
    }),
    'engine.status': () => context.engine.status,
    'genotypes.published': () =>
      Object.entries(PUBLISHED_GENOTYPES).map(([name, entry]) => ({
        name,
        description: entry.description,
        text: formatGenotypePython(entry.genotype)
      })),
    'genotypes.parse': ({ text }) => {
      const genotype = parseGenotype(text)
      return { json: formatGenotypeJson(genotype), python: formatGenotypePython(genotype) }
    }
  }
}
