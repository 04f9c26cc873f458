import { MAX_SWEEP_JOBS, type SweepGrid } from '../../shared/cluster'

/**
 * A sweep's grid: every combination of the values given per hyper-parameter, each laid over the base config.
 * `{ seed: [1, 2], lambda: [0, 1] }` gives four configs. Validation of each config is the caller's (the zod schema).
 */
export function expandGrid(base: Record<string, unknown>, grid: SweepGrid): Array<Record<string, unknown>> {
  const keys = Object.keys(grid)
  if (keys.length === 0) throw new Error('a sweep needs at least one hyper-parameter with values')
  const total = keys.reduce((product, key) => product * grid[key]!.length, 1)
  if (total > MAX_SWEEP_JOBS) throw new Error(`the grid makes ${total} jobs; at most ${MAX_SWEEP_JOBS} per sweep`)
  let configs: Array<Record<string, unknown>> = [{ ...base }]
  for (const key of keys) {
    const values = grid[key]!
    if (values.length === 0) throw new Error(`sweep value list of ${key} is empty`)
    configs = configs.flatMap((config) => values.map((value) => ({ ...config, [key]: value })))
  }
  return configs
}

export { parseGridArgument } from '../../shared/cluster/grid'
