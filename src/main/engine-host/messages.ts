import type { EngineStatus } from '../../shared/contract'

/** Messages between the main thread and the engine worker. Internal to src/main, so typed but not zod-checked. */
export type ToWorker = { type: 'init'; backend: string }
export type FromWorker = { type: 'status'; status: EngineStatus }
