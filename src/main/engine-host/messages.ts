import type { EngineStatus, EventPayloadOf, EventType } from '../../shared/contract'

/** Messages between the main thread and the engine worker. Internal to src/main, so typed but not zod-checked. */
export type ToWorker =
  { type: 'init'; backend: string; runsRoot: string } | { type: 'request'; id: number; op: string; payload: unknown }

export type FromWorker =
  | { type: 'status'; status: EngineStatus }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; message: string }
  | { [T in EventType]: { type: 'event'; runId: string; eventType: T; payload: EventPayloadOf<T> } }[EventType]
