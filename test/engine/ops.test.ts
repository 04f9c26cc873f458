import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  avgPool3x3Torch,
  batchNorm,
  binarizeWeight,
  centerAndClampLatent,
  conv2dTorch,
  maxPool3x3Torch,
  signSte,
  zeroise
} from '../../src/main/engine/ops'
import {
  BACKENDS,
  expectClose,
  loadFixture,
  loadTestBackends,
  toTensor,
  toTensor4d,
  useBackend,
  type Encoded
} from './ops-fixtures'

type Pair = { x: Encoded; dy: Encoded; y: Encoded; dx: Encoded }
interface ConvCase extends Pair {
  params: { kernel: number; stride: 1 | 2; padding: number; dilation: 1 | 2; bias: boolean }
  w: Encoded
  dw: Encoded
  b?: Encoded
  db?: Encoded
}
interface PoolCase extends Pair {
  params: { kind: 'max' | 'avg'; stride: 1 | 2 }
}
interface BinarizeCase {
  latent: Encoded
  dy: Encoded
  binary: Encoded
  grad: Encoded
}
interface BatchNormCase extends Pair {
  params: { affine: boolean }
  runningMean: Encoded
  runningVar: Encoded
  xEval: Encoded
  yEval: Encoded
  gamma?: Encoded
  beta?: Encoded
  dgamma?: Encoded
  dbeta?: Encoded
}

const sign = loadFixture<{ sign: Pair }>('sign-ste.json').sign
const binarize = loadFixture<{ centerClamp: { raw: Encoded; latent: Encoded }; cases: BinarizeCase[] }>('binarize.json')
const convs = loadFixture<{ cases: ConvCase[] }>('conv.json').cases
const pools = loadFixture<{ cases: PoolCase[] }>('pool.json').cases
const norms = loadFixture<{ cases: BatchNormCase[] }>('batchnorm.json').cases

/** The vector-Jacobian product of f at the inputs against the upstream gradient dy: grad of sum(f(...)·dy). */
function vjp(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  dy: tf.Tensor
): { y: tf.Tensor; grads: tf.Tensor[] } {
  const y = f(...inputs)
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), dy)))(inputs)
  return { y, grads }
}

beforeAll(loadTestBackends)

describe.each(BACKENDS)('ops against PyTorch 1.13 on %s', (backend) => {
  beforeAll(() => useBackend(backend))

  it('signSte: sign(0) = 0, gradient passes only where |x| < 1', () => {
    tf.tidy(() => {
      const { y, grads } = vjp((x) => signSte(x), [toTensor(sign.x)], toTensor(sign.dy))
      expectClose(y, sign.y, 'sign')
      expectClose(grads[0], sign.dx, 'd sign')
      // Boundary elements written by the script (NCHW positions 0..4 of channel 0, i.e. NHWC 0, 3, 6, 9, 12 with 3
      // channels): 0, 1, −1, 0.999, −0.999. sign(0) = 0, and the STE blocks |x| == 1 but passes |x| = 0.999.
      const ys = y.dataSync()
      const gs = grads[0].dataSync()
      const dys = toTensor(sign.dy).dataSync()
      const at = [0, 3, 6, 9, 12]
      expect(at.map((i) => ys[i])).toEqual([0, 1, -1, 1, -1])
      expect(at.map((i) => gs[i])).toEqual([dys[0], 0, 0, dys[9], dys[12]])
    })
  })

  it('centerAndClampLatent: mean over C_in removed, then clamped to [−1, 1]', () => {
    const w = tf.variable(toTensor(binarize.centerClamp.raw))
    centerAndClampLatent(w)
    expectClose(w, binarize.centerClamp.latent, 'centred latent')
    w.dispose()
  })

  it.each(binarize.cases.map((c, i) => [i, c] as const))(
    'binarizeWeight + XNOR gradient transform, case %i',
    (_, c) => {
      tf.tidy(() => {
        const { y, grads } = vjp((w) => binarizeWeight(w as tf.Tensor4D), [toTensor4d(c.latent)], toTensor(c.dy))
        expectClose(y, c.binary, 'sign(W)·α')
        expectClose(grads[0], c.grad, 'updateBinaryGradWeight')
      })
    }
  )

  it.each(convs.map((c) => [describeConv(c), c] as const))('conv2dTorch %s', (_, c) => {
    tf.tidy(() => {
      const { kernel: _k, bias: _b, ...geometry } = c.params
      const inputs = [toTensor4d(c.x), toTensor4d(c.w), ...(c.b ? [toTensor(c.b)] : [])]
      const f = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
        const y = conv2dTorch(x as tf.Tensor4D, w as tf.Tensor4D, geometry)
        return b ? tf.add(y, b) : y
      }
      const { y, grads } = vjp(f, inputs, toTensor(c.dy))
      expectClose(y, c.y, 'y')
      expectClose(grads[0], c.dx, 'dx')
      expectClose(grads[1], c.dw, 'dw')
      if (c.db) expectClose(grads[2], c.db, 'db')
      if (geometry.padding > 0 && geometry.dilation === 1) {
        // cpu and wasm hand the padding to the kernel; the pad-first path (taken on backends such as tfjs-node, whose
        // filter-gradient kernel has no explicit padding) must agree too.
        const other = { ...geometry, explicitPadding: false }
        const g = (x: tf.Tensor, w: tf.Tensor): tf.Tensor => conv2dTorch(x as tf.Tensor4D, w as tf.Tensor4D, other)
        const alt = vjp(g, inputs.slice(0, 2), toTensor(c.dy))
        expectClose(c.b ? tf.add(alt.y, inputs[2]) : alt.y, c.y, 'y (other padding path)')
        expectClose(alt.grads[0], c.dx, 'dx (other padding path)')
        expectClose(alt.grads[1], c.dw, 'dw (other padding path)')
      }
    })
  })

  it.each(pools.map((c) => [`${c.params.kind} stride ${c.params.stride} on ${c.x.shape.join('×')}`, c] as const))(
    '%s pool 3×3',
    (_, c) => {
      tf.tidy(() => {
        const pool = c.params.kind === 'max' ? maxPool3x3Torch : avgPool3x3Torch
        const { y, grads } = vjp((x) => pool(x as tf.Tensor4D, c.params.stride), [toTensor4d(c.x)], toTensor(c.dy))
        expectClose(y, c.y, 'y')
        expectClose(grads[0], c.dx, 'dx')
      })
    }
  )

  it.each(norms.map((c) => [c.params.affine ? 'affine' : 'not affine', c] as const))('batchNorm (%s)', (_, c) => {
    const runningMean = tf.variable(tf.zeros([c.x.shape[3]]), false)
    const runningVar = tf.variable(tf.ones([c.x.shape[3]]), false)
    tf.tidy(() => {
      const gamma = c.gamma ? toTensor(c.gamma) : undefined
      const beta = c.beta ? toTensor(c.beta) : undefined
      const params = gamma && beta ? [gamma, beta] : []
      // Only the first call updates the running statistics; the gradient pass runs on a throwaway state.
      const y = batchNorm(toTensor4d(c.x), { runningMean, runningVar, gamma, beta }, true)
      expectClose(y, c.y, 'y (training)')
      expectClose(runningMean, c.runningMean, 'running mean')
      expectClose(runningVar, c.runningVar, 'running var (unbiased)')
      expectClose(batchNorm(toTensor4d(c.xEval), { runningMean, runningVar, gamma, beta }, false), c.yEval, 'eval')

      const scratch = {
        runningMean: tf.variable(tf.zeros([c.x.shape[3]]), false),
        runningVar: tf.variable(tf.ones([c.x.shape[3]]), false)
      }
      const f = (x: tf.Tensor, g?: tf.Tensor, b?: tf.Tensor): tf.Tensor =>
        batchNorm(x as tf.Tensor4D, { ...scratch, gamma: g, beta: b }, true)
      const { grads } = vjp(f, [toTensor4d(c.x), ...params], toTensor(c.dy))
      expectClose(grads[0], c.dx, 'dx')
      if (c.dgamma && c.dbeta) {
        expectClose(grads[1], c.dgamma, 'dγ')
        expectClose(grads[2], c.dbeta, 'dβ')
      }
      scratch.runningMean.dispose()
      scratch.runningVar.dispose()
    })
    runningMean.dispose()
    runningVar.dispose()
  })

  it('max pool gradient on ties goes to the first maximum of each window in row-major order, as PyTorch', () => {
    tf.tidy(() => {
      // All-zero input (what ReLU outputs often are): every window is a tie. PyTorch (CPU kernel: `val > maxval`)
      // gives each output's gradient to the window's first in-image element.
      const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D
      const dx1 = tf.grad((t: tf.Tensor) => tf.sum(maxPool3x3Torch(t as tf.Tensor4D, 1)))(x)
      // Window of output (i, j) starts at (max(i−1, 0), max(j−1, 0)); expected values printed by PyTorch 1.13.
      expect(Array.from(dx1.dataSync())).toEqual([4, 2, 2, 0, 2, 1, 1, 0, 2, 1, 1, 0, 0, 0, 0, 0])
      const dx2 = tf.grad((t: tf.Tensor) => tf.sum(maxPool3x3Torch(t as tf.Tensor4D, 2)))(x)
      expect(Array.from(dx2.dataSync())).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    })
  })

  it('zeroise: zeros of the strided shape, zero gradient, NaN propagates like x.mul(0.)', () => {
    tf.tidy(() => {
      const x = tf.tensor4d(
        Array.from({ length: 2 * 7 * 7 * 3 }, (_, i) => i - 40),
        [2, 7, 7, 3]
      )
      expect(zeroise(x, 1).shape).toEqual([2, 7, 7, 3])
      expect(zeroise(x, 2).shape).toEqual([2, 4, 4, 3])
      expect(tf.max(tf.abs(zeroise(x, 2))).dataSync()[0]).toBe(0)
      const dx = tf.grad((t: tf.Tensor) => tf.sum(zeroise(t as tf.Tensor4D, 2)))(x)
      expect(tf.max(tf.abs(dx)).dataSync()[0]).toBe(0)
      expect(Number.isNaN(zeroise(tf.fill([1, 1, 1, 1], NaN) as tf.Tensor4D, 1).dataSync()[0])).toBe(true)
    })
  })
})

describe('binarizeWeight STE option', () => {
  beforeAll(() => useBackend('cpu'))

  it('passes the gradient unchanged where |W| ≤ 1 and blocks it outside', () => {
    tf.tidy(() => {
      const w = tf.tensor4d([0.5, -0.25, 1, -1.5, 0, 2], [1, 1, 3, 2])
      const dy = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 3, 2])
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(binarizeWeight(t as tf.Tensor4D, { gradient: 'ste' }), dy)))(w)
      expect(Array.from(g.dataSync())).toEqual([1, 2, 3, 0, 5, 0])
      // Same forward as the default: sign(W)·α with α per output channel (columns): α0 = 1.5/3·... checked numerically.
      const yDefault = binarizeWeight(w).dataSync()
      const ySte = binarizeWeight(w, { gradient: 'ste' }).dataSync()
      expect(Array.from(ySte)).toEqual(Array.from(yDefault))
    })
  })
})

function describeConv(c: ConvCase): string {
  const { kernel, stride, padding, dilation, bias } = c.params
  return `${kernel}×${kernel} stride ${stride} pad ${padding} dil ${dilation}${bias ? ' +bias' : ''} on ${c.x.shape.join('×')}`
}
