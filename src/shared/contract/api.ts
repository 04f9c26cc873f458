import type { AppEvent } from './events'
import type { OperationName, ReplyOf, RequestOf } from './operations'
import type { Result } from './result'

/**
 * What the renderer sees: one async function per operation, each answering a Result, plus an event feed.
 * In Electron it comes from the preload over IPC; in browser mode from a WebSocket client. The renderer
 * never knows which.
 */
export type OperationFunctions = {
  [K in OperationName]: (request: RequestOf<K>) => Promise<Result<ReplyOf<K>>>
}

export interface BnasApi {
  call: OperationFunctions
  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (event: AppEvent) => void): () => void
  /** Which transport carries the calls, for the status bar. */
  transport: 'ipc' | 'websocket'
}

/** The channel names of the Electron transport. */
export const IPC_CHANNEL_PREFIX = 'bnas:'
export const IPC_EVENT_CHANNEL = 'bnas:event'
export const ipcChannelOf = (op: OperationName): string => `${IPC_CHANNEL_PREFIX}${op}`
