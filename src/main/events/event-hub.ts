import { EventSequencer, type AppEvent, type EventPayloadOf, type EventType } from '../../shared/contract'

/** Stamps events with their run's sequence number and fans them out to every connected transport. */
export class EventHub {
  private readonly sequencer = new EventSequencer()
  private readonly listeners = new Set<(event: AppEvent) => void>()

  publish<T extends EventType>(runId: string, type: T, payload: EventPayloadOf<T>): AppEvent {
    const event = this.sequencer.stamp(runId, type, payload)
    for (const listener of this.listeners) listener(event)
    return event
  }

  subscribe(listener: (event: AppEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
