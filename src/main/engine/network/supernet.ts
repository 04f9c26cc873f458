import * as tf from '@tensorflow/tfjs-core'
import {
  CELL_STEPS,
  deriveGenotype,
  edgeCount,
  OP_NAMES,
  type DeriveOptions,
  type Genotype
} from '../../../shared/genotype'
import { createRng, FloatConvBlock, GlobalAvgPool, Linear, Module, type ForwardContext } from '../nn'
import type { WeightGradientMode } from '../ops'
import { checkPositiveInteger, planCells } from './macro'
import { ModuleList, SearchCell } from './search-cell'
import { joinName, traceModule, type LayerRecord, type Shape3 } from './trace'

export interface SupernetOptions {
  /** Number of cells L (8 in the paper's search); reductions at ⌊L/3⌋ and ⌊2L/3⌋. */
  cells: number
  /** Initial channels C (16 in the paper's search); the stem outputs 3C. */
  channels: number
  classes: number
  /** Input channels of the images (3 for CIFAR; 1 for MNIST-like data). Default 3. */
  inputChannels?: number
  /** Seeds every initialisation, α included. */
  seed: number
  weightGradient?: WeightGradientMode
}

/**
 * The search network (`Network` of model_search.py): stem BN → float 3×3 conv (→ 3C) → ReLU, L search cells,
 * global average pool, Linear. α (`alphas_normal`, `alphas_reduce`, [14, 7], 1e-3·N(0, 1)) are kept apart from the
 * module parameters, because the bilevel search updates them with their own optimizer on other data.
 */
export class Supernet extends Module {
  readonly options: Required<Omit<SupernetOptions, 'weightGradient'>>
  readonly stem: FloatConvBlock
  readonly cells: SearchCell[]
  readonly globalPooling: GlobalAvgPool
  readonly classifier: Linear
  readonly alphaNormal: tf.Variable<tf.Rank.R2>
  readonly alphaReduce: tf.Variable<tf.Rank.R2>

  constructor(options: SupernetOptions) {
    super()
    const { cells, channels, classes, seed } = options
    const inputChannels = options.inputChannels ?? 3
    checkPositiveInteger(cells, 'cells')
    checkPositiveInteger(channels, 'channels')
    checkPositiveInteger(classes, 'classes')
    checkPositiveInteger(inputChannels, 'inputChannels')
    this.options = { cells, channels, classes, inputChannels, seed }
    const rng = createRng(seed)
    const stemChannels = 3 * channels
    this.stem = this.registerModule(
      'stem',
      new FloatConvBlock(inputChannels, stemChannels, 3, { padding: 1, affine: true, rng })
    )
    const list = this.registerModule('cells', new ModuleList())
    const plan = planCells({
      cells,
      channels,
      stemPrevPrev: stemChannels,
      stemPrev: stemChannels,
      firstReductionPrev: false
    })
    this.cells = plan.map((cell) =>
      list.add(
        String(cell.index),
        new SearchCell(cell, { steps: CELL_STEPS, rng, weightGradient: options.weightGradient })
      )
    )
    this.globalPooling = this.registerModule('global_pooling', new GlobalAvgPool())
    const last = plan[plan.length - 1]
    this.classifier = this.registerModule('classifier', new Linear(4 * last.channels, classes, { rng }))
    // α last, after every weight, so changing α's init never shifts the weights drawn from the same seed.
    const shape: [number, number] = [edgeCount(CELL_STEPS), OP_NAMES.length]
    const size = shape[0] * shape[1]
    this.alphaNormal = tf.variable(tf.tensor2d(rng.normalArray(size, 1e-3), shape), true) as tf.Variable<tf.Rank.R2>
    this.alphaReduce = tf.variable(tf.tensor2d(rng.normalArray(size, 1e-3), shape), true) as tf.Variable<tf.Rank.R2>
  }

  /** The network weights w (everything but α). */
  weightParameters(): tf.Variable[] {
    return this.parameters()
  }

  /** α: [alphaNormal, alphaReduce]. */
  archParameters(): tf.Variable[] {
    return [this.alphaNormal, this.alphaReduce]
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const weightsNormal = tf.softmax(this.alphaNormal) as tf.Tensor2D
      const weightsReduce = tf.softmax(this.alphaReduce) as tf.Tensor2D
      let s0 = this.stem.forward(x, ctx)
      let s1 = s0
      for (const cell of this.cells) {
        const weights = cell.plan.reduction ? weightsReduce : weightsNormal
        ;[s0, s1] = [s1, cell.forwardCell(s0, s1, weights, ctx)]
      }
      return this.classifier.forward(this.globalPooling.forward(s1, ctx), ctx)
    })
  }

  /** Logits as [N, classes]. */
  logits(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return tf.tidy(() => tf.reshape(this.forward(x, ctx), [x.shape[0], this.options.classes]) as tf.Tensor2D)
  }

  /**
   * H̄ as a differentiable scalar: mean entropy of softmax(α) over all 28 edges (spec section 4, fixed as section 0
   * says). The search loss subtracts λ·H̄·exp(−t/τ).
   */
  meanEdgeEntropy(): tf.Scalar {
    return tf.tidy(() => {
      const alpha = tf.concat([this.alphaNormal, this.alphaReduce], 0)
      const logP = tf.logSoftmax(alpha)
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.exp(logP), logP), 1))) as tf.Scalar
    })
  }

  /** α as plain arrays (for derivation, heatmaps and run folders). */
  alphas(): { normal: number[][]; reduce: number[][] } {
    return { normal: this.alphaNormal.arraySync(), reduce: this.alphaReduce.arraySync() }
  }

  genotype(opts: DeriveOptions = {}): Genotype {
    const { normal, reduce } = this.alphas()
    return deriveGenotype(normal, reduce, opts)
  }

  /** Every leaf module with the shapes it sees for one input image of [H, W, C]. */
  trace(prefix: string, [input]: Shape3[], records: LayerRecord[] = [], blocks?: Map<string, Shape3>): Shape3 {
    let s0 = traceModule(joinName(prefix, 'stem'), this.stem, input, records)
    blocks?.set(joinName(prefix, 'stem'), s0)
    let s1 = s0
    for (const cell of this.cells) {
      const name = joinName(prefix, `cells.${cell.plan.index}`)
      ;[s0, s1] = [s1, cell.trace(name, [s0, s1], records)]
      blocks?.set(name, s1)
    }
    const pooled = traceModule(joinName(prefix, 'global_pooling'), this.globalPooling, s1, records)
    blocks?.set(joinName(prefix, 'global_pooling'), pooled)
    const out = traceModule(joinName(prefix, 'classifier'), this.classifier, pooled, records)
    blocks?.set(joinName(prefix, 'classifier'), out)
    return out
  }

  override dispose(): void {
    super.dispose()
    this.alphaNormal.dispose()
    this.alphaReduce.dispose()
  }
}
