import { DARTS_OP_NAMES, OP_NAMES } from './ops'
import type { DartsGenotype, Genotype, GenotypeOf } from './types'
import { assertGenotype, genotypeProblems, validateDartsGenotype } from './validate'

/*
 * The authors' text form is the repr of a Python namedtuple, e.g.
 *   Genotype(normal=[('none', 1), ...], normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))
 * A small recursive-descent parser reads exactly this subset of Python (no eval): string literals in single or double
 * quotes, integers, lists, tuples, range(stop) / range(start, stop[, step]), keyword or positional arguments, trailing
 * commas, and an optional `NAME =` prefix as the lines of genotypes.py carry.
 */

type PyValue = string | number | PyValue[]

class PythonTextError extends Error {
  constructor(text: string, position: number, message: string) {
    const before = text.slice(0, position)
    const line = before.split('\n').length
    const column = position - before.lastIndexOf('\n')
    super(`genotype text, line ${line} column ${column}: ${message}`)
  }
}

class Reader {
  position = 0
  constructor(private readonly text: string) {}

  fail(message: string, at = this.position): never {
    throw new PythonTextError(this.text, at, message)
  }

  skipSpace(): void {
    while (this.position < this.text.length) {
      const char = this.text[this.position]
      if (char === '#') {
        while (this.position < this.text.length && this.text[this.position] !== '\n') this.position++
      } else if (/\s/.test(char)) this.position++
      else break
    }
  }

  peek(): string {
    this.skipSpace()
    return this.text[this.position] ?? ''
  }

  describeNext(): string {
    this.skipSpace()
    return this.position >= this.text.length ? 'end of text' : `'${this.text.slice(this.position, this.position + 12)}'`
  }

  expect(token: string): void {
    this.skipSpace()
    if (!this.text.startsWith(token, this.position)) this.fail(`expected '${token}' but found ${this.describeNext()}`)
    this.position += token.length
  }

  accept(token: string): boolean {
    this.skipSpace()
    if (!this.text.startsWith(token, this.position)) return false
    this.position += token.length
    return true
  }

  identifier(): string | undefined {
    this.skipSpace()
    const match = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(this.text.slice(this.position))
    if (!match) return undefined
    this.position += match[0].length
    return match[0]
  }

  atEnd(): boolean {
    this.skipSpace()
    return this.position >= this.text.length
  }

  value(): PyValue {
    const next = this.peek()
    if (next === "'" || next === '"') return this.string()
    if (next === '[') return this.sequence('[', ']')
    if (next === '(') return this.sequence('(', ')')
    if (/[-+0-9]/.test(next)) return this.integer()
    const start = this.position
    const name = this.identifier()
    if (name === 'range') return this.range()
    return this.fail(
      name ? `unexpected name '${name}' (only range(...) is understood)` : `unexpected ${this.describeNext()}`,
      start
    )
  }

  string(): string {
    const quote = this.text[this.position]
    const start = this.position
    let out = ''
    this.position++
    while (this.position < this.text.length && this.text[this.position] !== quote) {
      if (this.text[this.position] === '\n') this.fail('unterminated string', start)
      if (this.text[this.position] === '\\') this.position++
      out += this.text[this.position++] ?? ''
    }
    if (this.position >= this.text.length) this.fail('unterminated string', start)
    this.position++
    return out
  }

  integer(): number {
    this.skipSpace()
    const match = /^[-+]?\d+(?![.\deE])/.exec(this.text.slice(this.position))
    if (!match) this.fail(`expected an integer but found ${this.describeNext()}`)
    this.position += match[0].length
    return Number(match[0])
  }

  sequence(open: string, close: string): PyValue[] {
    this.expect(open)
    const items: PyValue[] = []
    while (!this.accept(close)) {
      items.push(this.value())
      if (!this.accept(',') && this.peek() !== close)
        this.fail(`expected ',' or '${close}' but found ${this.describeNext()}`)
    }
    return items
  }

  range(): number[] {
    const start = this.position
    const args = this.sequence('(', ')')
    if (args.length < 1 || args.length > 3 || !args.every((arg) => typeof arg === 'number')) {
      this.fail('range() takes 1 to 3 integers', start)
    }
    const [from, to, step] = args.length === 1 ? [0, args[0] as number, 1] : [args[0], args[1], args[2] ?? 1]
    if (step === 0) this.fail('range() step must not be zero', start)
    const out: number[] = []
    for (let i = from as number; (step as number) > 0 ? i < (to as number) : i > (to as number); i += step as number) {
      out.push(i)
    }
    return out
  }
}

const FIELDS = ['normal', 'normal_concat', 'reduce', 'reduce_concat'] as const

/** Reads the Genotype(...) call into its four raw fields, without checking the op space. */
function readPythonFields(text: string): Record<(typeof FIELDS)[number], PyValue> {
  const reader = new Reader(text)
  let name = reader.identifier()
  if (name && reader.accept('=')) name = reader.identifier()
  if (!name || !/(^|\.)Genotype$/.test(name))
    reader.fail(`expected 'Genotype(' but found ${name ? `'${name}'` : reader.describeNext()}`, 0)
  reader.expect('(')
  const fields: Partial<Record<(typeof FIELDS)[number], PyValue>> = {}
  let positional = 0
  while (!reader.accept(')')) {
    const save = reader.position
    const key = reader.identifier()
    let field: (typeof FIELDS)[number]
    if (key && key !== 'range' && reader.accept('=')) {
      if (!(FIELDS as readonly string[]).includes(key))
        reader.fail(`unknown field '${key}' (fields: ${FIELDS.join(', ')})`, save)
      field = key as (typeof FIELDS)[number]
    } else {
      reader.position = save
      if (positional >= FIELDS.length) reader.fail('too many arguments to Genotype(...)', save)
      field = FIELDS[positional++]
    }
    if (field in fields) reader.fail(`field '${field}' given twice`, save)
    fields[field] = reader.value()
    if (!reader.accept(',') && reader.peek() !== ')')
      reader.fail(`expected ',' or ')' but found ${reader.describeNext()}`)
  }
  if (!reader.atEnd()) reader.fail(`unexpected text after Genotype(...): ${reader.describeNext()}`)
  const missing = FIELDS.filter((field) => !(field in fields))
  if (missing.length > 0) reader.fail(`Genotype(...) is missing ${missing.join(', ')}`, 0)
  return fields as Record<(typeof FIELDS)[number], PyValue>
}

function toEdges(value: PyValue, field: string): Array<[string, number]> {
  if (!Array.isArray(value)) throw new Error(`genotype text: ${field} must be a list of (op, input) pairs`)
  return value.map((pair, index) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'number') {
      throw new Error(`genotype text: ${field}[${index}] must be a pair ('op_name', input)`)
    }
    return [pair[0], pair[1]]
  })
}

function toConcat(value: PyValue, field: string): number[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'number')) {
    throw new Error(`genotype text: ${field} must be a list of integers or range(...)`)
  }
  return value as number[]
}

/** Parses the authors' text into a genotype of any op names; the caller checks the op space. */
export function parsePythonGenotypeFields(text: string): GenotypeOf<string> {
  const fields = readPythonFields(text)
  return {
    normal: toEdges(fields.normal, 'normal'),
    normalConcat: toConcat(fields.normal_concat, 'normal_concat'),
    reduce: toEdges(fields.reduce, 'reduce'),
    reduceConcat: toConcat(fields.reduce_concat, 'reduce_concat')
  }
}

/** Parses `Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)` as a BNAS genotype. */
export function parseGenotypePython(text: string): Genotype {
  return assertGenotype(parsePythonGenotypeFields(text), 'genotype text')
}

/** The same for DARTS-space text (comparison only). */
export function parseDartsGenotypePython(text: string): DartsGenotype {
  const result = validateDartsGenotype(parsePythonGenotypeFields(text))
  if (!result.ok) throw new Error(`invalid genotype text: ${result.errors.join('; ')}`)
  return result.genotype
}

export interface FormatPythonOptions {
  /** Print a contiguous ascending concat as `range(a, b)`, as the authors' genotypes.py has it. Default true. */
  concatAsRange?: boolean
}

function formatConcat(concat: readonly number[], asRange: boolean): string {
  const contiguous = concat.length > 0 && concat.every((value, index) => value === concat[0] + index)
  if (asRange && contiguous) return `range(${concat[0]}, ${concat[0] + concat.length})`
  return `[${concat.join(', ')}]`
}

/** The repr the authors' code prints and `eval`s (genotypes.py lines, `--arch` lookups). */
export function formatGenotypePython(genotype: GenotypeOf<string>, opts: FormatPythonOptions = {}): string {
  const asRange = opts.concatAsRange ?? true
  const edges = (cell: ReadonlyArray<[string, number]>) =>
    `[${cell.map(([op, input]) => `('${op}', ${input})`).join(', ')}]`
  return (
    `Genotype(normal=${edges(genotype.normal)}, normal_concat=${formatConcat(genotype.normalConcat, asRange)}, ` +
    `reduce=${edges(genotype.reduce)}, reduce_concat=${formatConcat(genotype.reduceConcat, asRange)})`
  )
}

/** The project's JSON form: camelCase fields, edges as [op, input] pairs. */
export function formatGenotypeJson(genotype: GenotypeOf<string>, indent = 2): string {
  return JSON.stringify(genotype, null, indent)
}

/** Parses JSON text (camelCase, or the authors' snake_case field names) as a BNAS genotype. */
export function parseGenotypeJson(text: string): Genotype {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new Error(`genotype JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  return assertGenotype(value, 'genotype JSON')
}

/** Reads either form: text starting with `{` is JSON, anything else the Python repr. */
export function parseGenotype(text: string): Genotype {
  return text.trimStart().startsWith('{') ? parseGenotypeJson(text) : parseGenotypePython(text)
}

/** True when the genotype only uses BNAS ops and is well wired. */
export function isBnasGenotype(genotype: GenotypeOf<string>): genotype is Genotype {
  return genotypeProblems(genotype, OP_NAMES).length === 0
}

export function isDartsGenotype(genotype: GenotypeOf<string>): genotype is DartsGenotype {
  return genotypeProblems(genotype, DARTS_OP_NAMES).length === 0
}
