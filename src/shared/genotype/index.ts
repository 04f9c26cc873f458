/**
 * Genotypes of the BNAS search space: the type, validation, derivation from α, text forms and the published cells.
 * Pure TypeScript (no tfjs, no node): the engine, the CLI and the renderer all use it.
 */
export * from './ops'
export * from './types'
export * from './validate'
export * from './derive'
export * from './text'
export * from './published'
