// The packed 1-bit runtime: no TF.js at run time. Paths register here; 'reference' (pure TS) is always there and
// 'wasm-simd' (kernels.c compiled to WebAssembly with SIMD) is registered on import. The native kernels (issue 4) and
// WebGPU (issue 9) plug in with registerPackedPath({ name, priority, available, createBackend }).
import { registerPackedPath } from './session'
import { wasmSimdPath } from './wasm'

registerPackedPath(wasmSimdPath)

export { PackedSession, registerPackedPath, packedPaths, describePackedPaths } from './session'
export { referencePath, ReferenceBackend, bnInverse } from './reference'
export { wasmSimdPath, WasmBackend, packedWasmBytes } from './wasm'
export type { PackedBackend, PackedRuntimePath, StepDims, Shape3 } from './types'
