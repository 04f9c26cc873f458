import { describe, expect, it } from 'vitest'
import {
  cosineWarmRestartsLr,
  entropyCoefficient,
  oneCycle,
  searchCosineLr
} from '../../src/main/engine/train/schedules'

describe('schedules of the method', () => {
  it('one-cycle matches the learning rates of the authors’ CIFAR training log (spec 5.2)', () => {
    const total = 600 * 196
    expect(oneCycle(0, total, 0.05).lr).toBeCloseTo(2.5e-3, 9)
    expect(oneCycle(196, total, 0.05).lr).toBeCloseTo(2.675926e-3, 9)
    expect(oneCycle(Math.floor(total * 0.45), total, 0.05)).toEqual({ lr: 0.05, momentum: 0.85 })
    expect(oneCycle(total, total, 0.05).lr).toBeCloseTo(2.5e-5, 12)
    expect(oneCycle(total - 1, total, 0.05).momentum).toBe(0.95)
  })

  it('search cosine: epoch e uses the value for e + 1 (PyTorch 1.2 stepping), ending at the minimum', () => {
    expect(searchCosineLr(0, 50, 0.025, 0.001)).toBeCloseTo(0.001 + (0.024 * (1 + Math.cos(Math.PI / 50))) / 2, 12)
    expect(searchCosineLr(49, 50, 0.025, 0.001)).toBeCloseTo(0.001, 12)
    expect(searchCosineLr(24, 50, 0.025, 0.001)).toBeCloseTo(0.013, 12)
  })

  it('warm restarts return to the maximum every period (spec 5.3: 5 cycles of 50 epochs)', () => {
    expect(cosineWarmRestartsLr(0, 50, 0.05)).toBe(0.05)
    expect(cosineWarmRestartsLr(25, 50, 0.05)).toBeCloseTo(0.025, 12)
    expect(cosineWarmRestartsLr(50, 50, 0.05)).toBe(0.05)
  })

  it('entropy coefficient decays as the spec lists, and λ = 0 turns it off', () => {
    expect(entropyCoefficient(0, 1, 7.7)).toBe(1)
    expect(entropyCoefficient(20, 1, 7.7)).toBeCloseTo(0.0745, 3)
    expect(entropyCoefficient(49, 1, 7.7)).toBeCloseTo(0.00172, 4)
    expect(entropyCoefficient(3, 0, 7.7)).toBe(0)
  })
})
