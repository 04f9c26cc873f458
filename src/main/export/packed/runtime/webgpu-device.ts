/**
 * The GPU of the packed runtime's WebGPU path, in a browser or in Node, without TF.js. A browser (or Electron's
 * renderer) has navigator.gpu; Node gets Dawn through the engine's acquireNodeGpu(), imported only when running in
 * Node so a browser bundle does not pull in Node modules (it sits in its own chunk that is never loaded there).
 */

/** 'hardware' where the kind is not known more precisely (browsers do not say discrete or integrated). */
export type GpuKind = 'discrete' | 'integrated' | 'hardware' | 'software' | 'unknown'

export interface PackedGpu {
  /** Where adapters come from (navigator.gpu, or Dawn's GPU object). */
  gpu: GPU
  /** The adapter the kind and description are about (not for devices: others may have used it, see below). */
  adapter: GPUAdapter
  kind: GpuKind
  /** One line for users: "software adapter: llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)". */
  description: string
}

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof (process as { versions?: { node?: string } }).versions?.node === 'string'

let acquired: Promise<PackedGpu> | undefined

const browserGpu = (): GPU | undefined => (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu

/**
 * A browser only offers a CPU rasteriser (SwiftShader, WARP) as a fallback adapter, and says so; the name check covers
 * browsers that predate GPUAdapterInfo.isFallbackAdapter.
 */
function browserKind(adapter: GPUAdapter): GpuKind {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean }
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter
  const names = [info.architecture, info.device, info.description].join(' ')
  return info.isFallbackAdapter || legacy || /swiftshader|llvmpipe|lavapipe|software|basic render|warp/i.test(names)
    ? 'software'
    : 'hardware'
}

async function fromBrowser(gpu: GPU): Promise<PackedGpu> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' })
  if (!adapter) throw new Error('navigator.gpu found no adapter (WebGPU disabled or the GPU is blocklisted)')
  const kind = browserKind(adapter)
  const info = adapter.info
  const name = info.description || [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unnamed'
  return { gpu, adapter, kind, description: `${kind} adapter: ${name}` }
}

async function fromNode(): Promise<PackedGpu> {
  const { acquireNodeGpu, describeAdapter } = await import('../../../engine/webgpu/gpu')
  const { gpu, adapter, report } = await acquireNodeGpu()
  return { gpu, adapter, kind: report.kind, description: describeAdapter(report) }
}

/**
 * The adapter, its kind and a description. In Node, Dawn is preferred even where something installed a navigator.gpu
 * (the engine does, for tfjs-backend-webgpu): acquireNodeGpu() classifies Dawn's adapters (lavapipe is no fallback
 * adapter, only its name says software). navigator.gpu serves only where Dawn cannot load.
 */
export function acquirePackedGpu(): Promise<PackedGpu> {
  acquired ??= (async () => {
    const gpu = browserGpu()
    if (isNode()) {
      try {
        return await fromNode()
      } catch (error) {
        // A runtime with Node's APIs and its own WebGPU (Deno, Bun, Electron's renderer with Node integration);
        // where that finds nothing either, Dawn's reason is the one to show.
        if (!gpu) throw error
        return fromBrowser(gpu).catch((): never => {
          throw error
        })
      }
    }
    if (!gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing)')
    return fromBrowser(gpu)
  })()
  // A failure is not kept: a driver may be installed, or WebGPU enabled, while the app runs.
  acquired.catch(() => (acquired = undefined))
  return acquired
}

let device: Promise<GPUDevice> | undefined

/**
 * One device per process for every session of the path (each backend keeps its own buffers and frees them); asks for
 * the adapter's largest buffers, since a batch of activations outgrows the default 128 MiB binding limit. A lost device
 * is forgotten, so the next session makes a new one.
 *
 * The device comes from an adapter of its own, asked for with the same preference as the one classified: an adapter
 * gives one device only (WebGPU's "consumed" adapter, which Dawn enforces), and the engine, tests or an earlier device
 * may have used the shared one.
 */
export function packedGpuDevice(): Promise<GPUDevice> {
  device ??= (async () => {
    const { gpu } = await acquirePackedGpu()
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' })
    if (!adapter) throw new Error('packed runtime (webgpu): the GPU offers no adapter any more (driver reset?)')
    const created = await adapter.requestDevice({
      label: 'bnas packed runtime',
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize
      }
    })
    void created.lost.then(() => (device = undefined))
    return created
  })()
  device.catch(() => (device = undefined))
  return device
}
