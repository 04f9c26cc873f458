import type { DartsOpName, OpName } from './ops'

/** One incoming edge of an intermediate node: the op and the index of the state it reads. */
export type GenotypeEdge<Op extends string = OpName> = [Op, number]

/**
 * A cell pair in the DARTS convention: two edges per intermediate node, nodes in order. Inputs: 0 = preprocessed
 * c_{k-2}, 1 = preprocessed c_{k-1}, j >= 2 = intermediate node j-2. The concat lists are state indices.
 * Plain data on purpose: it is stored in run folders, sent over IPC and drawn by the renderer.
 */
export interface GenotypeOf<Op extends string> {
  normal: Array<GenotypeEdge<Op>>
  normalConcat: number[]
  reduce: Array<GenotypeEdge<Op>>
  reduceConcat: number[]
}

/** A genotype of the BNAS search space: the only kind the networks build. */
export type Genotype = GenotypeOf<OpName>

/** A genotype of the DARTS space, for comparison and drawing only. */
export type DartsGenotype = GenotypeOf<DartsOpName>

/** Number of intermediate nodes a BNAS cell has (`steps` in the authors' code). */
export const CELL_STEPS = 4
