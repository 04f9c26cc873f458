import { z } from 'zod'
import { DARTS_OP_NAMES, OP_NAMES } from './ops'
import type { DartsGenotype, Genotype, GenotypeOf } from './types'

const edgeShape = z.tuple([z.string(), z.number().int()])
const cellShape = z.array(edgeShape)
const concatShape = z.array(z.number().int())

/** The structural shape; the semantic rules (known ops, wiring, concat) are checked by `genotypeProblems`. */
const genotypeShape = z.object({
  normal: cellShape,
  normalConcat: concatShape,
  reduce: cellShape,
  reduceConcat: concatShape
})

/**
 * Every rule a genotype of the given op space breaks, one exact message each, in the order the fields are read.
 * Rules: 2 edges per node, at least one node; each edge's input is an earlier state of its node; ops known; the concat
 * lists name distinct intermediate nodes (DARTS convention).
 */
export function genotypeProblems(genotype: GenotypeOf<string>, ops: readonly string[] = OP_NAMES): string[] {
  const problems: string[] = []
  for (const cell of ['normal', 'reduce'] as const) {
    const edges = genotype[cell]
    if (edges.length === 0 || edges.length % 2 !== 0) {
      problems.push(`${cell}: expected 2 edges per node (an even, non-zero count), got ${edges.length}`)
    }
    edges.forEach(([op, input], index) => {
      const node = Math.floor(index / 2)
      if (!ops.includes(op)) {
        problems.push(`${cell}[${index}]: unknown op '${op}' (valid ops: ${ops.join(', ')})`)
      }
      if (!Number.isInteger(input) || input < 0 || input > node + 1) {
        problems.push(
          `${cell}[${index}]: input ${input} is not an earlier state of node ${node} (allowed 0..${node + 1})`
        )
      }
    })
    const concatKey = cell === 'normal' ? 'normalConcat' : 'reduceConcat'
    const concat = genotype[concatKey]
    const steps = Math.floor(edges.length / 2)
    if (concat.length === 0) problems.push(`${concatKey}: must name at least one node`)
    concat.forEach((state, index) => {
      if (!Number.isInteger(state) || state < 2 || state > steps + 1) {
        problems.push(`${concatKey}[${index}]: ${state} is not an intermediate node (allowed 2..${steps + 1})`)
      } else if (concat.indexOf(state) !== index) {
        problems.push(`${concatKey}[${index}]: ${state} is listed twice`)
      }
    })
  }
  return problems
}

function issuePath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)),
    ''
  )
}

function schemaFor<Op extends string>(ops: readonly Op[]) {
  return genotypeShape.superRefine((value, ctx) => {
    for (const message of genotypeProblems(value, ops)) ctx.addIssue({ code: 'custom', message })
  }) as unknown as z.ZodType<GenotypeOf<Op>>
}

/** zod schema of a BNAS genotype (camelCase JSON); messages of semantic issues are the exact ones above. */
export const genotypeSchema = schemaFor(OP_NAMES)

/** zod schema of a DARTS-space genotype, for DARTS_V2 and genotypes imported for comparison. */
export const dartsGenotypeSchema = schemaFor(DARTS_OP_NAMES)

export type GenotypeCheck<G> = { ok: true; genotype: G } | { ok: false; errors: string[] }

/** Accepts the authors' snake_case field names too (a namedtuple's `_asdict()` dumped as JSON). */
function normaliseKeys(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const record = { ...(value as Record<string, unknown>) }
  for (const [snake, camel] of [
    ['normal_concat', 'normalConcat'],
    ['reduce_concat', 'reduceConcat']
  ] as const) {
    if (snake in record && !(camel in record)) {
      record[camel] = record[snake]
      delete record[snake]
    }
  }
  return record
}

function check<G>(schema: z.ZodType<G>, value: unknown): GenotypeCheck<G> {
  const result = schema.safeParse(normaliseKeys(value))
  if (result.success) return { ok: true, genotype: result.data }
  const errors = result.error.issues.map((issue) =>
    issue.code === 'custom' ? issue.message : `${issuePath(issue.path) || 'genotype'}: ${issue.message}`
  )
  return { ok: false, errors }
}

/** Checks an untrusted value as a BNAS genotype; errors are values (for IPC handlers and forms). */
export function validateGenotype(value: unknown): GenotypeCheck<Genotype> {
  return check(genotypeSchema, value)
}

export function validateDartsGenotype(value: unknown): GenotypeCheck<DartsGenotype> {
  return check(dartsGenotypeSchema, value)
}

/** Like `validateGenotype` but throws one Error listing every problem (for the CLI and the engine). */
export function assertGenotype(value: unknown, what = 'genotype'): Genotype {
  const result = validateGenotype(value)
  if (!result.ok) throw new Error(`invalid ${what}: ${result.errors.join('; ')}`)
  return result.genotype
}
