import { readFile } from 'node:fs/promises'
import type { ReplyOf, RequestOf } from '../../shared/contract'
import type { ResolvedStudy } from '../../shared/study'
import { resolveAppStudy } from './app-study'
import { builtinStudyNames, builtinStudyPath } from './load'
import { buildStudyReport, listStudies } from './report'
import { planStudy } from './runner'

type StudyOp = 'studies.list' | 'studies.report' | 'studies.start'

/**
 * The contract's study operations, answered in the engine worker (the report builds networks to count their OPs, and
 * a study's runs use the engine). `start` is the engine's: it takes the one job slot.
 */
export function studyHandlers(
  runsRoot: string,
  engine: { activeStudy: () => string | null; start: (study: ResolvedStudy) => void }
): { [K in StudyOp]: (request: RequestOf<K>) => Promise<ReplyOf<K>> } {
  return {
    'studies.list': async () => {
      const builtin = []
      for (const name of await builtinStudyNames()) {
        const file = JSON.parse(await readFile(builtinStudyPath(name), 'utf8')) as {
          description?: string
          dataset?: string
          arms?: Array<{ name?: string }>
        }
        builtin.push({
          name,
          ...(file.description === undefined ? {} : { description: file.description }),
          dataset: file.dataset ?? '',
          arms: (file.arms ?? []).map((arm) => String(arm.name))
        })
      }
      const active = engine.activeStudy()
      return { builtin, studies: await listStudies(runsRoot, new Set(active === null ? [] : [active])) }
    },
    'studies.report': async ({ name }) => buildStudyReport(runsRoot, name),
    'studies.start': async (request) => {
      const study = await resolveAppStudy(runsRoot, {
        name: request.name,
        builtin: request.builtin,
        ...(request.dataset === undefined ? {} : { dataset: request.dataset })
      })
      engine.start(study)
      return { name: study.name, runs: planStudy(study).length }
    }
  }
}
