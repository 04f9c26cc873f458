import { z } from 'zod'
import type { AppEvent } from './events'
import { fail, type ContractError, type Result } from './result'
import { isOperationName, operations, type OperationName } from './operations'

/**
 * The messages of the browser-mode WebSocket. Electron IPC carries the same requests and replies, with
 * the operation in the channel name instead of a field.
 */
export const requestEnvelopeSchema = z.object({
  kind: z.literal('request'),
  id: z.number().int().nonnegative(),
  op: z.string(),
  payload: z.unknown()
})
export type RequestEnvelope = z.infer<typeof requestEnvelopeSchema>

export type ReplyEnvelope = { kind: 'reply'; id: number | null } & Result<unknown>
export type EventEnvelope = { kind: 'event'; event: AppEvent }
export type ServerMessage = ReplyEnvelope | EventEnvelope

/** The first issue zod found, as a dotted field path and a sentence a person can act on. */
export function describeZodError(error: z.ZodError, root?: string): ContractError {
  const issue = error.issues[0]
  const path = issue?.path.map(String).join('.') ?? ''
  const field = [root, path].filter((part) => part !== undefined && part !== '').join('.')
  const message = issue === undefined ? 'invalid value' : issue.message
  return {
    code: 'invalid-request',
    message: field === '' ? message : `${field}: ${message}`,
    field: field || undefined
  }
}

export type ParsedRequest<K extends OperationName = OperationName> = { op: K; payload: unknown }

/** Checks that `op` names an operation and `payload` fits its request schema. */
export function validateRequest(op: unknown, payload: unknown): Result<ParsedRequest> {
  if (!isOperationName(op)) {
    return fail(
      'unknown-operation',
      `unknown operation ${JSON.stringify(op)}; known: ${Object.keys(operations).join(', ')}`
    )
  }
  const parsed = operations[op].request.safeParse(payload ?? {})
  if (!parsed.success) {
    const error = describeZodError(parsed.error, 'payload')
    return { ok: false, error }
  }
  return { ok: true, value: { op, payload: parsed.data } }
}

/** Parses one raw WebSocket frame into a request envelope, or explains why it is not one. */
export function parseRequestFrame(raw: string): { id: number | null } & Result<ParsedRequest> {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return { id: null, ...fail('bad-message', 'message is not valid JSON') }
  }
  const envelope = requestEnvelopeSchema.safeParse(json)
  if (!envelope.success) {
    const id = typeof (json as { id?: unknown })?.id === 'number' ? (json as { id: number }).id : null
    const { message, field } = describeZodError(envelope.error)
    return { id, ...fail('bad-message', `not a request envelope: ${message}`, field) }
  }
  return { id: envelope.data.id, ...validateRequest(envelope.data.op, envelope.data.payload) }
}
