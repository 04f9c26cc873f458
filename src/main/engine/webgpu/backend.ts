import * as tf from '@tensorflow/tfjs-core'
import type { BackendCandidate } from '../backend/candidates'
import { acquireNodeGpu, describeAdapter, installNavigatorGpu, type GpuAdapterReport } from './gpu'
import { registerWebgpuTrainingKernels } from './training-kernels'

/**
 * The engine's 'webgpu' backend: tfjs-backend-webgpu on Dawn (npm `webgpu`) in Node, with the training kernels it
 * lacks registered on top. Only a hardware adapter is chosen by 'auto'; a software one (lavapipe, SwiftShader, WARP)
 * runs only when asked for by name, where it serves to check the GPU code paths, not to be fast.
 */

/** The adapter found by the last successful load. */
let adapterReport: GpuAdapterReport | undefined

/** Whether 'auto' may pick this adapter: anything not known to be a CPU rasteriser (an unknown vendor included). */
export function isHardwareAdapter(report: GpuAdapterReport): boolean {
  return report.kind !== 'software'
}

/** Why 'auto' passes an adapter over (a software one), or undefined where it takes it. */
export function autoDeclineReason(report: GpuAdapterReport): string | undefined {
  if (isHardwareAdapter(report)) return undefined
  const name = report.description || report.device || report.vendor || 'unnamed'
  return `software adapter (${name}): only on request (--backend webgpu), never chosen over the CPU paths`
}

/** The note every figure measured on a software adapter carries, or undefined on hardware. */
export function speedCaveat(report: GpuAdapterReport): string | undefined {
  if (isHardwareAdapter(report)) return undefined
  return `${describeAdapter(report)}: a CPU rasteriser, so these figures are for correctness, not speed`
}

async function loadWebgpu(): Promise<void> {
  const { gpu, report } = await acquireNodeGpu()
  // tfjs-backend-webgpu registers its backend factory at import time only if navigator.gpu exists then, so
  // navigator.gpu must be in place before the first import anywhere in the process.
  installNavigatorGpu(gpu)
  await import('@tensorflow/tfjs-backend-webgpu')
  if (tf.engine().registryFactory.webgpu === undefined) {
    throw new Error(
      '@tensorflow/tfjs-backend-webgpu was imported before navigator.gpu existed, so it registered no backend ' +
        '(load it through the engine backend module only)'
    )
  }
  registerWebgpuTrainingKernels()
  // The packed XNOR/popcount binary conv in WGSL (forward only), which binaryConv2d uses on this backend.
  const { registerWebgpuBinaryKernels } = await import('./binary-conv-kernel')
  registerWebgpuBinaryKernels()
  adapterReport = report
}

export const webgpuCandidate: BackendCandidate = {
  name: 'webgpu',
  tfName: 'webgpu',
  description: 'WebGPU (tfjs-backend-webgpu on Dawn) with BNAS training kernels',
  load: loadWebgpu,
  declineAuto: () => (adapterReport ? autoDeclineReason(adapterReport) : undefined),
  describeHere: () => (adapterReport ? describeAdapter(adapterReport) : undefined),
  afterInit: async () => {
    if (adapterReport === undefined) return 'no adapter report'
    const note = isHardwareAdapter(adapterReport) ? '' : ' (figures on it are for correctness, not speed)'
    return `${describeAdapter(adapterReport)}${note}`
  },
  caveat: () => (adapterReport ? speedCaveat(adapterReport) : undefined)
}
