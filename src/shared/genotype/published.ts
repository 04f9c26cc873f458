import { isOpName } from './ops'
import type { DartsGenotype, Genotype } from './types'

/** BNAS-A's cell, found on CIFAR-10 (γ = 1); 5 of its 8 normal edges are Zeroise (spec section 7). */
export const LATEST_CELL_ZEROISE: Genotype = {
  normal: [
    ['none', 1],
    ['bin_dil_conv_3x3', 0],
    ['bin_conv_3x3', 1],
    ['none', 2],
    ['none', 2],
    ['none', 3],
    ['none', 3],
    ['none', 4]
  ],
  normalConcat: [2, 3, 4, 5],
  reduce: [
    ['max_pool_3x3', 0],
    ['none', 1],
    ['max_pool_3x3', 0],
    ['none', 2],
    ['none', 3],
    ['none', 2],
    ['none', 3],
    ['none', 4]
  ],
  reduceConcat: [2, 3, 4, 5]
}

/** The ImageNet cell of BNAS-D…H: the same search with Zeroise suppressed by γ (spec sections 6, 7). */
export const LATEST_CELL: Genotype = {
  normal: [
    ['bin_conv_3x3', 1],
    ['bin_dil_conv_3x3', 0],
    ['bin_conv_3x3', 1],
    ['bin_conv_3x3', 2],
    ['bin_conv_3x3', 2],
    ['bin_dil_conv_3x3', 1],
    ['bin_dil_conv_3x3', 1],
    ['bin_conv_3x3', 0]
  ],
  normalConcat: [2, 3, 4, 5],
  reduce: [
    ['max_pool_3x3', 0],
    ['max_pool_3x3', 1],
    ['max_pool_3x3', 0],
    ['bin_conv_3x3', 2],
    ['max_pool_3x3', 0],
    ['bin_dil_conv_3x3', 3],
    ['max_pool_3x3', 0],
    ['bin_dil_conv_3x3', 4]
  ],
  reduceConcat: [2, 3, 4, 5]
}

/** DARTS (second order) from Liu et al., copied into the authors' genotypes.py; outside the BNAS op space. */
export const DARTS_V2: DartsGenotype = {
  normal: [
    ['sep_conv_3x3', 0],
    ['sep_conv_3x3', 1],
    ['sep_conv_3x3', 0],
    ['sep_conv_3x3', 1],
    ['sep_conv_3x3', 1],
    ['skip_connect', 0],
    ['skip_connect', 0],
    ['dil_conv_3x3', 2]
  ],
  normalConcat: [2, 3, 4, 5],
  reduce: [
    ['max_pool_3x3', 0],
    ['max_pool_3x3', 1],
    ['skip_connect', 2],
    ['max_pool_3x3', 1],
    ['max_pool_3x3', 0],
    ['skip_connect', 2],
    ['skip_connect', 2],
    ['max_pool_3x3', 1]
  ],
  reduceConcat: [2, 3, 4, 5]
}

interface PublishedBase {
  description: string
  source: string
}

/** A published cell: `space` says whether it can be built (bnas) or only compared and drawn (darts). */
export type PublishedGenotype =
  | (PublishedBase & { space: 'bnas'; genotype: Genotype })
  | (PublishedBase & { space: 'darts'; genotype: DartsGenotype })

export const PUBLISHED_GENOTYPES = {
  latest_cell_zeroise: {
    space: 'bnas',
    description: 'BNAS-A (CIFAR-10)',
    source: 'gistvision/bnas src/genotypes.py',
    genotype: LATEST_CELL_ZEROISE
  },
  latest_cell: {
    space: 'bnas',
    description: 'BNAS-D…H (ImageNet, Zeroise suppressed with γ)',
    source: 'gistvision/bnas src/genotypes.py',
    genotype: LATEST_CELL
  },
  DARTS_V2: {
    space: 'darts',
    description: 'DARTS (second order), for comparison only',
    source: 'quark0/darts genotypes.py (copied into gistvision/bnas)',
    genotype: DARTS_V2
  }
} as const satisfies Record<string, PublishedGenotype>

export type PublishedGenotypeName = keyof typeof PUBLISHED_GENOTYPES

export const PUBLISHED_GENOTYPE_NAMES = Object.keys(PUBLISHED_GENOTYPES) as PublishedGenotypeName[]

export function isPublishedGenotypeName(name: string): name is PublishedGenotypeName {
  return Object.hasOwn(PUBLISHED_GENOTYPES, name)
}

/**
 * The BNAS genotype published under `name`, for building a network. Throws a clear error for unknown names (listing
 * the known ones) and for DARTS_V2, whose ops do not exist in the BNAS space.
 */
export function publishedBnasGenotype(name: string): Genotype {
  if (!isPublishedGenotypeName(name)) {
    throw new Error(`unknown genotype '${name}' (known: ${PUBLISHED_GENOTYPE_NAMES.join(', ')})`)
  }
  const entry: PublishedGenotype = PUBLISHED_GENOTYPES[name]
  if (entry.space !== 'bnas') {
    const ops = [...entry.genotype.normal, ...entry.genotype.reduce].map(([op]) => op)
    const foreign = [...new Set(ops)].filter((op) => !isOpName(op))
    throw new Error(
      `${name} is a DARTS genotype for comparison and drawing only: its ops (${foreign.join(', ')}) are not in the ` +
        'BNAS search space, so it cannot be built as a BNAS network'
    )
  }
  return structuredClone(entry.genotype)
}
