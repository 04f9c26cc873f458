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

/**
 * Reads `name=v1,v2,...` (the CLI's --grid). Names may be written as flags (weight-lr) or as config keys (weightLr);
 * numbers become numbers, true/false booleans, anything else stays text.
 */
export function parseGridArgument(text: string): [string, Array<number | string | boolean>] {
  const at = text.indexOf('=')
  if (at <= 0 || at === text.length - 1) throw new Error(`--grid expects name=value1,value2,..., got '${text}'`)
  const name = text
    .slice(0, at)
    .trim()
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())
  const values = text
    .slice(at + 1)
    .split(',')
    .map((value) => value.trim())
  if (values.some((value) => value === '')) throw new Error(`--grid ${name}: an empty value in '${text}'`)
  return [
    name,
    values.map((value) =>
      value === 'true'
        ? true
        : value === 'false'
          ? false
          : value !== '' && Number.isFinite(Number(value))
            ? Number(value)
            : value
    )
  ]
}
