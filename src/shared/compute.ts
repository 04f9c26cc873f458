import { z } from 'zod'
import type { EngineStatus } from './contract/operations'

/**
 * One sentence on where training runs, in the app's words, from the engine's status: what the terminal prints once
 * at start-up and what the Start page heads its compute panel with. Pure, so both sides say the same thing.
 */

/** Backends that run on a GPU; every other one runs on the CPU. */
export const GPU_BACKENDS: readonly string[] = ['tensorflow-gpu', 'webgpu']

export function computeHeadline(status: EngineStatus): string {
  if (status.state === 'starting') return 'the engine is starting'
  if (status.state === 'failed') return `the engine could not start: ${status.message}`
  if (GPU_BACKENDS.includes(status.backend)) return `training runs on the GPU (${status.backend})`
  const webgpu = status.tried.find((attempt) => attempt.backend === 'webgpu')
  const cpu = `training runs on the CPU (${status.backend})`
  // Named with --backend / BNAS_BACKEND: the GPU was never looked at.
  if (webgpu === undefined) return `${cpu}, as asked`
  const reason = webgpu.reason ?? ''
  if (reason.startsWith('software adapter')) return `only a software GPU adapter here, so ${cpu}`
  if (/no (Vulkan|Metal|Direct3D 12).*adapter/i.test(reason)) return `no GPU adapter, so ${cpu}`
  return `WebGPU is unavailable here, so ${cpu}`
}

/** One compute backend as `bnas backends` and the Start page show it (describeBackends in the engine). */
export const backendDescriptionSchema = z.object({
  name: z.string(),
  description: z.string(),
  available: z.boolean(),
  reason: z.string().optional(),
  /** What was found here (for webgpu: the adapter). */
  found: z.string().optional(),
  /** Why 'auto' passes it over although it runs. */
  notAuto: z.string().optional(),
  /** What to do to use it. */
  advice: z.string().optional()
})
export type BackendInfo = z.infer<typeof backendDescriptionSchema>
