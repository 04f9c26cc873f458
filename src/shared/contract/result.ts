/**
 * Errors cross process boundaries as values, never as thrown exceptions: a reply is either
 * `{ ok: true, value }` or `{ ok: false, error }`, and the caller decides what to show.
 */
export type ErrorCode =
  | 'bad-message' // not JSON, or not a request envelope at all
  | 'unknown-operation'
  | 'invalid-request' // the payload failed its schema; `field` names the first bad field
  | 'not-found'
  | 'failed' // the handler ran and failed; `message` says why and what to do
  | 'unavailable' // the part of the app that answers is not running (yet)

export interface ContractError {
  code: ErrorCode
  message: string
  /** Dotted path of the offending field, for invalid-request ('dataset.path', 'epochs'). */
  field?: string
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ContractError }

export const ok = <T>(value: T): Result<T> => ({ ok: true, value })
export const fail = (code: ErrorCode, message: string, field?: string): Result<never> => ({
  ok: false,
  error: field === undefined ? { code, message } : { code, message, field }
})
