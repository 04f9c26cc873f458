import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { opsAgainstPyTorch } from '../engine/ops-suite'
import { webgpuSuite } from './adapter'

// Every op of the method, forward and backward, on webgpu against the same PyTorch fixtures as cpu, wasm and native
// (test/engine/ops-suite.ts). On lavapipe each new shader is compiled by LLVM on the CPU, which is most of the time.
const gpu = await webgpuSuite('ops against PyTorch')

describe.skipIf(!gpu.available)(`ops against PyTorch 1.13 on webgpu${gpu.skipReason}`, () => {
  beforeAll(async () => {
    await initBackend('webgpu')
    // Small tensors still on the host would otherwise run on tfjs' CPU kernels (WEBGPU_CPU_FORWARD), and the
    // fixtures are small: every op must run its WGSL shader here.
    tf.env().set('WEBGPU_CPU_FORWARD', false)
    expect(tf.getBackend()).toBe('webgpu')
  })
  opsAgainstPyTorch()
})
