import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { binarizeWeight } from '../../src/main/engine/ops'
import { BACKENDS, loadTestBackends, useBackend } from './ops-fixtures'
import { opsAgainstPyTorch } from './ops-suite'

beforeAll(loadTestBackends)

describe.each(BACKENDS)('ops against PyTorch 1.13 on %s', (backend) => {
  beforeAll(() => useBackend(backend))
  opsAgainstPyTorch()
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
