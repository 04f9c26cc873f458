import type { Redis } from 'ioredis'
import { eventPayloads, type EventPayloadOf, type EventType } from '../../shared/contract'
import { CONTROL_CHANNEL, controlKey, EVENTS_STREAM, latestKey } from './connection'

/**
 * Live monitoring across machines: workers append the engine's own events (job.progress, job.epoch, job.status, log)
 * to one Redis stream; the app reads it and publishes them on its event hub exactly as local events. A stream (not
 * pub/sub) so an app that reconnects misses nothing still in it. The stream is capped (about 100 000 entries).
 */
export const STREAM_CAP = 100_000

export interface ClusterEvent<T extends EventType = EventType> {
  runId: string
  type: T
  payload: EventPayloadOf<T>
  worker: string
}

/** What a worker keeps per run for the app's job list: who runs it and how fast, refreshed with each progress. */
export interface LatestState {
  worker: string
  status?: string
  imagesPerSecond?: number
  step?: number
  totalSteps?: number
  message?: string
  at: string
}

export class EventPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly worker: string
  ) {}

  async publish<T extends EventType>(runId: string, type: T, payload: EventPayloadOf<T>): Promise<void> {
    await this.redis.xadd(
      EVENTS_STREAM,
      'MAXLEN',
      '~',
      String(STREAM_CAP),
      '*',
      'runId',
      runId,
      'type',
      type,
      'worker',
      this.worker,
      'payload',
      JSON.stringify(payload)
    )
    const latest = latestFrom(type, payload)
    // Field by field (HSET is atomic per call): progress and status updates sent at once cannot undo each other.
    if (latest !== null)
      await this.redis.hset(latestKey(runId), { ...latest, worker: this.worker, at: new Date().toISOString() })
  }
}

/** Reads what `EventPublisher` keeps of a run; undefined when nothing was published for it. */
export async function readLatest(redis: Redis, runId: string): Promise<LatestState | undefined> {
  const fields = await redis.hgetall(latestKey(runId))
  if (fields.worker === undefined) return undefined
  const number = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text))
  return {
    worker: fields.worker,
    at: fields.at ?? '',
    ...(fields.status === undefined ? {} : { status: fields.status }),
    ...(fields.message === undefined ? {} : { message: fields.message }),
    ...(fields.imagesPerSecond === undefined ? {} : { imagesPerSecond: number(fields.imagesPerSecond) }),
    ...(fields.step === undefined ? {} : { step: number(fields.step) }),
    ...(fields.totalSteps === undefined ? {} : { totalSteps: number(fields.totalSteps) })
  }
}

function latestFrom(type: EventType, payload: unknown): Partial<LatestState> | null {
  if (type === 'job.progress') {
    const record = payload as EventPayloadOf<'job.progress'>
    return { imagesPerSecond: record.imagesPerSecond, step: record.step, totalSteps: record.totalSteps }
  }
  if (type === 'job.status') {
    const status = payload as EventPayloadOf<'job.status'>
    return { status: status.status, ...(status.message === undefined ? {} : { message: status.message }) }
  }
  return null
}

/** Parses one stream entry; null (and a reason) for anything that is not a well-formed event. */
export function parseStreamEntry(fields: string[]): { event: ClusterEvent } | { invalid: string } {
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!)
  const type = map.get('type') ?? ''
  const runId = map.get('runId') ?? ''
  if (!Object.hasOwn(eventPayloads, type)) return { invalid: `unknown event type ${JSON.stringify(type)}` }
  if (runId === '') return { invalid: 'event without a run id' }
  let payload: unknown
  try {
    payload = JSON.parse(map.get('payload') ?? 'null')
  } catch {
    return { invalid: `event ${type} of ${runId}: payload is not JSON` }
  }
  const parsed = eventPayloads[type as EventType].safeParse(payload)
  if (!parsed.success) return { invalid: `event ${type} of ${runId}: ${parsed.error.issues[0]?.message}` }
  return { event: { runId, type: type as EventType, payload: parsed.data as never, worker: map.get('worker') ?? '' } }
}

/**
 * Follows the stream from now on (or from `from`), calling `onEvent` for each valid event. Uses its own connection,
 * since XREAD BLOCK holds it. `stop()` ends the loop.
 */
export class EventReader {
  private running = true
  private lastId: string

  constructor(
    private readonly redis: Redis,
    private readonly onEvent: (event: ClusterEvent) => void,
    private readonly onInvalid: (reason: string) => void = () => undefined,
    from = '$'
  ) {
    this.lastId = from
  }

  async run(): Promise<void> {
    while (this.running) {
      let reply: Array<[string, Array<[string, string[]]>]> | null
      try {
        reply = (await this.redis.xread('BLOCK', 1000, 'STREAMS', EVENTS_STREAM, this.lastId)) as typeof reply
      } catch (error) {
        if (!this.running) return
        this.onInvalid(`reading events: ${(error as Error).message}`)
        await new Promise((resolve) => setTimeout(resolve, 500))
        continue
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          this.lastId = id
          const parsed = parseStreamEntry(fields)
          if ('event' in parsed) this.onEvent(parsed.event)
          else this.onInvalid(parsed.invalid)
        }
      }
    }
  }

  stop(): void {
    this.running = false
    this.redis.disconnect()
  }
}

export type ControlAction = 'pause' | 'resume' | 'stop'

/**
 * Pause, resume and stop reach the worker through pub/sub (at once) and a key (so a worker that takes the job over
 * later, after a crash, starts it paused or stops it too).
 */
export async function sendControl(redis: Redis, runId: string, action: ControlAction): Promise<void> {
  if (action === 'resume') await redis.del(controlKey(runId))
  else await redis.set(controlKey(runId), action, 'EX', 7 * 24 * 3600)
  await redis.publish(CONTROL_CHANNEL, JSON.stringify({ runId, action }))
}

export async function readControl(redis: Redis, runId: string): Promise<ControlAction | null> {
  const value = await redis.get(controlKey(runId))
  return value === 'pause' || value === 'stop' ? value : null
}

export function parseControlMessage(text: string): { runId: string; action: ControlAction } | null {
  try {
    const value = JSON.parse(text) as { runId?: unknown; action?: unknown }
    if (typeof value.runId !== 'string') return null
    if (value.action !== 'pause' && value.action !== 'resume' && value.action !== 'stop') return null
    return { runId: value.runId, action: value.action }
  } catch {
    return null
  }
}
