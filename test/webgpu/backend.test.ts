import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import * as tf from '@tensorflow/tfjs-core'
import { afterAll, describe, expect, it } from 'vitest'
import type { AppCore } from '../../src/main/app/app-core'
import { describeBackends, initBackend } from '../../src/main/engine/backend'
import { BINARY_CONV2D } from '../../src/main/engine/native/binary-conv'
import { autoDeclineReason, isHardwareAdapter, speedCaveat } from '../../src/main/engine/webgpu/backend'
import {
  classifyAdapter,
  describeAdapter,
  privateLavapipeIcd,
  type GpuAdapterReport
} from '../../src/main/engine/webgpu/gpu'
import { createTestAppCore, waitFor } from '../helpers/app-core'
import { webgpuSuite } from './adapter'

// The webgpu backend's place in the backend choice: a hardware adapter comes right after CUDA in 'auto', a software
// one (lavapipe on the build machines) only when named, and every report names the adapter.
const gpu = await webgpuSuite('backend choice')

/** `bnas backends` from source, with extra environment variables; stdout only (Dawn writes warnings to stderr). */
async function bnasBackends(args: string[], env: Record<string, string> = {}): Promise<string> {
  const cli = fileURLToPath(new URL('../../src/main/cli/index.ts', import.meta.url))
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'backends', ...args], {
    env: { ...process.env, ...env }
  })
  return stdout
}

// The rule itself, on adapter descriptions as Dawn reports them (runs everywhere, adapter or not).
describe("auto's rule for WebGPU adapters", () => {
  const adapter = (info: Partial<GpuAdapterReport> & { isFallbackAdapter?: boolean }): GpuAdapterReport => ({
    vendor: '',
    architecture: '',
    device: '',
    description: '',
    limits: {
      maxBufferSize: 0,
      maxStorageBufferBindingSize: 0,
      maxComputeWorkgroupStorageSize: 0,
      maxComputeInvocationsPerWorkgroup: 0
    },
    ...info,
    ...classifyAdapter(info)
  })

  it.each([
    ['NVIDIA', adapter({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3060' })],
    ['AMD', adapter({ vendor: 'amd', architecture: 'rdna-2' })],
    ['Intel', adapter({ vendor: 'intel', architecture: 'gen-12lp' })],
    ['Apple', adapter({ vendor: 'apple', architecture: 'metal-3' })],
    ['an unknown vendor', adapter({ vendor: 'someone' })]
  ])('takes a hardware adapter (%s), with no caveat', (_, report) => {
    expect(isHardwareAdapter(report)).toBe(true)
    expect(autoDeclineReason(report)).toBeUndefined()
    expect(speedCaveat(report)).toBeUndefined()
  })

  it.each([
    ['lavapipe', adapter({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })],
    ['SwiftShader', adapter({ vendor: 'google', device: 'SwiftShader Device (Subzero)' })],
    ['a fallback adapter', adapter({ vendor: 'microsoft', isFallbackAdapter: true, description: 'WARP' })]
  ])('passes a software adapter (%s) over, naming it, and marks its figures', (_, report) => {
    expect(report.kind).toBe('software')
    expect(autoDeclineReason(report)).toMatch(/^software adapter \(.+\): only on request \(--backend webgpu\)/)
    expect(speedCaveat(report)).toMatch(/correctness, not speed$/)
  })
})

describe.skipIf(!gpu.available)(`webgpu backend${gpu.skipReason}`, () => {
  const report = gpu.available ? gpu.gpu.report : undefined
  const adapterLine = report ? describeAdapter(report) : ''
  const software = report !== undefined && !isHardwareAdapter(report)
  let core: AppCore | undefined

  afterAll(async () => {
    await core?.stop()
    await tf.setBackend('cpu')
  })

  it('runs when named, and its report names the adapter (with the speed caveat on a software one)', async () => {
    const started = await initBackend('webgpu')
    expect(started.name).toBe('webgpu')
    expect(tf.getBackend()).toBe('webgpu')
    expect(started.detail).toContain(adapterLine)
    // Its setup registered the method's kernels: PyTorch's max-pool gradient and the WGSL binary conv.
    expect(tf.getKernel('MaxPoolGrad', 'webgpu')?.kernelFunc.name).toBe('maxPoolGradFirstMax')
    expect(tf.getKernel(BINARY_CONV2D, 'webgpu')).toBeDefined()
    if (software) expect(started.caveat).toMatch(/software adapter: .*correctness, not speed/)
    else expect(started.caveat).toBeUndefined()
  })

  it(`auto ${software ? 'passes a software adapter over, saying so' : 'takes a hardware adapter right after CUDA'}`, async () => {
    const chosen = await initBackend('auto')
    const attempt = chosen.tried.find((t) => t.backend === 'webgpu')
    expect(chosen.tried.map((t) => t.backend).slice(0, 2)).toEqual(['tensorflow-gpu', 'webgpu'])
    if (software) {
      expect(attempt).toMatchObject({ available: false })
      expect(attempt?.reason).toMatch(/^software adapter \(.+\): only on request \(--backend webgpu\)/)
      expect(chosen.name).not.toBe('webgpu')
      expect(chosen.detail).toContain('webgpu: software adapter')
    } else if (chosen.tried[0]?.available !== true) {
      expect(chosen.name).toBe('webgpu')
    }
  })

  it('bnas backends lists it as available with the adapter found and, if software, why auto skips it', async () => {
    const entry = (await describeBackends()).find((b) => b.name === 'webgpu')
    expect(entry).toMatchObject({ available: true, found: adapterLine })
    if (software) expect(entry?.notAuto).toMatch(/only on request/)
    else expect(entry?.notAuto).toBeUndefined()
  })

  it('bnas backends prints the adapter found and, on a software one, why auto skips it', async () => {
    const text = await bnasBackends([])
    const block = text.slice(text.indexOf('✓ webgpu'), text.indexOf('\n✗ tensorflow ') + 1)
    expect(block).toContain(`    found: ${adapterLine}\n`)
    if (software) expect(block).toMatch(/ {4}not chosen by auto: software adapter \(.+\): only on request/)
    const json = JSON.parse(await bnasBackends(['--json'])) as { name: string; found?: string }[]
    expect(json.find((b) => b.name === 'webgpu')).toMatchObject({ available: true, found: adapterLine })
  })

  it("the engine worker's status (the app's status bar) carries the adapter line", async () => {
    // Acquiring the GPU above put the private lavapipe into this process's environment. A fresh app has not: undo it,
    // so the check covers the engine host adding it before the worker starts (a worker thread cannot).
    if (process.env.VK_ADD_DRIVER_FILES === privateLavapipeIcd()) delete process.env.VK_ADD_DRIVER_FILES
    core = createTestAppCore('browser', 'webgpu')
    const app = core
    const status = await waitFor(
      () => (app.engine.status.state === 'starting' ? undefined : app.engine.status),
      60_000,
      'the engine worker to start on webgpu'
    )
    expect(status).toMatchObject({ state: 'ready', backend: 'webgpu' })
    if (status.state === 'ready') expect(status.detail).toContain(adapterLine)
  })
})

// Where no adapter exists `bnas backends` says why. Simulated on Linux by pointing the Vulkan loader at no driver
// (the engine then leaves the private lavapipe out too, as it does whenever the user sets the variable).
describe.skipIf(process.platform !== 'linux')('bnas backends without a WebGPU adapter', () => {
  it('lists webgpu as unavailable with the reason and what to do', async () => {
    const text = await bnasBackends([], { VK_ICD_FILENAMES: '/nonexistent/icd.json' })
    expect(text).toMatch(
      /✗ webgpu .*\n {4}unavailable: Dawn found no Vulkan adapter \(drivers: \/nonexistent\/icd\.json\)/
    )
    expect(text).toContain('scripts/setup-lavapipe.sh')
  })
})
