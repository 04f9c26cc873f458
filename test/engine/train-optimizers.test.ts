import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { crossEntropy } from '../../src/main/engine/train/loss'
import { Adam, SgdMomentum, type Optimizer } from '../../src/main/engine/train/optimizers'

// Reference values from PyTorch 1.13: scripts/reference/make_optimizer_fixtures.py
interface Trajectory {
  start: number[]
  grads: number[][]
  lrs: number[]
  final: number[]
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/reference/optimizers.json', import.meta.url), 'utf8')) as {
  sgd: Trajectory
  adam: Trajectory
  crossEntropy: { logits: number[]; labels: number[]; loss: number; smoothed: number }
}

beforeAll(async () => {
  await tf.setBackend('cpu')
})

function replay(
  reference: Trajectory,
  make: (params: Array<{ name: string; variable: tf.Variable }>) => Optimizer
): number[] {
  const variable = tf.variable(tf.tensor2d(reference.start, [3, 4]))
  const optimizer = make([{ name: 'p', variable }])
  reference.grads.forEach((grad, i) => {
    optimizer.learningRate = reference.lrs[i]!
    const g = tf.tensor2d(grad, [3, 4])
    optimizer.step(new Map([[variable, g]]))
    g.dispose()
  })
  const out = Array.from(variable.dataSync())
  optimizer.dispose()
  variable.dispose()
  return out
}

const close = (actual: number[], expected: number[], tolerance = 1e-5): void =>
  actual.forEach((value, i) =>
    expect(Math.abs(value - expected[i]!), `index ${i}`).toBeLessThan(tolerance * (1 + Math.abs(expected[i]!)))
  )

describe('optimizers follow torch.optim exactly', () => {
  it('SGD with momentum 0.9 and weight decay 3e-4', () => {
    close(
      replay(fixture.sgd, (p) => new SgdMomentum(p, 0.05, 0.9, 3e-4)),
      fixture.sgd.final
    )
  })

  it('Adam with betas (0.5, 0.999) and weight decay 1e-3', () => {
    close(
      replay(fixture.adam, (p) => new Adam(p, 0.05, 0.5, 0.999, 1e-3)),
      fixture.adam.final
    )
  })

  it('resumes from saved state to the same trajectory', async () => {
    const reference = fixture.adam
    const variable = tf.variable(tf.tensor2d(reference.start, [3, 4]))
    const first = new Adam([{ name: 'p', variable }], 0.05, 0.5, 0.999, 1e-3)
    const stepWith = (optimizer: Optimizer, i: number): void => {
      optimizer.learningRate = reference.lrs[i]!
      const g = tf.tensor2d(reference.grads[i]!, [3, 4])
      optimizer.step(new Map([[variable, g]]))
      g.dispose()
    }
    stepWith(first, 0)
    stepWith(first, 1)
    const saved = await first.state()
    first.dispose()
    const second = new Adam([{ name: 'p', variable }], 0.05, 0.5, 0.999, 1e-3)
    second.loadState(saved.tensors, saved.counters)
    stepWith(second, 2)
    stepWith(second, 3)
    close(Array.from(variable.dataSync()), reference.final)
    second.dispose()
    variable.dispose()
  })
})

describe('cross-entropy', () => {
  it('matches torch, with and without label smoothing', () => {
    const { logits, labels, loss, smoothed } = fixture.crossEntropy
    const l = tf.tensor2d(logits, [5, 4])
    const y = tf.tensor1d(labels, 'int32')
    expect(crossEntropy(l, y).dataSync()[0]).toBeCloseTo(loss, 5)
    expect(crossEntropy(l, y, 0.1).dataSync()[0]).toBeCloseTo(smoothed, 5)
  })
})
