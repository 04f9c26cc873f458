import { createRequire } from 'node:module'
import * as path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { webgpuCandidate } from '../webgpu/backend'

/**
 * One way of running the engine. `load()` makes the backend available under `tfName` (importing packages,
 * registering kernels) or throws an Error whose message says why it cannot run here.
 */
export interface BackendCandidate {
  /** Name users pass to --backend / the setting. */
  name: string
  /** Name of the backend registered with tf (tf.setBackend), if different. */
  tfName: string
  /** One line for reports ("TensorFlow C++ with CUDA", ...). */
  description: string
  load(): Promise<void>
  /**
   * After a successful load, a reason for 'auto' to pass this backend over although it runs (e.g. a software GPU
   * adapter, slower than the CPU paths), or undefined to take it. Naming the backend still uses it.
   */
  declineAuto?(): string | undefined
  /** After a successful load, what was found here, for `bnas backends` (e.g. the GPU adapter). */
  describeHere?(): string | undefined
  /** Runs once the backend is active; returns detail for the report (e.g. which wasm binary runs). */
  afterInit?(): Promise<string>
  /**
   * Once active, a note every measurement on it must carry, or undefined (a software GPU adapter: its figures are
   * for correctness, not speed).
   */
  caveat?(): string | undefined
}

/**
 * Loads an optional CommonJS package (tfjs-node and tfjs-node-gpu are CommonJS) through createRequire, so that neither
 * the bundler nor the test runner tries to resolve it at build time: a missing optional dependency is a runtime
 * "not installed", and a broken one (say, libtensorflow missing) reports its first error line.
 */
function requireOptional(specifier: string): unknown {
  const require = createRequire(import.meta.url)
  try {
    require.resolve(specifier)
  } catch {
    throw new Error(`${specifier} is not installed`)
  }
  try {
    return require(specifier)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(`${specifier} failed to load: ${message.split('\n')[0]}`)
  }
}

let describeNative: (() => string) | undefined

/**
 * The native CPU kernels (src/main/engine/native: a Node-API addon, convs on oneDNN or, built without it, on its own
 * kernels; multi-threaded, SIMD chosen at run time) under a backend that extends the cpu one. Loading fails with the
 * addon's reason where it was not built. Which conv library it has is in describeHere / the report's detail.
 */
export const nativeCandidate: BackendCandidate = {
  name: 'native',
  tfName: 'native',
  description: 'BNAS native CPU kernels (C++ addon)',
  load: async () => {
    const { registerNativeBackend, describeNativeBackend } = await import('../native')
    await registerNativeBackend()
    describeNative = describeNativeBackend
  },
  describeHere: () => describeNative?.(),
  afterInit: async () => describeNative?.() ?? ''
}

let wasmLoaded = false

/** tfjs-backend-wasm with this engine's training kernels registered on top (it ships inference kernels only). */
export const wasmCandidate: BackendCandidate = {
  name: 'wasm',
  tfName: 'wasm',
  description: 'WebAssembly (XNNPACK, single thread) with BNAS training kernels',
  load: async () => {
    if (wasmLoaded) return
    const wasm = await import('@tensorflow/tfjs-backend-wasm')
    // In Node the .wasm binaries are read from the package's dist folder; threads are off (no SharedArrayBuffer
    // workers in Node), so only the plain and SIMD binaries are used.
    const require = createRequire(import.meta.url)
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))
    wasm.setWasmPaths(dist + path.sep)
    const { registerWasmGradientKernels } = await import('./wasm-gradients')
    registerWasmGradientKernels()
    wasmLoaded = true
  },
  afterInit: async () => {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')
    return `SIMD ${simd ? 'on' : 'off'}, 1 thread`
  }
}

export const cpuCandidate: BackendCandidate = {
  name: 'cpu',
  tfName: 'cpu',
  description: 'pure JavaScript (slow, always available)',
  load: async () => {
    await import('@tensorflow/tfjs-backend-cpu')
  }
}

/**
 * Fastest first: the order `auto` tries them in. Adding a backend is one entry here. WebGPU sits right after CUDA but
 * declines 'auto' on a software adapter (see webgpuCandidate), so there the CPU paths after it are chosen.
 */
export const BACKEND_CANDIDATES: readonly BackendCandidate[] = [
  {
    name: 'tensorflow-gpu',
    tfName: 'tensorflow',
    description: 'TensorFlow C++ with CUDA (@tensorflow/tfjs-node-gpu)',
    load: async () => {
      requireOptional('@tensorflow/tfjs-node-gpu')
    }
  },
  webgpuCandidate,
  {
    name: 'tensorflow',
    tfName: 'tensorflow',
    description: 'TensorFlow C++ on the CPU (@tensorflow/tfjs-node)',
    load: async () => {
      requireOptional('@tensorflow/tfjs-node')
    }
  },
  nativeCandidate,
  wasmCandidate,
  cpuCandidate
]

/** tf.findBackend after load: the package registered itself, or the registration is missing. */
export function isRegistered(tfName: string): boolean {
  return tf.engine().registryFactory[tfName] !== undefined
}
