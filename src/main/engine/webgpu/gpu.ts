import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * WebGPU in Node: Dawn through the npm package `webgpu` (prebuilt for Linux, macOS and Windows), which is what the
 * engine's 'webgpu' backend and the packed runtime's WebGPU path run on outside a browser. In a browser or Electron's
 * renderer `navigator.gpu` is used instead; nothing here is needed there.
 */

/** What kind of device an adapter is: only a hardware adapter is ever chosen automatically over the CPU paths. */
export type AdapterKind = 'discrete' | 'integrated' | 'software' | 'unknown'

export interface GpuAdapterReport {
  kind: AdapterKind
  /** How `kind` was decided: the adapter said so (fallback/software) or it is inferred from the vendor. */
  kindSource: 'adapter' | 'vendor'
  vendor: string
  architecture: string
  device: string
  description: string
  limits: {
    maxBufferSize: number
    maxStorageBufferBindingSize: number
    maxComputeWorkgroupStorageSize: number
    maxComputeInvocationsPerWorkgroup: number
  }
}

export interface NodeGpu {
  gpu: GPU
  adapter: GPUAdapter
  report: GpuAdapterReport
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|warp/i

/**
 * WebGPU does not expose discrete vs integrated. Software is certain (the adapter is a fallback adapter or names a CPU
 * rasteriser); otherwise the vendor decides: NVIDIA and AMD boards are usually discrete, Intel, Apple, ARM and
 * Qualcomm GPUs usually integrated. Reported with kindSource 'vendor' so nobody takes it for a measurement.
 */
export function classifyAdapter(info: {
  vendor?: string
  architecture?: string
  device?: string
  description?: string
  isFallbackAdapter?: boolean
}): { kind: AdapterKind; kindSource: 'adapter' | 'vendor' } {
  const names = [info.architecture, info.device, info.description].filter(Boolean).join(' ')
  if (info.isFallbackAdapter || info.architecture === 'software' || SOFTWARE_NAMES.test(names)) {
    return { kind: 'software', kindSource: 'adapter' }
  }
  const vendor = (info.vendor ?? '').toLowerCase()
  if (/nvidia|amd|ati/.test(vendor)) return { kind: 'discrete', kindSource: 'vendor' }
  if (/intel|apple|arm|qualcomm|imagination|mesa/.test(vendor)) return { kind: 'integrated', kindSource: 'vendor' }
  return { kind: 'unknown', kindSource: 'vendor' }
}

/** One line for reports: "software adapter: llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)". */
export function describeAdapter(report: GpuAdapterReport): string {
  const name = report.description || [report.vendor, report.architecture, report.device].filter(Boolean).join(' ')
  const inferred = report.kindSource === 'vendor' && report.kind !== 'unknown' ? ' (by vendor)' : ''
  return `${report.kind} adapter${inferred}: ${name || 'unnamed'}`
}

/** Why no adapter was found, with what to do about it, per platform. */
function noAdapterReason(): string {
  if (process.platform === 'linux') {
    const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_ADD_DRIVER_FILES
    return (
      'Dawn found no Vulkan adapter' +
      (icd ? ` (drivers: ${icd})` : '') +
      '. It needs the Vulkan loader (Debian: libvulkan1) and a Vulkan driver; without a GPU, ' +
      'scripts/setup-lavapipe.sh installs Mesa 25 lavapipe privately, where the engine finds it'
    )
  }
  if (process.platform === 'darwin') return 'Dawn found no Metal adapter'
  return 'Dawn found no Direct3D 12 or Vulkan adapter (update the graphics driver)'
}

/** Where scripts/setup-lavapipe.sh puts Mesa's lavapipe by default. */
export function privateLavapipeIcd(): string {
  const dir = process.env.BNAS_LAVAPIPE_DIR ?? join(homedir(), '.cache', 'bnas-studio', 'lavapipe')
  return join(dir, 'lvp_icd.json')
}

/**
 * Adds the private lavapipe of scripts/setup-lavapipe.sh to the Vulkan drivers the loader finds (VK_ADD_DRIVER_FILES
 * adds; VK_ICD_FILENAMES would replace the system's drivers, hiding a real GPU). Dawn ranks hardware adapters before
 * CPU ones, so a real GPU still wins. Nothing happens when the user set either variable.
 *
 * Only the main thread can do this for a process: a worker thread's process.env is its own copy, which the Vulkan
 * loader never sees. So whoever starts the engine worker calls this first (EngineHost.start); the worker's
 * environment then inherits it.
 */
export function addPrivateLavapipe(): void {
  if (process.platform !== 'linux' || process.env.VK_ICD_FILENAMES || process.env.VK_ADD_DRIVER_FILES) return
  const icd = privateLavapipeIcd()
  if (existsSync(icd)) process.env.VK_ADD_DRIVER_FILES = icd
}

let acquired: Promise<NodeGpu> | undefined

/** A hung driver must not hang the engine's start: 'auto' then goes on to the CPU backends with this reason. */
const ADAPTER_TIMEOUT_MS = 20_000

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The GPU, its adapter (high-performance preference) and a report on it; once per process, since Dawn instances are
 * costly and the backend and runtime share one. Rejects with a message saying why (package missing, no adapter).
 */
export function acquireNodeGpu(): Promise<NodeGpu> {
  acquired ??= (async () => {
    let webgpu: { create(flags: string[]): GPU; globals: object }
    try {
      webgpu = await import('webgpu')
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
      throw new Error(`the webgpu package (Dawn) cannot load here: ${message}`)
    }
    // GPUBufferUsage, GPUMapMode, ... are globals in browsers; tfjs-backend-webgpu and our runtime use them.
    for (const [name, value] of Object.entries(webgpu.globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value
    }
    addPrivateLavapipe()
    const gpu = webgpu.create([])
    const adapter = await withTimeout(
      gpu.requestAdapter({ powerPreference: 'high-performance' }),
      ADAPTER_TIMEOUT_MS,
      `the graphics driver did not answer a WebGPU adapter request within ${ADAPTER_TIMEOUT_MS / 1000} s`
    )
    if (!adapter) throw new Error(noAdapterReason())
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean }
    const report: GpuAdapterReport = {
      ...classifyAdapter(info),
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      limits: {
        maxBufferSize: adapter.limits.maxBufferSize,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup
      }
    }
    return { gpu, adapter, report }
  })()
  // A failure is not cached for ever: the user may install a driver and retry in the same app session.
  acquired.catch(() => (acquired = undefined))
  return acquired
}

/**
 * tfjs-backend-webgpu looks for navigator.gpu; Node 20 has no navigator. Installs one holding Dawn's GPU (and keeps an
 * existing navigator, as in Node 21+, adding only `gpu`).
 */
export function installNavigatorGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: Record<string, unknown> }
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu, userAgent: `Node.js ${process.version}` },
      configurable: true,
      writable: true
    })
  } else if (g.navigator.gpu !== gpu) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true })
  }
}
