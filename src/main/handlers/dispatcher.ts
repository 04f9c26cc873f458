import {
  fail,
  ok,
  validateRequest,
  type OperationName,
  type ReplyOf,
  type RequestOf,
  type Result
} from '../../shared/contract'

export type Handler<K extends OperationName> = (request: RequestOf<K>) => Promise<ReplyOf<K>> | ReplyOf<K>
export type HandlerTable = { [K in OperationName]: Handler<K> }

/**
 * The one entry point both transports call with untrusted input. It validates the operation and payload,
 * runs the handler, and turns anything thrown into an error value, so a bad message or a failing handler
 * never reaches the transport as an exception (and never takes the process down).
 */
export class Dispatcher {
  constructor(private readonly handlers: HandlerTable) {}

  async dispatch(op: unknown, payload: unknown): Promise<Result<unknown>> {
    const request = validateRequest(op, payload)
    if (!request.ok) return request
    const handler = this.handlers[request.value.op] as Handler<OperationName>
    try {
      return ok(await handler(request.value.payload as RequestOf<OperationName>))
    } catch (error) {
      return fail('failed', error instanceof Error ? error.message : String(error))
    }
  }
}
