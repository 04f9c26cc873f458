/** Cells that are reduction cells: ⌊L/3⌋ and ⌊2L/3⌋, as `i in [layers//3, 2*layers//3]` in the authors' code. */
export function reductionIndices(cells: number): number[] {
  return [Math.floor(cells / 3), Math.floor((2 * cells) / 3)]
}

export function isReductionCell(index: number, cells: number): boolean {
  return reductionIndices(cells).includes(index)
}

/** The template's cell output has 4 intermediate nodes of C channels each (`multiplier = 4`). */
export const CELL_MULTIPLIER = 4

/** Channel plan of one cell: its inputs' channels, its node width, and its place among the reductions. */
export interface CellPlan {
  index: number
  cPrevPrev: number
  cPrev: number
  channels: number
  reduction: boolean
  reductionPrev: boolean
}

/**
 * The cells' channel plan as the authors' Network/NetworkCIFAR/NetworkImageNet constructors compute it: C doubles at
 * each reduction, each cell outputs 4C, the next cell's inputs are the previous two outputs.
 */
export function planCells(opts: {
  cells: number
  channels: number
  stemPrevPrev: number
  stemPrev: number
  firstReductionPrev: boolean
}): CellPlan[] {
  let [cPrevPrev, cPrev, channels] = [opts.stemPrevPrev, opts.stemPrev, opts.channels]
  let reductionPrev = opts.firstReductionPrev
  const plan: CellPlan[] = []
  for (let index = 0; index < opts.cells; index++) {
    const reduction = isReductionCell(index, opts.cells)
    if (reduction) channels *= 2
    plan.push({ index, cPrevPrev, cPrev, channels, reduction, reductionPrev })
    reductionPrev = reduction
    ;[cPrevPrev, cPrev] = [cPrev, CELL_MULTIPLIER * channels]
  }
  return plan
}

export function checkPositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got ${value}`)
}

/**
 * A reduction cell halves its inputs two ways that agree only at even sizes: the stride-2 ops give ⌈h/2⌉ and the 2×2
 * stride-2 residual conv ⌊h/2⌋ (the authors' model fails the same way, with a shape error deep in the cell). Checked
 * before the cell runs, so the user reads which size to use instead of a broadcast error.
 */
export function checkReductionInput(plan: CellPlan, shape: readonly number[]): void {
  const [, h, w] = shape
  if (!plan.reduction || (h % 2 === 0 && w % 2 === 0)) return
  throw new Error(
    `cell ${plan.index} is a reduction cell and gets ${h}×${w} feature maps: odd sizes cannot be halved by both its ` +
      `stride-2 ops and its 2×2 residual conv. Use images whose size stays even down to every reduction cell ` +
      `(with two reductions and a stride-1 stem: multiples of 4, e.g. 28×28 or 32×32); an image folder can be ` +
      `resized with ?size=N`
  )
}
