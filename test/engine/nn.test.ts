import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  BatchNorm2d,
  BinaryConvBlock,
  Conv2d,
  FloatConvBlock,
  Linear,
  centerAndClampLatent,
  createCandidateOp,
  createReductionResidual,
  createRng,
  type Module,
  type OpName
} from '../../src/main/engine/nn'
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

interface BinaryBlockCase {
  params: { op: OpName; stride: 1 | 2; affine: boolean }
  x: Encoded
  latent: Encoded
  dy: Encoded
  y: Encoded
  dx: Encoded
  dlatent: Encoded
  runningMean: Encoded
  runningVar: Encoded
  gamma?: Encoded
  beta?: Encoded
  dgamma?: Encoded
  dbeta?: Encoded
}

interface MixedEdgeCase {
  params: { stride: 1 | 2; ops: OpName[] }
  alpha: Encoded
  x: Encoded
  dy: Encoded
  latents: Record<string, Encoded>
  y: Encoded
  dalpha: Encoded
  dx: Encoded
  dlatents: Record<string, Encoded>
}

interface FloatBlockCase {
  params: { kind: 'relu_conv_bn' | 'residual'; kernel: number; stride: 1 | 2; padding: number; affine: boolean }
  x: Encoded
  w: Encoded
  dy: Encoded
  y: Encoded
  dx: Encoded
  dw: Encoded
  runningMean: Encoded
  runningVar: Encoded
  b?: Encoded
  db?: Encoded
  gamma?: Encoded
  beta?: Encoded
  dgamma?: Encoded
  dbeta?: Encoded
}

const floats = loadFixture<{ cases: FloatBlockCase[] }>('float-blocks.json').cases
const blocks = loadFixture<{ cases: BinaryBlockCase[] }>('binary-ops.json').cases
const edges = loadFixture<{ cases: MixedEdgeCase[] }>('mixed-edge.json').cases
const TRAIN = { training: true }

function param(module: Module, name: string): tf.Variable {
  const found = module.namedParameters().find(([n]) => n === name)
  if (!found)
    throw new Error(
      `no parameter ${name} in ${module
        .namedParameters()
        .map(([n]) => n)
        .join(', ')}`
    )
  return found[1]
}

function buffer(module: Module, name: string): tf.Variable {
  const found = module.namedBuffers().find(([n]) => n === name)
  if (!found) throw new Error(`no buffer ${name}`)
  return found[1]
}

beforeAll(loadTestBackends)

describe.each(BACKENDS)('nn modules against PyTorch 1.13 on %s', (backend) => {
  beforeAll(() => useBackend(backend))

  it.each(blocks.map((c) => [`${c.params.op} stride ${c.params.stride} affine ${c.params.affine}`, c] as const))(
    'candidate %s: output, input gradient, XNOR latent gradient, BN state',
    (_, c) => {
      const op = createCandidateOp(c.params.op, c.x.shape[3], c.params.stride, {
        affine: c.params.affine,
        searchPhase: false,
        rng: createRng(1)
      })
      const latent = param(op, 'op.0.weight')
      latent.assign(toTensor(c.latent))
      if (c.gamma && c.beta) {
        param(op, 'bn.weight').assign(toTensor(c.gamma))
        param(op, 'bn.bias').assign(toTensor(c.beta))
      }
      const x = tf.variable(toTensor4d(c.x))
      const dy = toTensor(c.dy)
      let y: tf.Tensor | undefined
      const { grads } = tf.variableGrads(
        () => {
          const out = op.forward(x as unknown as tf.Tensor4D, TRAIN)
          y = tf.keep(out.clone())
          return tf.sum(tf.mul(out, dy)) as tf.Scalar
        },
        op.parameters().concat([x])
      )
      expectClose(y!, c.y, 'y')
      expectClose(grads[x.name], c.dx, 'dx')
      expectClose(grads[latent.name], c.dlatent, 'd latent (XNOR transform)')
      if (c.dgamma && c.dbeta) {
        expectClose(grads[param(op, 'bn.weight').name], c.dgamma, 'dγ')
        expectClose(grads[param(op, 'bn.bias').name], c.dbeta, 'dβ')
      }
      // variableGrads ran the forward once, so the running statistics saw exactly one update, as in the reference.
      expectClose(buffer(op, 'bn.running_mean'), c.runningMean, 'running mean')
      expectClose(buffer(op, 'bn.running_var'), c.runningVar, 'running var')
      tf.dispose([x, dy, y!, ...Object.values(grads)])
      op.dispose()
    }
  )

  it.each(
    floats.map((c) => [`${c.params.kind} ${c.params.kernel}×${c.params.kernel} stride ${c.params.stride}`, c] as const)
  )('float block %s (search preprocess / stem / reduction residual)', (_, c) => {
    const [, , , cin] = c.x.shape
    const cout = c.w.shape[3]
    const { kernel, stride, padding, affine } = c.params
    const rng = createRng(4)
    const block: Module =
      c.params.kind === 'residual'
        ? createReductionResidual(cin, cout, { rng })
        : new FloatConvBlock(cin, cout, kernel, { stride, padding, affine, rng })
    const prefix = c.params.kind === 'residual' ? { bn: '0', conv: '1' } : { bn: 'bn', conv: 'op.0' }
    param(block, `${prefix.conv}.weight`).assign(toTensor(c.w))
    if (c.b) param(block, `${prefix.conv}.bias`).assign(toTensor(c.b))
    if (c.gamma && c.beta) {
      param(block, `${prefix.bn}.weight`).assign(toTensor(c.gamma))
      param(block, `${prefix.bn}.bias`).assign(toTensor(c.beta))
    }
    const x = tf.variable(toTensor4d(c.x))
    const dy = toTensor(c.dy)
    let y: tf.Tensor | undefined
    const { grads } = tf.variableGrads(
      () => {
        const out = block.forward(x as unknown as tf.Tensor4D, TRAIN)
        y = tf.keep(out.clone())
        return tf.sum(tf.mul(out, dy)) as tf.Scalar
      },
      block.parameters().concat([x])
    )
    expectClose(y!, c.y, 'y')
    expectClose(grads[x.name], c.dx, 'dx')
    expectClose(grads[param(block, `${prefix.conv}.weight`).name], c.dw, 'dw')
    if (c.db) expectClose(grads[param(block, `${prefix.conv}.bias`).name], c.db, 'db')
    if (c.dgamma && c.dbeta) {
      expectClose(grads[param(block, `${prefix.bn}.weight`).name], c.dgamma, 'dγ')
      expectClose(grads[param(block, `${prefix.bn}.bias`).name], c.dbeta, 'dβ')
    }
    expectClose(buffer(block, `${prefix.bn}.running_mean`), c.runningMean, 'running mean')
    expectClose(buffer(block, `${prefix.bn}.running_var`), c.runningVar, 'running var')
    tf.dispose([x, dy, y!, ...Object.values(grads)])
    block.dispose()
  })

  it.each(edges.map((c) => [c.params.stride, c] as const))(
    'mixed edge Σ softmax(α)·op(x) at stride %i: output and gradients for α, x and every latent weight',
    (_, c) => {
      const channels = c.x.shape[3]
      const ops = c.params.ops.map((name) =>
        createCandidateOp(name, channels, c.params.stride, { affine: false, searchPhase: true, rng: createRng(2) })
      )
      c.params.ops.forEach((name, i) => {
        if (c.latents[name]) param(ops[i], 'op.0.weight').assign(toTensor(c.latents[name]))
      })
      const alpha = tf.variable(toTensor(c.alpha))
      const x = tf.variable(toTensor4d(c.x))
      const dy = toTensor(c.dy)
      let y: tf.Tensor | undefined
      const latents = ops.flatMap((op) => op.binaryWeights())
      const { grads } = tf.variableGrads(() => {
        const weights = tf.unstack(tf.softmax(alpha))
        const outs = ops.map((op, i) => tf.mul(op.forward(x as unknown as tf.Tensor4D, TRAIN), weights[i]))
        const out = tf.addN(outs)
        y = tf.keep(out.clone())
        return tf.sum(tf.mul(out, dy)) as tf.Scalar
      }, [alpha, x, ...latents])
      expectClose(y!, c.y, 'y')
      expectClose(grads[alpha.name], c.dalpha, 'dα')
      expectClose(grads[x.name], c.dx, 'dx')
      c.params.ops.forEach((name, i) => {
        if (c.dlatents[name]) expectClose(grads[ops[i].binaryWeights()[0].name], c.dlatents[name], `d latent ${name}`)
      })
      tf.dispose([alpha, x, dy, y!, ...Object.values(grads)])
      ops.forEach((op) => op.dispose())
    }
  )

  it('training steps leak no tensors and no backend memory (every candidate, stride 1 and 2)', () => {
    const rng = createRng(3)
    const ops = (
      [
        'none',
        'max_pool_3x3',
        'avg_pool_3x3',
        'bin_dil_conv_3x3',
        'bin_dil_conv_5x5',
        'bin_conv_3x3',
        'bin_conv_5x5'
      ] as const
    ).flatMap((name) =>
      [1, 2].map((stride) => createCandidateOp(name, 3, stride as 1 | 2, { affine: true, searchPhase: true, rng }))
    )
    const x = tf.variable(tf.randomNormal([2, 7, 7, 3], 0, 1, 'float32', 4))
    const step = (): void => {
      for (const op of ops) {
        op.binaryWeights().forEach(centerAndClampLatent)
        const vars = [x, ...op.parameters()]
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(op.forward(x as unknown as tf.Tensor4D, TRAIN))) as tf.Scalar,
          vars
        )
        tf.dispose([value, ...Object.values(grads)])
        tf.tidy(() => {
          op.forward(x as unknown as tf.Tensor4D, { training: false })
        })
      }
    }
    step()
    const before = tf.memory()
    // The backend's own buffer count also sees temporaries that kernels allocate internally (the wasm training
    // kernels call other kernels directly), which the engine's tensor count cannot.
    const buffersBefore = tf.backend().numDataIds()
    for (let i = 0; i < 3; i++) step()
    const after = tf.memory()
    expect(after.numTensors).toBe(before.numTensors)
    expect(after.numBytes).toBe(before.numBytes)
    expect(tf.backend().numDataIds()).toBe(buffersBefore)
    x.dispose()
    ops.forEach((op) => op.dispose())
  })
})

describe('module API', () => {
  beforeAll(() => useBackend('cpu'))

  it('names parameters and buffers like the authors PyTorch modules, in registration order', () => {
    const rng = createRng(5)
    const block = new BinaryConvBlock(4, 6, 3, { padding: 1, affine: true, rng })
    expect(block.namedParameters().map(([n]) => n)).toEqual(['bn.weight', 'bn.bias', 'op.0.weight'])
    expect(block.namedBuffers().map(([n]) => n)).toEqual(['bn.running_mean', 'bn.running_var'])
    expect(block.binaryWeights()).toEqual([param(block, 'op.0.weight')])
    expect(block.parameterCount()).toBe(4 + 4 + 3 * 3 * 4 * 6)

    const float = new FloatConvBlock(3, 8, 3, { padding: 1, affine: false, rng })
    expect(float.namedParameters('preprocess0').map(([n]) => n)).toEqual(['preprocess0.op.0.weight'])
    expect(float.binaryWeights()).toEqual([])

    const res = createReductionResidual(8, 16, { rng })
    expect(res.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ['0.weight', [8]],
      ['0.bias', [8]],
      ['1.weight', [2, 2, 8, 16]],
      ['1.bias', [16]]
    ])
    expect(res.binaryWeights()).toEqual([])

    const pool = createCandidateOp('avg_pool_3x3', 4, 1, { affine: false, searchPhase: true, rng })
    expect(pool.namedParameters()).toEqual([])
    expect(pool.namedBuffers().map(([n]) => n)).toEqual(['1.running_mean', '1.running_var'])
    expect(createCandidateOp('max_pool_3x3', 4, 1, { affine: true, searchPhase: false, rng }).namedBuffers()).toEqual(
      []
    )
    ;[block, float, res, pool].forEach((m) => m.dispose())
  })

  it('initialises like PyTorch defaults, deterministically from the seed', () => {
    const a = new Conv2d(5, 7, 3, { bias: true, rng: createRng(42) })
    const b = new Conv2d(5, 7, 3, { bias: true, rng: createRng(42) })
    const c = new Conv2d(5, 7, 3, { bias: true, rng: createRng(43) })
    const bound = 1 / Math.sqrt(5 * 9)
    const w = a.weight.dataSync()
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound)
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound)
    expect(Math.max(...a.bias!.dataSync().map(Math.abs))).toBeLessThanOrEqual(bound)
    expect(Array.from(b.weight.dataSync())).toEqual(Array.from(w))
    expect(Array.from(c.weight.dataSync())).not.toEqual(Array.from(w))
    const bn = new BatchNorm2d(3, { affine: true })
    expect(bn.namedParameters().map(([, v]) => Array.from(v.dataSync()))).toEqual([
      [1, 1, 1],
      [0, 0, 0]
    ])
    const linear = new Linear(6, 4, { rng: createRng(1) })
    expect(Math.max(...linear.weight.dataSync().map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(6))
    ;[a, b, c, bn, linear].forEach((m) => m.dispose())
  })

  it('Linear computes x·W + b, in 2-D and on pooled [N, 1, 1, C] features', () => {
    const linear = new Linear(3, 2, { rng: createRng(1) })
    linear.weight.assign(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]))
    linear.bias.assign(tf.tensor1d([0.5, -0.5]))
    tf.tidy(() => {
      expect(Array.from(linear.forward2d(tf.tensor2d([1, 0, -1], [1, 3])).dataSync())).toEqual([-3.5, -4.5])
      const y = linear.forward(tf.tensor4d([1, 0, -1], [1, 1, 1, 3]), TRAIN)
      expect(y.shape).toEqual([1, 1, 1, 2])
    })
    linear.dispose()
  })

  it('eval mode normalises with the running statistics and leaves them unchanged', () => {
    const bn = new BatchNorm2d(2, { affine: false })
    buffer(bn, 'running_mean').assign(tf.tensor1d([1, -1]))
    buffer(bn, 'running_var').assign(tf.tensor1d([4, 0.25]))
    tf.tidy(() => {
      const y = bn.forward(tf.tensor4d([3, 0], [1, 1, 1, 2]), { training: false })
      expectClose(y, { shape: [1, 1, 1, 2], data: [2 / Math.sqrt(4 + 1e-5), 1 / Math.sqrt(0.25 + 1e-5)] }, 'eval BN')
    })
    expect(Array.from(buffer(bn, 'running_mean').dataSync())).toEqual([1, -1])
    bn.dispose()
  })

  it('createRng: reproducible uniform and normal streams', () => {
    const r1 = createRng(7)
    const r2 = createRng(7)
    const u = Array.from({ length: 1000 }, () => r1.next())
    expect(u).toEqual(Array.from({ length: 1000 }, () => r2.next()))
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...u)).toBeLessThan(1)
    const n = createRng(8).normalArray(4000)
    const mean = n.reduce((s, v) => s + v, 0) / n.length
    const variance = n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length
    expect(Math.abs(mean)).toBeLessThan(0.06)
    expect(Math.abs(variance - 1)).toBeLessThan(0.1)
  })
})
