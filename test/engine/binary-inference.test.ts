import * as tf from '@tensorflow/tfjs-core'
import { afterEach, describe, expect, it } from 'vitest'
import { initBackend, type BackendPreference } from '../../src/main/engine/backend'
import { FinalNetwork } from '../../src/main/engine/network'
import { nativeAddonStatus } from '../../src/main/engine/native'
import { BINARY_CONV2D } from '../../src/main/engine/native/binary-conv'
import { useBinaryInferenceKernel } from '../../src/main/engine/ops/binary-inference'
import { publishedBnasGenotype } from '../../src/shared/genotype'
import { webgpuSuite } from '../webgpu/adapter'
import { exactBinaryWeights } from './supernet-case'

// In inference, binary conv blocks take the bit-packed XNOR/popcount kernel where it pays (ops/binary-inference.ts):
// the network's logits must stay those of the float path, and training must never take it (it has no gradient).
const native = nativeAddonStatus()
if (!native.available && process.env.BNAS_REQUIRE_NATIVE === '1') throw new Error(`native addon: ${native.reason}`)
const gpu = await webgpuSuite('binary kernels in inference')
const BACKENDS: BackendPreference[] = []
if (native.available) BACKENDS.push('native')
if (gpu.available) BACKENDS.push('webgpu')

afterEach(() => {
  delete process.env.BNAS_BINARY_KERNELS
})

async function logits(net: FinalNetwork, x: tf.Tensor4D): Promise<{ values: Float32Array; kernels: string[] }> {
  let values: Float32Array = new Float32Array()
  const profile = await tf.profile(async () => {
    const y = net.logits(x, { training: false })
    values = (await y.data()) as Float32Array
    y.dispose()
  })
  return { values, kernels: profile.kernelNames }
}

describe.skipIf(BACKENDS.length === 0)(
  `binary conv blocks in inference${BACKENDS.length === 0 ? ' (SKIPPED: neither the native addon nor a WebGPU adapter is here)' : ''}`,
  () => {
    for (const backend of BACKENDS) {
      it(`${backend}: BNAS-A's logits equal the float path's, with the packed kernel running`, async () => {
        await initBackend(backend)
        // C = 24: the 3×3 convs of the first cells stay float on native (24·9 < 512), the 5×5 and the wider
        // cells' convs go packed: both paths in one network.
        const net = new FinalNetwork({
          genotype: publishedBnasGenotype('latest_cell_zeroise'),
          cells: 3,
          channels: 24,
          classes: 10,
          macro: 'cifar',
          seed: 4
        })
        // Latent weights of ±0.5 (α = 0.5): the float path's sums of ±α are then exact too, so an exact zero stays
        // zero on both paths (elsewhere float rounding leaves ±1e-7 where the integer sum is 0, and the next block's
        // sign(BN(·)) turns that into ±1 vs 0: the two paths differ by sign flips, not by the kernel's arithmetic).
        exactBinaryWeights(net)
        const x = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 9) as tf.Tensor4D
        try {
          const packed = await logits(net, x)
          process.env.BNAS_BINARY_KERNELS = '0'
          const float = await logits(net, x)
          expect(packed.kernels).toContain(BINARY_CONV2D)
          expect(float.kernels).not.toContain(BINARY_CONV2D)
          let maxDiff = 0
          for (let i = 0; i < float.values.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(packed.values[i] - float.values[i]))
          }
          expect(maxDiff).toBeLessThan(1e-4)
        } finally {
          net.dispose()
          x.dispose()
        }
      })

      it(`${backend}: never while a gradient is recorded`, async () => {
        await initBackend(backend)
        expect(useBinaryInferenceKernel(256, 3)).toBe(true)
        let inside = true
        tf.grad((v: tf.Tensor) => {
          inside = useBinaryInferenceKernel(256, 3)
          return tf.sum(v)
        })(tf.ones([2]))
        expect(inside).toBe(false)
      })
    }
  }
)
