// WGSL of the packed runtime's WebGPU path, every step but the binary conv (that one is the engine's, issue 9:
// src/main/engine/webgpu/wgsl/binary-conv.ts). Zeroise needs no kernel: the backend clears the buffer.
import { CONV, CONV_VEC4 } from './conv'
import { ADD, BN, CONCAT, RELU } from './elementwise'
import { LINEAR } from './linear'
import { GAP, POOL } from './pool'

export const KERNELS = {
  relu: RELU,
  add: ADD,
  bn: BN,
  concat: CONCAT,
  conv: CONV,
  conv4: CONV_VEC4,
  pool: POOL,
  gap: GAP,
  linear: LINEAR
}
export type KernelName = keyof typeof KERNELS
export { PARAM_WORDS, WORKGROUP_SIZE, workgroups } from './common'
