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
