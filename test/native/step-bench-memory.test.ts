import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { describe, expect, it } from 'vitest'
import { benchSearchStep } from '../../src/main/engine/bench/step-bench'
import { nativeAddonStatus, registerNativeBackend } from '../../src/main/engine/native'

// `bnas bench search-step` reports both inputs of a ratio against PyTorch: ms per step and the resident peak while
// stepping (VmHWM reset once the network is built), measured as scripts/bench/search_step_torch.py measures it.
describe('bench search-step memory', () => {
  it('reports the resident peak while stepping, above what stepping added and within the lifetime peak', async () => {
    if (nativeAddonStatus().available) await registerNativeBackend()
    await tf.setBackend(nativeAddonStatus().available ? 'native' : 'cpu')
    const result = await benchSearchStep({
      cells: 3,
      channels: 2,
      batch: 2,
      input: [8, 8, 3],
      classes: 2,
      warmup: 0,
      steps: 1
    })
    expect(result.msPerStep).toBeGreaterThan(0)
    expect(result.stepPeakMeasured).toBe(process.platform === 'linux')
    // The process holds the runtime and the network: tens of MiB at least.
    expect(result.stepPeakRssBytes).toBeGreaterThan(20 * 2 ** 20)
    expect(result.stepAddedBytes).toBeGreaterThanOrEqual(0)
    expect(result.stepAddedBytes).toBeLessThan(result.stepPeakRssBytes)
    // ru_maxrss and VmHWM are summed from per-CPU counters separately: allow their rounding (a few hundred KiB).
    expect(result.stepPeakRssBytes).toBeLessThanOrEqual(result.peakRssBytes + 2 ** 20)
  }, 60_000)
})
