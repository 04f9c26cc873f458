import { z } from 'zod'
import { datasetSpecStringSchema, datasetSummarySchema } from '../datasets'
import { runDetailSchema, runIdSchema, runSummarySchema, searchConfigSchema, trainConfigSchema } from '../jobs'
import { clusterOperations } from '../cluster/operations'
import { backendDescriptionSchema } from '../compute'
import { DOWNLOADABLE, datasetDownloadSchema, datasetsFoundSchema } from '../datasets-found'
import { firstRunPlanSchema } from '../first-run'
import { studyListEntrySchema, studyReportSchema } from '../study/report'

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
  /** The folder holding every run. */
  runsRoot: z.string(),
  engine: engineStatusSchema
})
export type AppInfo = z.infer<typeof appInfoSchema>

const empty = z.object({}).strict()
const runRef = z.object({ runId: runIdSchema }).strict()
const started = z.object({ runId: runIdSchema, path: z.string() })

export const operations = {
  'app.info': { request: empty, reply: appInfoSchema },
  'engine.status': { request: empty, reply: engineStatusSchema },
  'genotypes.published': {
    request: empty,
    reply: z.array(z.object({ name: z.string(), description: z.string(), text: z.string() }))
  },
  'genotypes.parse': {
    request: z
      .object({ text: z.string().min(1, 'paste a genotype in JSON or Genotype(...) text').max(100_000) })
      .strict(),
    reply: z.object({ json: z.string(), python: z.string() })
  },
  'datasets.inspect': {
    request: z
      .object({
        spec: datasetSpecStringSchema,
        /** At most this many sample images in all. */
        samples: z.number().int().min(0).max(100).optional(),
        /** Sample images per class (default 1). */
        perClass: z.number().int().min(1).max(20).optional()
      })
      .strict(),
    reply: datasetSummarySchema
  },
  /** The datasets found on this machine, the one to start from, how to get the others, downloads under way. */
  'datasets.found': { request: empty, reply: datasetsFoundSchema },
  /** Starts downloading CIFAR into the app's datasets folder; progress comes as 'dataset.download' events. */
  'datasets.download': { request: z.object({ kind: z.enum(DOWNLOADABLE) }).strict(), reply: datasetDownloadSchema },
  /** Every compute backend, fastest first: whether it runs here, why not, and what to do (as `bnas backends`). */
  'backends.describe': { request: empty, reply: z.array(backendDescriptionSchema) },
  /** The first run's dataset and settings: a small search, its training and exports (see shared/first-run.ts). */
  'firstRun.plan': { request: empty, reply: firstRunPlanSchema },
  'runs.list': { request: empty, reply: z.array(runSummarySchema) },
  'runs.get': { request: runRef, reply: runDetailSchema },
  'runs.delete': { request: runRef, reply: z.object({ deleted: runIdSchema }) },
  /** Starts a search in the engine worker; its events carry the new run's id. */
  'search.start': { request: z.object({ config: searchConfigSchema }).strict(), reply: started },
  /** Starts the final training of a genotype in the engine worker. */
  'train.start': { request: z.object({ config: trainConfigSchema }).strict(), reply: started },
  /** Continues a stopped, failed or interrupted run from its last checkpoint. */
  'runs.resume': { request: runRef, reply: started },
  /** Pause, resume or stop the running job of a run. */
  'jobs.control': {
    request: z.object({ runId: runIdSchema, action: z.enum(['pause', 'resume', 'stop']) }).strict(),
    reply: z.object({ runId: runIdSchema, status: z.enum(['running', 'paused', 'stopping']) })
  },
  /**
   * The cost of a search before it starts: the supernet of `config` is built and summarised, and two real search
   * steps (α step + weight step) are timed on a batch of its data. Memory is TF.js's peak tensor bytes in a step.
   */
  'search.estimate': {
    request: z.object({ config: searchConfigSchema }).strict(),
    reply: z.object({
      parameters: z.number(),
      binaryParameters: z.number(),
      architectureParameters: z.number(),
      bops: z.number(),
      flops: z.number(),
      stepsPerEpoch: z.number().int(),
      estimatedMemoryBytes: z.number(),
      msPerStep: z.number(),
      secondsPerEpoch: z.number(),
      backend: z.string(),
      /** True when a job was running while the steps were timed (the numbers are then pessimistic). */
      measuredUnderLoad: z.boolean()
    })
  },
  /** Desktop only: the system's folder picker. Browser mode answers 'unavailable' (type a path instead). */
  'desktop.chooseFolder': {
    request: z.object({ title: z.string().max(200).optional() }).strict(),
    reply: z.object({ path: z.string().nullable() })
  },
  /** Desktop only: shows a run's folder in the system's file manager. */
  'desktop.revealRun': { request: runRef, reply: z.object({ runId: runIdSchema }) },
  /**
   * Exports a trained run in one format into the run's own exports/ folder, then reloads it with that format's
   * runtime and compares it with the engine; the reply is the verified report.
   */
  'export.run': {
    request: z.object({ runId: runIdSchema, format: z.enum(['genotype', 'tfjs', 'onnx', 'packed']) }).strict(),
    reply: z.object({
      format: z.string(),
      out: z.string(),
      files: z.array(z.string()),
      bytes: z.number(),
      checks: z.array(
        z.object({
          runtime: z.string(),
          samples: z.number(),
          maxAbsDiff: z.number(),
          tolerance: z.number(),
          predictionsEqual: z.boolean()
        })
      ),
      summary: z
        .object({
          trainableParams: z.number(),
          binaryParams: z.number(),
          floatParams: z.number(),
          bops: z.number(),
          flops: z.number(),
          ops: z.number(),
          sizeBytes: z.number(),
          float32Bytes: z.number(),
          residualBinary: z.object({
            binaryParams: z.number(),
            floatParams: z.number(),
            bops: z.number(),
            flops: z.number(),
            ops: z.number(),
            sizeBytes: z.number()
          })
        })
        .optional()
    })
  },
  /** The built-in studies (resources/studies) and the studies of the runs folder with how far each got. */
  'studies.list': {
    request: empty,
    reply: z.object({
      builtin: z.array(
        z.object({
          name: z.string(),
          description: z.string().optional(),
          dataset: z.string(),
          arms: z.array(z.string())
        })
      ),
      studies: z.array(studyListEntrySchema)
    })
  },
  /** A study's report, built from its runs' folders (also while it runs). */
  'studies.report': { request: z.object({ name: runIdSchema }).strict(), reply: studyReportSchema },
  /**
   * Starts a built-in study, or continues one of the runs folder: its runs go one after another through the engine
   * (completed runs skipped, stopped ones resumed). Validated in full before anything runs.
   */
  'studies.start': {
    request: z
      .object({ name: runIdSchema, builtin: z.boolean(), dataset: datasetSpecStringSchema.optional() })
      .strict(),
    reply: z.object({ name: z.string(), runs: z.number().int() })
  },
  ...clusterOperations
} as const

export type Operations = typeof operations
export type OperationName = keyof Operations
export type RequestOf<K extends OperationName> = z.input<Operations[K]['request']>
export type ReplyOf<K extends OperationName> = z.infer<Operations[K]['reply']>

export const operationNames = Object.keys(operations) as OperationName[]

export function isOperationName(name: unknown): name is OperationName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(operations, name)
}
