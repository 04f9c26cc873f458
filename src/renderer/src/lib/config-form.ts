import type { z } from 'zod'

/** One field of a run configuration form: its key in the config, how it is edited, and what it means. */
export interface FieldSpec {
  key: string
  label: string
  type: 'int' | 'number' | 'text' | 'bool' | 'enum'
  help: string
  /** May be left empty (the key is then absent from the config). */
  optional?: boolean
  options?: readonly string[]
  step?: number
}

export interface FieldGroup {
  title: string
  note?: string
  fields: FieldSpec[]
}

export type FormModel = Record<string, string | number | boolean | undefined>

/** A form model filled from config values (defaults, a preset): one entry per field of the groups. */
export function toModel(groups: FieldGroup[], values: Record<string, unknown>): FormModel {
  const model: FormModel = {}
  for (const field of groups.flatMap((group) => group.fields)) model[field.key] = values[field.key] as FormModel[string]
  return model
}

/** The form model as a config object: empty optional numbers are dropped, numbers stay numbers. */
export function toConfig(
  groups: FieldGroup[],
  model: FormModel,
  extra: Record<string, unknown> = {}
): Record<string, unknown> {
  const config: Record<string, unknown> = { ...extra }
  for (const field of groups.flatMap((group) => group.fields)) {
    const value = model[field.key]
    if (value === undefined || value === '') {
      if (!field.optional && field.type === 'text') config[field.key] = ''
      continue
    }
    if (field.type === 'int' || field.type === 'number')
      config[field.key] = typeof value === 'number' ? value : Number(value)
    else config[field.key] = value
  }
  return config
}

/** Field key → first message of the schema, for showing each problem next to its field. */
export function fieldErrors(result: z.ZodSafeParseResult<unknown>): Record<string, string> {
  if (result.success) return {}
  const errors: Record<string, string> = {}
  for (const issue of result.error.issues) {
    const key = String(issue.path[0] ?? '')
    errors[key] ??= issue.message
  }
  return errors
}
