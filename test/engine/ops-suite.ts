import * as tf from '@tensorflow/tfjs-core'
import { expect, it } from 'vitest'
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
import { expectAllClose, expectValuesClose, loadFixture, toTensor, toTensor4d, type Encoded } from './ops-fixtures'

/**
 * The PyTorch fixture checks of every op of the method, forward and backward, as one suite that any backend runs
 * (test/engine/ops.test.ts on cpu, wasm and native; test/webgpu/ops.test.ts on webgpu). Call it inside a describe
 * whose beforeAll switches to the backend. Results are read asynchronously, which every backend supports.
 */

type Pair = { x: Encoded; dy: Encoded; y: Encoded; dx: Encoded }
export interface ConvCase extends Pair {
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

/** A tensor's values, read asynchronously and disposed. */
async function valuesOf(t: tf.Tensor): Promise<number[]> {
  const values = Array.from(await t.data())
  t.dispose()
  return values
}

export function describeConv(c: ConvCase): string {
  const { kernel, stride, padding, dilation, bias } = c.params
  return `${kernel}×${kernel} stride ${stride} pad ${padding} dil ${dilation}${bias ? ' +bias' : ''} on ${c.x.shape.join('×')}`
}

export interface OpsSuiteOptions {
  /** Only the conv cases this keeps (a slow backend may run a representative subset). Default: all. */
  convCases?: (c: ConvCase) => boolean
}

export function opsAgainstPyTorch(options: OpsSuiteOptions = {}): void {
  it('signSte: sign(0) = 0, gradient passes only where |x| < 1', async () => {
    const [y, dx] = tf.tidy(() => {
      const { y, grads } = vjp((x) => signSte(x), [toTensor(sign.x)], toTensor(sign.dy))
      return [y, grads[0]]
    })
    expectValuesClose(await y.data(), y.shape, sign.y, 'sign')
    expectValuesClose(await dx.data(), dx.shape, sign.dx, 'd sign')
    const ys = await valuesOf(y)
    const gs = await valuesOf(dx)
    // Boundary elements written by the script (NCHW positions 0..4 of channel 0, i.e. NHWC 0, 3, 6, 9, 12 with 3
    // channels): 0, 1, −1, 0.999, −0.999. sign(0) = 0, and the STE blocks |x| == 1 but passes |x| = 0.999.
    const dys = await valuesOf(toTensor(sign.dy))
    const at = [0, 3, 6, 9, 12]
    expect(at.map((i) => ys[i])).toEqual([0, 1, -1, 1, -1])
    expect(at.map((i) => gs[i])).toEqual([dys[0], 0, 0, dys[9], dys[12]])
  })

  it('centerAndClampLatent: mean over C_in removed, then clamped to [−1, 1]', async () => {
    const w = tf.variable(toTensor(binarize.centerClamp.raw))
    centerAndClampLatent(w)
    await expectAllClose(() => [[w, binarize.centerClamp.latent, 'centred latent']])
  })

  it.each(binarize.cases.map((c, i) => [i, c] as const))(
    'binarizeWeight + XNOR gradient transform, case %i',
    async (_, c) => {
      await expectAllClose(() => {
        const { y, grads } = vjp((w) => binarizeWeight(w as tf.Tensor4D), [toTensor4d(c.latent)], toTensor(c.dy))
        return [
          [y, c.binary, 'sign(W)·α'],
          [grads[0], c.grad, 'updateBinaryGradWeight']
        ]
      })
    }
  )

  const convCases = convs.filter(options.convCases ?? (() => true))
  it.each(convCases.map((c) => [describeConv(c), c] as const))('conv2dTorch %s', async (_, c) => {
    await expectAllClose(() => {
      const { kernel: _k, bias: _b, ...geometry } = c.params
      const inputs = [toTensor4d(c.x), toTensor4d(c.w), ...(c.b ? [toTensor(c.b)] : [])]
      // A padded dense conv has two paths: padding handed to the kernel (cpu, wasm, native) or the input padded
      // first (backends such as tfjs-node, whose filter-gradient kernel has no explicit padding). Both are checked
      // everywhere, whichever is the backend's default.
      const paths: { explicitPadding?: boolean }[] =
        geometry.padding > 0 && geometry.dilation === 1 ? [{ explicitPadding: true }, { explicitPadding: false }] : [{}]
      const checks: [tf.Tensor, Encoded, string][] = []
      for (const path of paths) {
        const options = { ...geometry, ...path }
        const f = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
          const y = conv2dTorch(x as tf.Tensor4D, w as tf.Tensor4D, options)
          return b ? tf.add(y, b) : y
        }
        const { y, grads } = vjp(f, inputs, toTensor(c.dy))
        const how =
          path.explicitPadding === undefined ? '' : path.explicitPadding ? ' (explicit padding)' : ' (pad first)'
        checks.push([y, c.y, `y${how}`], [grads[0], c.dx, `dx${how}`], [grads[1], c.dw, `dw${how}`])
        if (c.db) checks.push([grads[2], c.db, `db${how}`])
      }
      return checks
    })
  })

  it.each(pools.map((c) => [`${c.params.kind} stride ${c.params.stride} on ${c.x.shape.join('×')}`, c] as const))(
    '%s pool 3×3',
    async (_, c) => {
      await expectAllClose(() => {
        const pool = c.params.kind === 'max' ? maxPool3x3Torch : avgPool3x3Torch
        const { y, grads } = vjp((x) => pool(x as tf.Tensor4D, c.params.stride), [toTensor4d(c.x)], toTensor(c.dy))
        return [
          [y, c.y, 'y'],
          [grads[0], c.dx, 'dx']
        ]
      })
    }
  )

  it.each(norms.map((c) => [c.params.affine ? 'affine' : 'not affine', c] as const))('batchNorm (%s)', async (_, c) => {
    const runningMean = tf.variable(tf.zeros([c.x.shape[3]]), false)
    const runningVar = tf.variable(tf.ones([c.x.shape[3]]), false)
    const scratch = {
      runningMean: tf.variable(tf.zeros([c.x.shape[3]]), false),
      runningVar: tf.variable(tf.ones([c.x.shape[3]]), false)
    }
    try {
      await expectAllClose(() => {
        const gamma = c.gamma ? toTensor(c.gamma) : undefined
        const beta = c.beta ? toTensor(c.beta) : undefined
        const params = gamma && beta ? [gamma, beta] : []
        // Only the first call updates the running statistics; the gradient pass runs on a throwaway state.
        const y = batchNorm(toTensor4d(c.x), { runningMean, runningVar, gamma, beta }, true)
        const checks: [tf.Tensor, Encoded, string][] = [
          [y, c.y, 'y (training)'],
          [tf.clone(runningMean), c.runningMean, 'running mean'],
          [tf.clone(runningVar), c.runningVar, 'running var (unbiased)'],
          [batchNorm(toTensor4d(c.xEval), { runningMean, runningVar, gamma, beta }, false), c.yEval, 'eval']
        ]
        const f = (x: tf.Tensor, g?: tf.Tensor, b?: tf.Tensor): tf.Tensor =>
          batchNorm(x as tf.Tensor4D, { ...scratch, gamma: g, beta: b }, true)
        const { grads } = vjp(f, [toTensor4d(c.x), ...params], toTensor(c.dy))
        checks.push([grads[0], c.dx, 'dx'])
        if (c.dgamma && c.dbeta) checks.push([grads[1], c.dgamma, 'dγ'], [grads[2], c.dbeta, 'dβ'])
        return checks
      })
    } finally {
      tf.dispose([runningMean, runningVar, scratch.runningMean, scratch.runningVar])
    }
  })

  it('max pool gradient on ties goes to the first maximum of each window in row-major order, as PyTorch', async () => {
    // All-zero input (what ReLU outputs often are): every window is a tie. PyTorch (CPU kernel: `val > maxval`)
    // gives each output's gradient to the window's first in-image element.
    const [dx1, dx2] = tf.tidy(() => {
      const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D
      return [
        tf.grad((t: tf.Tensor) => tf.sum(maxPool3x3Torch(t as tf.Tensor4D, 1)))(x),
        tf.grad((t: tf.Tensor) => tf.sum(maxPool3x3Torch(t as tf.Tensor4D, 2)))(x)
      ]
    })
    // Window of output (i, j) starts at (max(i−1, 0), max(j−1, 0)); expected values printed by PyTorch 1.13.
    expect(await valuesOf(dx1)).toEqual([4, 2, 2, 0, 2, 1, 1, 0, 2, 1, 1, 0, 0, 0, 0, 0])
    expect(await valuesOf(dx2)).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
  })

  it('zeroise: zeros of the strided shape, zero gradient, NaN propagates like x.mul(0.)', async () => {
    const [y1, y2, dx, nan] = tf.tidy(() => {
      const x = tf.tensor4d(
        Array.from({ length: 2 * 7 * 7 * 3 }, (_, i) => i - 40),
        [2, 7, 7, 3]
      )
      return [
        zeroise(x, 1),
        zeroise(x, 2),
        tf.grad((t: tf.Tensor) => tf.sum(zeroise(t as tf.Tensor4D, 2)))(x),
        zeroise(tf.fill([1, 1, 1, 1], NaN) as tf.Tensor4D, 1)
      ]
    })
    expect(y1.shape).toEqual([2, 7, 7, 3])
    expect(y2.shape).toEqual([2, 4, 4, 3])
    expect(Math.max(...(await valuesOf(y2)).map(Math.abs))).toBe(0)
    expect(Math.max(...(await valuesOf(dx)).map(Math.abs))).toBe(0)
    expect(Number.isNaN((await valuesOf(nan))[0])).toBe(true)
    y1.dispose()
  })
}
