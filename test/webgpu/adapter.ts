import { acquireNodeGpu, describeAdapter, type NodeGpu } from '../../src/main/engine/webgpu/gpu'

/**
 * Whether the WebGPU suites can run here (they need an adapter: a GPU, or Mesa's lavapipe from
 * scripts/setup-lavapipe.sh). Without one: a warning with the reason and the reason in the suite's name, or a failure
 * where BNAS_REQUIRE_WEBGPU=1 says an adapter must be there (CI installs lavapipe).
 *
 *   const gpu = await webgpuSuite('WGSL binary conv')
 *   describe.skipIf(!gpu.available)(`WGSL binary conv${gpu.skipReason}`, ...)
 */
export async function webgpuSuite(
  what: string
): Promise<{ available: true; skipReason: ''; gpu: NodeGpu } | { available: false; skipReason: string }> {
  try {
    const gpu = await acquireNodeGpu()
    console.info(`test/webgpu: ${what} on ${describeAdapter(gpu.report)}`)
    return { available: true, skipReason: '', gpu }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    if (process.env.BNAS_REQUIRE_WEBGPU === '1') {
      throw new Error(`BNAS_REQUIRE_WEBGPU=1 but no WebGPU adapter is available: ${reason}`)
    }
    console.warn(`test/webgpu: ${what} not tested: ${reason}`)
    return { available: false, skipReason: ` (SKIPPED: ${reason})` }
  }
}
