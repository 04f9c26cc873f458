import * as tf from '@tensorflow/tfjs-core'
import type { NamedTensorData } from '../../runs/checkpoint-file'

/**
 * SGD and Adam with PyTorch's exact update rules (torch.optim in 1.x), which the published hyper-parameters were
 * tuned for. tfjs's own optimizers differ in small ways (Adam's epsilon placement and default, where weight decay
 * enters), and their slot state is awkward to checkpoint. Weight decay is L2 added to the gradient, as torch does,
 * so for binary weights it lands after the XNOR gradient transform, as in the authors' code.
 */
export interface Optimizer {
  /** Applies one update; `grads` maps each variable to its gradient (variables missing a gradient are skipped). */
  step(grads: Map<tf.Variable, tf.Tensor>): void
  learningRate: number
  /** Slot tensors and counters, for checkpoints (read asynchronously: webgpu in Node has no synchronous read). */
  state(): Promise<{ tensors: NamedTensorData[]; counters: Record<string, number> }>
  loadState(tensors: NamedTensorData[], counters: Record<string, number>): void
  dispose(): void
}

interface Named {
  name: string
  variable: tf.Variable
}

async function namedData(name: string, tensor: tf.Tensor): Promise<NamedTensorData> {
  return { name, shape: tensor.shape, data: (await tensor.data()) as Float32Array }
}

export class SgdMomentum implements Optimizer {
  private readonly momentumBuffers = new Map<tf.Variable, tf.Variable>()

  constructor(
    private readonly params: Named[],
    public learningRate: number,
    /** Mutable: the one-cycle schedule cycles it per step. */
    public momentum: number,
    private readonly weightDecay: number
  ) {}

  step(grads: Map<tf.Variable, tf.Tensor>): void {
    for (const { variable } of this.params) {
      const grad = grads.get(variable)
      if (grad === undefined) continue
      tf.tidy(() => {
        const decayed = this.weightDecay === 0 ? grad : tf.add(grad, tf.mul(variable, this.weightDecay))
        let direction = decayed
        if (this.momentum !== 0) {
          const buffer = this.momentumBuffers.get(variable)
          if (buffer === undefined) {
            // torch starts the buffer as a copy of the first gradient (dampening 0).
            this.momentumBuffers.set(variable, tf.variable(decayed, false))
          } else {
            buffer.assign(tf.add(tf.mul(buffer, this.momentum), decayed))
            direction = buffer
          }
        }
        variable.assign(tf.sub(variable, tf.mul(direction, this.learningRate)))
      })
    }
  }

  /** Momentum buffers and counters for a checkpoint, read asynchronously (see snapshotVariables). */
  async state(): Promise<{ tensors: NamedTensorData[]; counters: Record<string, number> }> {
    const tensors = await Promise.all(
      this.params.flatMap(({ name, variable }) => {
        const buffer = this.momentumBuffers.get(variable)
        return buffer === undefined ? [] : [namedData(`sgd.momentum.${name}`, buffer)]
      })
    )
    return { tensors, counters: { learningRate: this.learningRate } }
  }

  loadState(tensors: NamedTensorData[], counters: Record<string, number>): void {
    const byName = new Map(tensors.map((t) => [t.name, t]))
    for (const { name, variable } of this.params) {
      const saved = byName.get(`sgd.momentum.${name}`)
      if (saved === undefined) continue
      this.momentumBuffers.get(variable)?.dispose()
      this.momentumBuffers.set(variable, tf.variable(tf.tensor(saved.data, saved.shape), false))
    }
    if (counters.learningRate !== undefined) this.learningRate = counters.learningRate
  }

  dispose(): void {
    for (const buffer of this.momentumBuffers.values()) buffer.dispose()
    this.momentumBuffers.clear()
  }
}

export class Adam implements Optimizer {
  private readonly moments = new Map<tf.Variable, { m: tf.Variable; v: tf.Variable }>()
  private steps = 0

  constructor(
    private readonly params: Named[],
    public learningRate: number,
    private readonly beta1: number,
    private readonly beta2: number,
    private readonly weightDecay: number,
    private readonly epsilon = 1e-8
  ) {}

  step(grads: Map<tf.Variable, tf.Tensor>): void {
    this.steps += 1
    const correction1 = 1 - this.beta1 ** this.steps
    const correction2 = 1 - this.beta2 ** this.steps
    for (const { variable } of this.params) {
      const grad = grads.get(variable)
      if (grad === undefined) continue
      tf.tidy(() => {
        const g = this.weightDecay === 0 ? grad : tf.add(grad, tf.mul(variable, this.weightDecay))
        let slot = this.moments.get(variable)
        if (slot === undefined) {
          slot = { m: tf.variable(tf.zerosLike(variable), false), v: tf.variable(tf.zerosLike(variable), false) }
          this.moments.set(variable, slot)
        }
        slot.m.assign(tf.add(tf.mul(slot.m, this.beta1), tf.mul(g, 1 - this.beta1)))
        slot.v.assign(tf.add(tf.mul(slot.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)))
        // torch: denom = sqrt(v) / sqrt(c2) + eps; p -= (lr / c1) * m / denom
        const denominator = tf.add(tf.div(tf.sqrt(slot.v), Math.sqrt(correction2)), this.epsilon)
        variable.assign(tf.sub(variable, tf.mul(tf.div(slot.m, denominator), this.learningRate / correction1)))
      })
    }
  }

  /** Moments and counters for a checkpoint, read asynchronously (see snapshotVariables). */
  async state(): Promise<{ tensors: NamedTensorData[]; counters: Record<string, number> }> {
    const tensors = await Promise.all(
      this.params.flatMap(({ name, variable }) => {
        const slot = this.moments.get(variable)
        if (slot === undefined) return []
        return [namedData(`adam.m.${name}`, slot.m), namedData(`adam.v.${name}`, slot.v)]
      })
    )
    return { tensors, counters: { steps: this.steps, learningRate: this.learningRate } }
  }

  loadState(tensors: NamedTensorData[], counters: Record<string, number>): void {
    const byName = new Map(tensors.map((t) => [t.name, t]))
    for (const { name, variable } of this.params) {
      const m = byName.get(`adam.m.${name}`)
      const v = byName.get(`adam.v.${name}`)
      if (m === undefined || v === undefined) continue
      const old = this.moments.get(variable)
      old?.m.dispose()
      old?.v.dispose()
      this.moments.set(variable, {
        m: tf.variable(tf.tensor(m.data, m.shape), false),
        v: tf.variable(tf.tensor(v.data, v.shape), false)
      })
    }
    this.steps = counters.steps ?? 0
    if (counters.learningRate !== undefined) this.learningRate = counters.learningRate
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose()
      v.dispose()
    }
    this.moments.clear()
  }
}
