import {
  EventDeduplicator,
  operationNames,
  type AppEvent,
  type BnasApi,
  type OperationFunctions,
  type Result,
  type ServerMessage
} from '../../../shared/contract'

type Pending = (result: Result<unknown>) => void

/**
 * The contract over the browser-mode WebSocket. Calls made while the socket is down wait for it; the socket
 * reconnects by itself with back-off, so a restarted server or a sleeping laptop does not strand the page.
 */
export function createWebSocketApi(url: string, onConnection: (connected: boolean) => void): BnasApi {
  const listeners = new Set<(event: AppEvent) => void>()
  const pending = new Map<number, Pending>()
  const queue: string[] = []
  const seen = new EventDeduplicator()
  let nextId = 1
  let socket: WebSocket | null = null
  let retryMs = 250

  const connect = (): void => {
    const ws = new WebSocket(url)
    socket = ws
    ws.onopen = () => {
      retryMs = 250
      onConnection(true)
      for (const frame of queue.splice(0)) ws.send(frame)
    }
    ws.onmessage = (message) => {
      const data = JSON.parse(String(message.data)) as ServerMessage
      if (data.kind === 'event') {
        if (seen.accept(data.event)) for (const listener of listeners) listener(data.event)
        return
      }
      if (data.id === null) return
      const resolve = pending.get(data.id)
      pending.delete(data.id)
      resolve?.(data.ok ? { ok: true, value: data.value } : { ok: false, error: data.error })
    }
    ws.onclose = () => {
      onConnection(false)
      socket = null
      // Calls in flight on the lost socket will never be answered: fail them so the page can say so.
      for (const [id, resolve] of pending) {
        pending.delete(id)
        resolve({
          ok: false,
          error: { code: 'unavailable', message: 'lost the connection to the BNAS Studio server; retrying' }
        })
      }
      setTimeout(connect, retryMs)
      retryMs = Math.min(retryMs * 2, 5000)
    }
  }
  connect()

  const send = (op: string, payload: unknown): Promise<Result<unknown>> =>
    new Promise((resolve) => {
      const id = nextId++
      pending.set(id, resolve)
      const frame = JSON.stringify({ kind: 'request', id, op, payload })
      if (socket?.readyState === WebSocket.OPEN) socket.send(frame)
      else queue.push(frame)
    })

  const call = Object.fromEntries(
    operationNames.map((op) => [op, (request: unknown) => send(op, request)])
  ) as unknown as OperationFunctions

  return {
    call,
    transport: 'websocket',
    onEvent(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }
}
