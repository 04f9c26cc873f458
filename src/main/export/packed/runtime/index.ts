// The packed 1-bit runtime: no TF.js at run time. Paths register here; 'reference' (pure TS) is always there and
// 'wasm-simd' (kernels.c compiled to WebAssembly with SIMD) and 'webgpu' (WGSL, issue 9; navigator.gpu in a browser,
// Dawn in Node, chosen automatically only on a hardware adapter) are registered on import. The native kernels
// (issue 4) plug in from the Node side with registerPackedPath({ name, priority, available, createBackend }).
import { registerPackedPath } from './session'
import { wasmSimdPath } from './wasm'
import { webgpuPath } from './webgpu'

registerPackedPath(wasmSimdPath)
registerPackedPath(webgpuPath)

export { PackedSession, registerPackedPath, packedPaths, describePackedPaths } from './session'
export { referencePath, ReferenceBackend, bnInverse } from './reference'
export { wasmSimdPath, WasmBackend, packedWasmBytes } from './wasm'
export { webgpuPath, WebGpuBackend, webgpuAdapterStatus } from './webgpu'
export type { PackedPathStatus } from './session'
export type { CompiledPackedModel, PackedBackend, PackedRuntimePath, PathAvailability, StepDims, Shape3 } from './types'
