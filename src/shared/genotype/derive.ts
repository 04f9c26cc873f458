import { OP_NAMES, ZEROISE_INDEX, type OpName } from './ops'
import type { Genotype, GenotypeEdge } from './types'

/** Edges of a cell with `steps` nodes: node i has 2 + i incoming edges (Σ = steps·(steps+3)/2, 14 for 4 nodes). */
export function edgeCount(steps: number): number {
  return (steps * (steps + 3)) / 2
}

/** Row of the α matrix of the edge from state `input` into node `node`: node i's edges start at Σ_{k<i}(2+k). */
export function edgeIndex(node: number, input: number): number {
  if (input < 0 || input > node + 1) throw new Error(`input ${input} is not an earlier state of node ${node}`)
  return edgeCount(node) + input
}

/** Inverse of `edgeIndex`: which node and input an α row belongs to. */
export function edgeEndpoints(edge: number): { node: number; input: number } {
  let node = 0
  while (edgeCount(node + 1) <= edge) node++
  return { node, input: edge - edgeCount(node) }
}

function stepsForEdges(edges: number): number {
  for (let steps = 1; edgeCount(steps) <= edges; steps++) if (edgeCount(steps) === edges) return steps
  throw new Error(`an α matrix must have steps·(steps+3)/2 rows (14 for 4 nodes), got ${edges}`)
}

function checkAlpha(alpha: number[][], what: string): void {
  if (alpha.length === 0) throw new Error(`${what}: empty α matrix`)
  alpha.forEach((row, edge) => {
    if (row.length !== OP_NAMES.length) {
      throw new Error(
        `${what}[${edge}]: expected ${OP_NAMES.length} op weights (${OP_NAMES.join(', ')}), got ${row.length}`
      )
    }
    row.forEach((value, op) => {
      if (!Number.isFinite(value)) throw new Error(`${what}[${edge}][${op}]: ${value} is not a finite number`)
    })
  })
}

/** Numerically stable softmax of one row (shifted by its max). */
export function softmax(row: readonly number[]): number[] {
  const max = Math.max(...row)
  const exps = row.map((value) => Math.exp(value - max))
  const sum = exps.reduce((a, b) => a + b, 0)
  return exps.map((value) => value / sum)
}

export interface DeriveOptions {
  /** Transferability factor (spec 6): the Zeroise column of the softmax is divided by γ before the parse. Default 1. */
  gamma?: number
  /** DARTS mode: Zeroise is ignored both for edge strength and for the op choice (quark0/darts `genotype()`). */
  excludeZeroise?: boolean
}

/**
 * Picks index of the largest value; on ties the FIRST index wins, as the authors' loop with a strict `>` does
 * (and numpy's argmax).
 */
function argmax(values: readonly number[], skip: number | undefined): number {
  let best = -1
  values.forEach((value, index) => {
    if (index !== skip && (best < 0 || value > values[best])) best = index
  })
  return best
}

function parseCell(alpha: number[][], gamma: number, excludeZeroise: boolean): Array<GenotypeEdge<OpName>> {
  const steps = stepsForEdges(alpha.length)
  const skip = excludeZeroise ? ZEROISE_INDEX : undefined
  const weights = alpha.map((row) => {
    const p = softmax(row)
    p[ZEROISE_INDEX] /= gamma
    return p
  })
  const gene: Array<GenotypeEdge<OpName>> = []
  for (let node = 0; node < steps; node++) {
    const start = edgeCount(node)
    const inputs = Array.from({ length: node + 2 }, (_, input) => input)
    const strength = (input: number) => {
      const row = weights[start + input]
      return row[argmax(row, skip)]
    }
    // Python's sorted() is stable: with key = -strength, equally strong edges keep ascending input order.
    // Array.prototype.sort is stable too (ES2019), so the same comparator reproduces it exactly.
    const kept = inputs.sort((a, b) => strength(b) - strength(a)).slice(0, 2)
    for (const input of kept) gene.push([OP_NAMES[argmax(weights[start + input], skip)], input])
  }
  return gene
}

/**
 * The genotype of a supernet's α (spec section 6, `Network.genotype` in the authors' model_search.py):
 * p = softmax(α) per edge; Zeroise column / γ; per node keep the 2 edges with the largest max_o p (all 7 ops, Zeroise
 * included, unless `excludeZeroise`); each kept edge gets its argmax op. Edges are listed strongest first, as the
 * authors' code lists them. Concat = every intermediate node.
 * Ties: equal strengths keep the lower input first; equal op weights pick the op listed first in OP_NAMES.
 * Computed in float64, while the authors' numpy parse sees float32 softmax values: only exact float32 ties can differ.
 */
export function deriveGenotype(alphaNormal: number[][], alphaReduce: number[][], opts: DeriveOptions = {}): Genotype {
  const gamma = opts.gamma ?? 1
  if (!Number.isFinite(gamma) || gamma <= 0) throw new Error(`gamma must be a positive number, got ${gamma}`)
  checkAlpha(alphaNormal, 'alphaNormal')
  checkAlpha(alphaReduce, 'alphaReduce')
  if (alphaNormal.length !== alphaReduce.length) {
    throw new Error(`alphaNormal has ${alphaNormal.length} edges but alphaReduce has ${alphaReduce.length}`)
  }
  const excludeZeroise = opts.excludeZeroise ?? false
  const normal = parseCell(alphaNormal, gamma, excludeZeroise)
  const reduce = parseCell(alphaReduce, gamma, excludeZeroise)
  const steps = normal.length / 2
  const concat = Array.from({ length: steps }, (_, node) => node + 2)
  return { normal, normalConcat: concat, reduce, reduceConcat: [...concat] }
}

/** Entropy −Σ p ln p of softmax(row), from log-softmax so that p → 0 contributes exactly 0. */
export function edgeEntropy(row: readonly number[]): number {
  const max = Math.max(...row)
  const logSum = max + Math.log(row.reduce((sum, value) => sum + Math.exp(value - max), 0))
  return -row.reduce((sum, value) => sum + Math.exp(value - logSum) * (value - logSum), 0)
}

/**
 * H̄ of the diversity regularizer (spec section 4, section 0): the mean edge entropy over ALL edges of both cells
 * (28 for 4 nodes). The authors' code reuses reduce edge 13 fourteen times; this project fixes that.
 */
export function meanEdgeEntropy(alphaNormal: number[][], alphaReduce: number[][]): number {
  checkAlpha(alphaNormal, 'alphaNormal')
  checkAlpha(alphaReduce, 'alphaReduce')
  const rows = [...alphaNormal, ...alphaReduce]
  return rows.reduce((sum, row) => sum + edgeEntropy(row), 0) / rows.length
}
