/**
 * The BNAS candidate operations, in the authors' order (`PRIMITIVES` in genotypes.py).
 * The order is part of the data: α matrices have one column per op in this order, and column 0 (Zeroise) is the one
 * the transferability factor γ divides (spec section 6).
 */
export const OP_NAMES = [
  'none',
  'max_pool_3x3',
  'avg_pool_3x3',
  'bin_dil_conv_3x3',
  'bin_dil_conv_5x5',
  'bin_conv_3x3',
  'bin_conv_5x5'
] as const

export type OpName = (typeof OP_NAMES)[number]

/** Column of Zeroise (`none`) in every α row. */
export const ZEROISE_INDEX = 0

/** Human labels for drawings and tables; the keys stay the authors' names so exported text matches theirs. */
export const OP_LABELS: Readonly<Record<OpName, string>> = {
  none: 'Zeroise',
  max_pool_3x3: 'max pool 3×3',
  avg_pool_3x3: 'avg pool 3×3',
  bin_dil_conv_3x3: 'binary dil conv 3×3',
  bin_dil_conv_5x5: 'binary dil conv 5×5',
  bin_conv_3x3: 'binary conv 3×3',
  bin_conv_5x5: 'binary conv 5×5'
}

export function isOpName(name: unknown): name is OpName {
  return typeof name === 'string' && (OP_NAMES as readonly string[]).includes(name)
}

/**
 * The DARTS search space, only so that DARTS genotypes (DARTS_V2) can be parsed, compared and drawn beside BNAS ones.
 * Its ops other than the pools and `none` do not exist in BNAS, so such a genotype is never buildable as a BNAS network.
 */
export const DARTS_OP_NAMES = [
  'none',
  'max_pool_3x3',
  'avg_pool_3x3',
  'skip_connect',
  'sep_conv_3x3',
  'sep_conv_5x5',
  'dil_conv_3x3',
  'dil_conv_5x5'
] as const

export type DartsOpName = (typeof DARTS_OP_NAMES)[number]
