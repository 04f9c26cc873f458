import { z } from 'zod'
import { epochRecordSchema, jobStatusEventSchema, progressRecordSchema } from '../jobs'
import { datasetDownloadSchema } from '../datasets-found'
import { engineStatusSchema } from './operations'

/**
 * Events flow from the engine side to the renderer. Every event carries the id of the run it belongs to
 * ('system' for app-wide ones) and a sequence number that increases by one per run, so a store can merge,
 * drop duplicates and notice a gap after a reconnect.
 */
export const SYSTEM_RUN_ID = 'system'

export const eventPayloads = {
  'engine.status': engineStatusSchema,
  log: z.object({ level: z.enum(['info', 'warn', 'error']), message: z.string() }),
  /** A job's progress every few steps (throttled at the source). */
  'job.progress': progressRecordSchema,
  /** A job's end-of-epoch record: curves, α, genotype. */
  'job.epoch': epochRecordSchema,
  'job.status': jobStatusEventSchema,
  /** A dataset download's progress and end (run id 'system'). */
  'dataset.download': datasetDownloadSchema
} as const

export type EventType = keyof typeof eventPayloads
export type EventPayloadOf<T extends EventType> = z.infer<(typeof eventPayloads)[T]>

export type AppEvent = {
  [T in EventType]: { runId: string; seq: number; type: T; payload: EventPayloadOf<T> }
}[EventType]

export const appEventSchema = z.object({
  runId: z.string().min(1),
  seq: z.number().int().nonnegative(),
  type: z.string(),
  payload: z.unknown()
})

/** Hands out per-run sequence numbers on the sending side. */
export class EventSequencer {
  private readonly next = new Map<string, number>()

  stamp<T extends EventType>(runId: string, type: T, payload: EventPayloadOf<T>): AppEvent {
    const seq = this.next.get(runId) ?? 0
    this.next.set(runId, seq + 1)
    return { runId, seq, type, payload } as AppEvent
  }
}

/**
 * Keeps the newest sequence number seen per run on the receiving side: `accept` is false for a duplicate
 * or an event older than one already seen (as happens when a reconnect replays history).
 */
export class EventDeduplicator {
  private readonly last = new Map<string, number>()

  accept(event: { runId: string; seq: number }): boolean {
    const last = this.last.get(event.runId)
    if (last !== undefined && event.seq <= last) return false
    this.last.set(event.runId, event.seq)
    return true
  }
}
