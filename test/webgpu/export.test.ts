import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import type { FinalNetwork } from '../../src/main/engine/network'
import { exportRun } from '../../src/main/export'
import { ALL_OPS, perturbedNetwork, savedRun } from '../export/fixture'
import { webgpuSuite } from './adapter'

// On a GPU machine 'auto' runs the engine on webgpu, where tensors cannot be read synchronously in Node: exporting a
// run (lowering its weights, verifying the export against the engine's own logits) must work there too.
const gpu = await webgpuSuite('export on the webgpu engine')

describe.skipIf(!gpu.available)(`export with the engine on webgpu${gpu.skipReason}`, () => {
  const SHAPE: [number, number, number] = [16, 16, 3]
  let net: FinalNetwork
  let runPath: string

  beforeAll(async () => {
    await initBackend('webgpu')
    net = perturbedNetwork({ genotype: ALL_OPS, cells: 4, channels: 6, classes: 5 })
    runPath = (await savedRun(net, SHAPE)).runPath
  })

  afterAll(async () => {
    net?.dispose()
    if (runPath) await rm(runPath, { recursive: true, force: true })
  })

  for (const format of ['packed', 'onnx', 'tfjs'] as const) {
    it(`${format}: exported and verified against the webgpu engine's logits`, async () => {
      const out = join(runPath, 'out', format === 'tfjs' ? 'tfjs' : `model.${format === 'packed' ? 'bnpk' : 'onnx'}`)
      const report = await exportRun(runPath, format, out)
      expect(report.checks.length).toBeGreaterThan(0)
      for (const check of report.checks) {
        expect(check.predictionsEqual).toBe(true)
        expect(check.maxAbsDiff).toBeLessThanOrEqual(check.tolerance)
      }
    })
  }
})
