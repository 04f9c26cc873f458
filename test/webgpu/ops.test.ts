import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { createRng } from '../../src/main/engine/nn'
import {
  avgPool3x3Torch,
  batchNorm,
  batchNormSignSte,
  conv2dTorch,
  maxPool3x3Torch,
  type TorchConvOptions
} from '../../src/main/engine/ops'
import { expectValuesClose } from '../engine/ops-fixtures'
import { opsAgainstPyTorch } from '../engine/ops-suite'
import { webgpuSuite } from './adapter'

// Every op of the method, forward and backward, on webgpu against the same PyTorch fixtures as cpu, wasm and native
// (test/engine/ops-suite.ts). On lavapipe each new shader is compiled by LLVM on the CPU, which is most of the time.
const gpu = await webgpuSuite('ops against PyTorch')

describe.skipIf(!gpu.available)(`ops on webgpu${gpu.skipReason}`, () => {
  beforeAll(async () => {
    await initBackend('cpu')
    await initBackend('webgpu')
    // Small tensors still on the host would otherwise run on tfjs' CPU kernels (WEBGPU_CPU_FORWARD), and the
    // fixtures are small: every op must run its WGSL shader here.
    tf.env().set('WEBGPU_CPU_FORWARD', false)
    expect(tf.getBackend()).toBe('webgpu')
  })

  describe('against PyTorch 1.13', () => {
    beforeAll(() => tf.setBackend('webgpu'))
    opsAgainstPyTorch()
  })

  /**
   * The fixtures are tiny (2–3 channels), and tfjs-backend-webgpu picks other shaders for larger shapes (vec4 loads
   * where channels divide by 4, tiled matmul convs). So every op also runs at a search cell's size (batch 2, 16×16,
   * C = 16) against the cpu backend: the output and every input gradient.
   */
  describe('at search cell sizes, against the cpu backend', () => {
    const X = [2, 16, 16, 16]
    type Op = (...inputs: tf.Tensor[]) => tf.Tensor

    /** Seeded normal values: the same on every call with the same seed. */
    const normal = (size: number, seed: number): Float32Array => {
      const rng = createRng(seed)
      return Float32Array.from({ length: size }, () => rng.normal())
    }

    /** op's output and the gradients of sum(op(...)·dy) for every input on one backend, read back. */
    async function forwardBackward(
      backend: string,
      makeOp: () => { op: Op; dispose?: () => void },
      shapes: number[][]
    ): Promise<{ shape: number[]; data: number[] }[]> {
      await tf.setBackend(backend)
      const { op, dispose } = makeOp()
      const inputs = shapes.map((shape, i) => tf.tensor(normal(tf.util.sizeFromShape(shape), 100 + i), shape))
      const outputs = tf.tidy(() => {
        const y = op(...inputs)
        const dy = tf.tensor(normal(y.size, 99), y.shape)
        return [y, ...tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(op(...xs), dy)))(inputs)]
      })
      const read = await Promise.all(outputs.map(async (t) => ({ shape: t.shape, data: Array.from(await t.data()) })))
      tf.dispose([...outputs, ...inputs])
      dispose?.()
      return read
    }

    async function expectSameAsCpu(makeOp: () => { op: Op; dispose?: () => void }, shapes: number[][]) {
      const cpu = await forwardBackward('cpu', makeOp, shapes)
      const webgpu = await forwardBackward('webgpu', makeOp, shapes)
      cpu.forEach((expected, i) => {
        const what = i === 0 ? 'y' : `gradient of input ${i - 1}`
        expectValuesClose(webgpu[i]!.data, webgpu[i]!.shape, expected, what)
      })
    }

    // The binary ops' convs (3×3, 5×5, dilated 3×3 and 5×5) at both strides, and the 1×1 convs of the
    // preprocessing and of FactorizedReduce.
    const convs: [number, number, number][] = [
      [3, 1, 1],
      [5, 1, 2],
      [3, 2, 2],
      [5, 2, 4],
      [1, 1, 0]
    ]
    it.each(convs.flatMap(([k, d, p]) => ([1, 2] as const).map((stride) => [k, d, p, stride] as const)))(
      'conv2dTorch kernel %i, dilation %i, padding %i, stride %i (16 → 16 channels)',
      async (k, d, p, stride) => {
        const options: TorchConvOptions = { stride, padding: p, dilation: d as 1 | 2 }
        await expectSameAsCpu(
          () => ({ op: (x, w) => conv2dTorch(x as tf.Tensor4D, w as tf.Tensor4D, options) }),
          [X, [k, k, 16, 16]]
        )
      }
    )

    it.each([
      ['max', 1],
      ['max', 2],
      ['avg', 1],
      ['avg', 2]
    ] as const)('%s pool 3×3 stride %i', async (kind, stride) => {
      const pool = kind === 'max' ? maxPool3x3Torch : avgPool3x3Torch
      await expectSameAsCpu(() => ({ op: (x) => pool(x as tf.Tensor4D, stride) }), [X])
    })

    it.each([
      ['batchNorm, affine', false],
      ['sign(batchNorm) with the STE', true]
    ] as const)('%s (training)', async (_, withSign) => {
      await expectSameAsCpu(() => {
        const state = {
          runningMean: tf.variable(tf.zeros([16]), false),
          runningVar: tf.variable(tf.ones([16]), false)
        }
        const norm = withSign ? batchNormSignSte : batchNorm
        return {
          op: (x, gamma, beta) => norm(x as tf.Tensor4D, { ...state, gamma, beta }, true),
          dispose: () => tf.dispose([state.runningMean, state.runningVar])
        }
      }, [X, [16], [16]])
    })
  })
})
