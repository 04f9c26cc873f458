import { z } from 'zod'

/**
 * Every operation the renderer can ask of the engine side: its name, request schema and reply schema.
 * Both transports (Electron IPC and the browser-mode WebSocket) are bound to this one table, and the preload
 * exposes exactly one function per entry. Adding an operation is one entry here plus its handler.
 */

const backendAttempt = z.object({
  backend: z.string(),
  available: z.boolean(),
  reason: z.string().optional()
})

export const engineStatusSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('starting') }),
  z.object({
    state: z.literal('ready'),
    backend: z.string(),
    detail: z.string(),
    tried: z.array(backendAttempt)
  }),
  z.object({ state: z.literal('failed'), message: z.string() })
])
export type EngineStatus = z.infer<typeof engineStatusSchema>

export const appInfoSchema = z.object({
  name: z.string(),
  version: z.string(),
  /** 'electron' in the desktop window, 'browser' when served by `bnas serve` / `npm start` without Electron. */
  mode: z.enum(['electron', 'browser']),
  /** Why the desktop window is not used, shown in browser mode so the user knows what they are looking at. */
  modeReason: z.string().optional(),
  platform: z.string(),
  engine: engineStatusSchema
})
export type AppInfo = z.infer<typeof appInfoSchema>

const empty = z.object({}).strict()

export const operations = {
  'app.info': { request: empty, reply: appInfoSchema },
  'engine.status': { request: empty, reply: engineStatusSchema },
  'genotypes.published': {
    request: empty,
    reply: z.array(z.object({ name: z.string(), description: z.string(), text: z.string() }))
  },
  'genotypes.parse': {
    request: z.object({ text: z.string().min(1, 'paste a genotype in JSON or Genotype(...) text').max(100_000) }).strict(),
    reply: z.object({ json: z.string(), python: z.string() })
  }
} as const

export type Operations = typeof operations
export type OperationName = keyof Operations
export type RequestOf<K extends OperationName> = z.input<Operations[K]['request']>
export type ReplyOf<K extends OperationName> = z.infer<Operations[K]['reply']>

export const operationNames = Object.keys(operations) as OperationName[]

export function isOperationName(name: unknown): name is OperationName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(operations, name)
}
