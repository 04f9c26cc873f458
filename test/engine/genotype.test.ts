import { describe, expect, it } from 'vitest'
import {
  DARTS_V2,
  deriveGenotype,
  edgeEndpoints,
  edgeIndex,
  formatGenotypeJson,
  formatGenotypePython,
  LATEST_CELL,
  LATEST_CELL_ZEROISE,
  meanEdgeEntropy,
  OP_NAMES,
  parseDartsGenotypePython,
  parseGenotype,
  parseGenotypeJson,
  parseGenotypePython,
  publishedBnasGenotype,
  PUBLISHED_GENOTYPES,
  validateGenotype,
  type OpName
} from '../../src/shared/genotype'

// Verbatim lines of the authors' src/genotypes.py (gistvision/bnas).
const AUTHORS_LATEST_CELL_ZEROISE =
  "latest_cell_zeroise = Genotype(normal=[('none', 1), ('bin_dil_conv_3x3', 0), ('bin_conv_3x3', 1), ('none', 2), " +
  "('none', 2), ('none', 3), ('none', 3), ('none', 4)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), " +
  "('none', 1), ('max_pool_3x3', 0), ('none', 2), ('none', 3), ('none', 2), ('none', 3), ('none', 4)], " +
  'reduce_concat=range(2, 6))'
const AUTHORS_LATEST_CELL =
  "latest_cell =  Genotype(normal=[('bin_conv_3x3', 1), ('bin_dil_conv_3x3', 0), ('bin_conv_3x3', 1), " +
  "('bin_conv_3x3', 2), ('bin_conv_3x3', 2), ('bin_dil_conv_3x3', 1), ('bin_dil_conv_3x3', 1), ('bin_conv_3x3', 0)], " +
  "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), " +
  "('bin_conv_3x3', 2), ('max_pool_3x3', 0), ('bin_dil_conv_3x3', 3), ('max_pool_3x3', 0), ('bin_dil_conv_3x3', 4)], " +
  'reduce_concat=range(2, 6))'
const AUTHORS_DARTS_V2 =
  "DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), " +
  "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], " +
  "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), " +
  "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"

const op = (name: OpName) => OP_NAMES.indexOf(name)

/** A 14×7 α matrix of a small constant with chosen edges given a dominant op. */
function alphaWith(picks: Record<number, Partial<Record<OpName, number>>>, base = 0): number[][] {
  return Array.from({ length: 14 }, (_, edge) => {
    const row = new Array<number>(7).fill(base)
    for (const [name, value] of Object.entries(picks[edge] ?? {})) row[op(name as OpName)] = value
    return row
  })
}

describe('op names and edge layout', () => {
  it('keeps the authors order with Zeroise at index 0', () => {
    expect(OP_NAMES).toEqual([
      'none',
      'max_pool_3x3',
      'avg_pool_3x3',
      'bin_dil_conv_3x3',
      'bin_dil_conv_5x5',
      'bin_conv_3x3',
      'bin_conv_5x5'
    ])
  })

  it('numbers the 14 edges node by node', () => {
    expect([0, 1, 2, 3].map((node) => edgeIndex(node, 0))).toEqual([0, 2, 5, 9])
    expect(edgeIndex(3, 4)).toBe(13)
    expect(edgeEndpoints(13)).toEqual({ node: 3, input: 4 })
    expect(edgeEndpoints(5)).toEqual({ node: 2, input: 0 })
    expect(() => edgeIndex(1, 3)).toThrow('input 3 is not an earlier state of node 1')
  })
})

describe('validation', () => {
  it('accepts the published BNAS cells', () => {
    expect(validateGenotype(LATEST_CELL_ZEROISE).ok).toBe(true)
    expect(validateGenotype(LATEST_CELL).ok).toBe(true)
  })

  it('says exactly which edge reads a state that does not exist yet', () => {
    const bad = structuredClone(LATEST_CELL)
    bad.normal[3] = ['bin_conv_3x3', 5]
    expect(validateGenotype(bad)).toEqual({
      ok: false,
      errors: ['normal[3]: input 5 is not an earlier state of node 1 (allowed 0..2)']
    })
  })

  it('lists the valid ops for an unknown op name', () => {
    const result = validateGenotype(DARTS_V2)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.errors[0]).toBe(
      "normal[0]: unknown op 'sep_conv_3x3' (valid ops: none, max_pool_3x3, avg_pool_3x3, bin_dil_conv_3x3, " +
        'bin_dil_conv_5x5, bin_conv_3x3, bin_conv_5x5)'
    )
  })

  it('reports structural and concat problems with their path', () => {
    const result = validateGenotype({ normal: [['none', 'x']], normalConcat: [2], reduce: [], reduceConcat: [] })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.errors[0]).toMatch(/^normal\[0\]\[1\]: /)
    const concat = validateGenotype({ ...LATEST_CELL, reduceConcat: [2, 2, 6] })
    expect(concat.ok ? [] : concat.errors).toEqual([
      'reduceConcat[1]: 2 is listed twice',
      'reduceConcat[2]: 6 is not an intermediate node (allowed 2..5)'
    ])
  })

  it('refuses to hand out DARTS_V2 as a buildable BNAS genotype, and lists known names', () => {
    expect(PUBLISHED_GENOTYPES.DARTS_V2.space).toBe('darts')
    expect(() => publishedBnasGenotype('DARTS_V2')).toThrow(/not in the BNAS search space.*cannot be built/)
    expect(() => publishedBnasGenotype('nope')).toThrow(
      "unknown genotype 'nope' (known: latest_cell_zeroise, latest_cell, DARTS_V2)"
    )
    expect(publishedBnasGenotype('latest_cell_zeroise')).toEqual(LATEST_CELL_ZEROISE)
  })
})

describe('text forms', () => {
  it('reads the authors genotypes.py lines exactly', () => {
    expect(parseGenotypePython(AUTHORS_LATEST_CELL_ZEROISE)).toEqual(LATEST_CELL_ZEROISE)
    expect(parseGenotypePython(AUTHORS_LATEST_CELL)).toEqual(LATEST_CELL)
    expect(parseDartsGenotypePython(AUTHORS_DARTS_V2)).toEqual(DARTS_V2)
  })

  it('prints what the authors print, and round-trips', () => {
    const text = formatGenotypePython(LATEST_CELL_ZEROISE)
    expect(text).toBe(AUTHORS_LATEST_CELL_ZEROISE.replace('latest_cell_zeroise = ', ''))
    for (const genotype of [LATEST_CELL_ZEROISE, LATEST_CELL]) {
      expect(parseGenotypePython(formatGenotypePython(genotype))).toEqual(genotype)
      expect(parseGenotypePython(formatGenotypePython(genotype, { concatAsRange: false }))).toEqual(genotype)
      expect(parseGenotypeJson(formatGenotypeJson(genotype))).toEqual(genotype)
      expect(parseGenotype(formatGenotypeJson(genotype))).toEqual(genotype)
    }
    expect(formatGenotypePython({ ...LATEST_CELL, normalConcat: [2, 4] })).toContain('normal_concat=[2, 4]')
  })

  it('accepts double quotes, lists as pairs, positional fields, trailing commas, comments and snake_case JSON', () => {
    const text = `# BNAS-A
      Genotype(
        [["none", 1], ("bin_dil_conv_3x3", 0), ('bin_conv_3x3', 1), ('none', 2),
         ('none', 2), ('none', 3), ('none', 3), ('none', 4),],
        [2, 3, 4, 5],
        reduce=[('max_pool_3x3', 0), ('none', 1), ('max_pool_3x3', 0), ('none', 2),
                ('none', 3), ('none', 2), ('none', 3), ('none', 4)],
        reduce_concat=range(2, 6),
      )`
    expect(parseGenotypePython(text)).toEqual(LATEST_CELL_ZEROISE)
    const snake = JSON.stringify({
      normal: LATEST_CELL.normal,
      normal_concat: [2, 3, 4, 5],
      reduce: LATEST_CELL.reduce,
      reduce_concat: [2, 3, 4, 5]
    })
    expect(parseGenotypeJson(snake)).toEqual(LATEST_CELL)
  })

  it('explains malformed text', () => {
    expect(() => parseGenotypePython('Genotype(normal=[("none", 1)')).toThrow(/line 1 column \d+: expected/)
    expect(() => parseGenotypePython('Foo(normal=[])')).toThrow("expected 'Genotype(' but found 'Foo'")
    expect(() => parseGenotypePython("Genotype(normal=[('none', 1), ('none', 0)], normal_concat=[2])")).toThrow(
      'Genotype(...) is missing reduce, reduce_concat'
    )
    expect(() => parseGenotypePython("Genotype(normal=[('none, 1)], ")).toThrow('unterminated string')
    expect(() => parseGenotypePython('Genotype(normal=eval("x"))')).toThrow("unexpected name 'eval'")
    expect(() => parseGenotypePython(AUTHORS_LATEST_CELL.replace("'bin_conv_3x3', 2", "'conv_9x9', 2"))).toThrow(
      "normal[3]: unknown op 'conv_9x9'"
    )
    expect(() => parseGenotypeJson('{"normal": ')).toThrow(/^genotype JSON: /)
  })
})

describe('deriveGenotype', () => {
  it('keeps the 2 strongest edges per node with Zeroise competing, listing the strongest first', () => {
    const alpha = alphaWith({
      0: { bin_dil_conv_3x3: 2 },
      1: { none: 3 }, // Zeroise wins edge 1 and makes it the strongest edge of node 0
      2: { bin_conv_3x3: 1 },
      3: { max_pool_3x3: 0.5 },
      4: { none: 2 },
      9: { bin_conv_5x5: 1 },
      13: { avg_pool_3x3: 1 }
    })
    const genotype = deriveGenotype(alpha, alpha)
    expect(genotype.normal.slice(0, 6)).toEqual([
      ['none', 1],
      ['bin_dil_conv_3x3', 0],
      ['none', 4 - 2], // node 1: edge 4 (input 2, Zeroise 2) beats edge 2 (input 0)
      ['bin_conv_3x3', 0],
      // node 2 (edges 5..8) is all zero α: every edge ties, lower inputs first, op ties go to the first op (none)
      ['none', 0],
      ['none', 1]
    ])
    expect(genotype.normal.slice(6)).toEqual([
      ['bin_conv_5x5', 0],
      ['avg_pool_3x3', 4]
    ])
    expect(genotype.normalConcat).toEqual([2, 3, 4, 5])
    expect(genotype.reduceConcat).toEqual([2, 3, 4, 5])
  })

  it('excludeZeroise is the DARTS parse: Zeroise is neither an edge strength nor a choice', () => {
    const alpha = alphaWith({ 0: { none: 5, bin_conv_3x3: 1 }, 1: { none: 1, max_pool_3x3: 2 }, 2: { none: 9 } })
    const bnas = deriveGenotype(alpha, alpha)
    expect(bnas.normal.slice(0, 2)).toEqual([
      ['none', 0],
      ['max_pool_3x3', 1]
    ])
    const darts = deriveGenotype(alpha, alpha, { excludeZeroise: true })
    expect(darts.normal.slice(0, 2)).toEqual([
      ['max_pool_3x3', 1],
      ['bin_conv_3x3', 0]
    ])
    // Edge 2 (node 1, input 0) is all Zeroise, so its other weights are tiny and node 1 keeps inputs 1 and 2, whose
    // non-Zeroise weights all tie: equal edges keep ascending input order, equal ops go to the first listed.
    expect(darts.normal.slice(2, 4)).toEqual([
      ['max_pool_3x3', 1],
      ['max_pool_3x3', 2]
    ])
    expect(darts.normal.every(([name]) => name !== 'none')).toBe(true)
  })

  it('gamma divides the Zeroise column of every edge, not row 0', () => {
    // Node 0: edge 1 has Zeroise (p = 0.40) slightly ahead of bin_conv_3x3 (0.33), edge 0 bin_dil_conv_3x3 (0.31).
    // With gamma = 3 edge 1's Zeroise drops to 0.13: its op becomes bin_conv_3x3, still the stronger edge.
    const alpha = alphaWith({ 0: { bin_dil_conv_3x3: 1 }, 1: { none: 2, bin_conv_3x3: 1.8 } })
    expect(deriveGenotype(alpha, alpha).normal.slice(0, 2)).toEqual([
      ['none', 1],
      ['bin_dil_conv_3x3', 0]
    ])
    const transferred = deriveGenotype(alpha, alpha, { gamma: 3 })
    expect(transferred.normal.slice(0, 2)).toEqual([
      ['bin_conv_3x3', 1],
      ['bin_dil_conv_3x3', 0]
    ])
    // A row-0 division (the authors' bug) would leave edge 1's Zeroise winning; here no edge keeps Zeroise.
    expect(transferred.normal.slice(0, 2).some(([name]) => name === 'none')).toBe(false)
  })

  it('derives BNAS-A (gamma 1) and the ImageNet cell (gamma 3) from ONE alpha, as spec section 6 says they came', () => {
    // Per edge: Zeroise's probability z, the best other op and its probability w; the other 5 ops share the rest.
    // Where z > w the CIFAR parse picks Zeroise; z/3 < w hands the edge to the op; edge order follows max(z, w) and
    // max(z/3, w). Spec 6: a row-0 division (the authors' bug) cannot yield the published pair; this α shows the
    // column division can.
    type Edge = [number, OpName, number] | 'uniform'
    const row = (edge: Edge): number[] => {
      if (edge === 'uniform') return new Array<number>(7).fill(0)
      const [z, name, w] = edge
      const p = new Array<number>(7).fill((1 - z - w) / 5)
      p[0] = z
      p[op(name)] = w
      return p.map(Math.log)
    }
    const normal: Edge[] = [
      [0.2, 'bin_dil_conv_3x3', 0.3],
      [0.5, 'bin_conv_3x3', 0.45],
      'uniform',
      [0.1, 'bin_conv_3x3', 0.6],
      [0.5, 'bin_conv_3x3', 0.4],
      'uniform',
      [0.1, 'bin_dil_conv_3x3', 0.3],
      [0.6, 'bin_conv_3x3', 0.35],
      [0.55, 'bin_conv_3x3', 0.1],
      [0.1, 'bin_conv_3x3', 0.35],
      [0.1, 'bin_dil_conv_3x3', 0.4],
      'uniform',
      [0.6, 'bin_conv_3x3', 0.08],
      [0.55, 'bin_conv_3x3', 0.08]
    ]
    const reduce: Edge[] = [
      [0.1, 'max_pool_3x3', 0.7],
      [0.5, 'max_pool_3x3', 0.45],
      [0.1, 'max_pool_3x3', 0.7],
      'uniform',
      [0.5, 'bin_conv_3x3', 0.45],
      [0.1, 'max_pool_3x3', 0.5],
      'uniform',
      [0.55, 'max_pool_3x3', 0.1],
      [0.6, 'bin_dil_conv_3x3', 0.35],
      [0.1, 'max_pool_3x3', 0.5],
      'uniform',
      'uniform',
      [0.6, 'max_pool_3x3', 0.1],
      [0.55, 'bin_dil_conv_3x3', 0.35]
    ]
    const [alphaNormal, alphaReduce] = [normal.map(row), reduce.map(row)]
    expect(deriveGenotype(alphaNormal, alphaReduce)).toEqual(LATEST_CELL_ZEROISE)
    expect(deriveGenotype(alphaNormal, alphaReduce, { gamma: 3 })).toEqual(LATEST_CELL)
  })

  it('rejects malformed alpha and gamma', () => {
    const alpha = alphaWith({})
    expect(() => deriveGenotype(alpha.slice(0, 13), alpha.slice(0, 13))).toThrow('got 13')
    expect(() => deriveGenotype(alpha.slice(0, 9), alpha)).toThrow('alphaNormal has 9 edges but alphaReduce has 14')
    expect(() => deriveGenotype([[1, 2]], alpha)).toThrow('alphaNormal[0]: expected 7 op weights')
    expect(() => deriveGenotype(alpha, alpha, { gamma: 0 })).toThrow('gamma must be a positive number')
    const nan = alphaWith({ 3: { none: Number.NaN } })
    expect(() => deriveGenotype(alpha, nan)).toThrow('alphaReduce[3][0]: NaN is not a finite number')
  })
})

describe('meanEdgeEntropy', () => {
  it('is ln 7 for uniform alpha and averages over all 28 edges', () => {
    const uniform = alphaWith({})
    expect(meanEdgeEntropy(uniform, uniform)).toBeCloseTo(Math.log(7), 12)
    // One confident reduce edge lowers the mean by its own share only (the authors' bug would count edge 13 14 times).
    const reduce = alphaWith({ 13: { none: 1000 } })
    expect(meanEdgeEntropy(uniform, reduce)).toBeCloseTo((27 * Math.log(7)) / 28, 12)
    const other = alphaWith({ 0: { none: 1000 } })
    expect(meanEdgeEntropy(uniform, other)).toBeCloseTo(meanEdgeEntropy(uniform, reduce), 12)
  })

  it('matches -sum p ln p for a generic edge', () => {
    const row = [0.1, -0.3, 0.7, 0, 1.2, -2, 0.05]
    const max = Math.max(...row)
    const z = row.reduce((s, v) => s + Math.exp(v - max), 0)
    const p = row.map((v) => Math.exp(v - max) / z)
    const h = -p.reduce((s, v) => s + v * Math.log(v), 0)
    const alpha = Array.from({ length: 14 }, () => row)
    expect(meanEdgeEntropy(alpha, alpha)).toBeCloseTo(h, 12)
  })
})
