import * as tf from '@tensorflow/tfjs-core'
import { OP_NAMES, ZEROISE_INDEX } from '../../../shared/genotype'
import {
  createCandidateOp,
  createReductionResidual,
  FloatConvBlock,
  Module,
  type ForwardContext,
  type Rng
} from '../nn'
import type { WeightGradientMode } from '../ops'
import { useFusedKernels } from '../ops/fused'
import { weightedSum } from '../native/mixture'
import { CELL_MULTIPLIER, checkReductionInput, type CellPlan } from './macro'
import { joinName, traceModule, type LayerRecord, type Shape3 } from './trace'

/**
 * One supernet edge (`MixedOp`): the 7 candidates side by side, mixed by the edge's softmax weights.
 * Children '0'..'6' follow OP_NAMES, so names match the authors' `_ops.<edge>._ops.<op>` state dict.
 */
export class MixedOp extends Module {
  readonly ops: Module[]

  constructor(channels: number, stride: 1 | 2, opts: { rng: Rng; weightGradient?: WeightGradientMode }) {
    super()
    const ops = new ModuleList()
    this.ops = OP_NAMES.map((name, i) =>
      ops.add(String(i), createCandidateOp(name, channels, stride, { affine: false, searchPhase: true, ...opts }))
    )
    this.registerModule('_ops', ops)
  }

  forward(): tf.Tensor4D {
    throw new Error('MixedOp needs its edge weights: call mix(x, weights, ctx)')
  }

  /** Σ_o w_o · op_o(x) with `weights` the edge's 7 softmax values (a rank-1 tensor). */
  mix(x: tf.Tensor4D, weights: tf.Tensor1D, ctx: ForwardContext): tf.Tensor4D {
    if (useFusedKernels()) return this.mixFused(x, weights, ctx)
    return tf.tidy(() => {
      const w = tf.unstack(weights)
      let sum: tf.Tensor4D | undefined
      this.ops.forEach((op, i) => {
        // Zeroise outputs exact zeros: w·0 adds nothing to the value and nothing to any gradient (its α still gets
        // gradient through the softmax of the other ops), so it is not computed.
        if (i === ZEROISE_INDEX) return
        const term = tf.mul(op.forward(x, ctx), w[i]) as tf.Tensor4D
        sum = sum ? (tf.add(sum, term) as tf.Tensor4D) : term
      })
      return sum as tf.Tensor4D
    })
  }

  /**
   * The same mixture as one native weighted-sum kernel (one pass forward, one per term backward) over the six
   * non-Zeroise ops, with the edge's weights minus Zeroise's as its weight vector.
   */
  private mixFused(x: tf.Tensor4D, weights: tf.Tensor1D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const terms: tf.Tensor[] = []
      this.ops.forEach((op, i) => {
        if (i !== ZEROISE_INDEX) terms.push(op.forward(x, ctx))
      })
      const size = weights.shape[0]
      const kept =
        ZEROISE_INDEX === 0
          ? tf.slice(weights, [1], [size - 1])
          : ZEROISE_INDEX === size - 1
            ? tf.slice(weights, [0], [size - 1])
            : tf.concat([tf.slice(weights, [0], [ZEROISE_INDEX]), tf.slice(weights, [ZEROISE_INDEX + 1])])
      // In the w step α is a constant: the mixture then keeps no term for a weight gradient nobody asks for.
      return weightedSum(terms, kept as tf.Tensor1D, {
        constantWeights: ctx.differentiate === 'weights'
      }) as tf.Tensor4D
    })
  }

  trace(prefix: string, [input]: Shape3[], records: LayerRecord[]): Shape3 {
    const shapes = this.ops.map((op, i) => traceModule(joinName(prefix, `_ops.${i}`), op, input, records))
    return shapes[0]
  }
}

/** A named list of modules, like torch's nn.ModuleList: registered (for names and parameters), not applied. */
export class ModuleList extends Module {
  add<M extends Module>(name: string, module: M): M {
    return this.registerModule(name, module)
  }

  forward(): tf.Tensor4D {
    throw new Error('a module list is not applied as a whole')
  }
}

/**
 * The supernet cell (`Cell` of model_search.py): float preprocessing (BN affine=False → conv → ReLU), 14 mixed edges
 * into 4 nodes, concat of the 4 nodes, plus the inter-cell skip (spec 3): c_{k-1} itself in normal cells,
 * R(c_{k-1}) = BN → float 2×2/s2 conv with bias in reduction cells; cell 0 has no skip.
 */
export class SearchCell extends Module {
  readonly plan: CellPlan
  readonly steps: number
  readonly preprocess0: FloatConvBlock
  readonly preprocess1: FloatConvBlock
  readonly preprocessRes?: Module
  readonly edges: MixedOp[]

  constructor(plan: CellPlan, opts: { steps: number; rng: Rng; weightGradient?: WeightGradientMode }) {
    super()
    this.plan = plan
    this.steps = opts.steps
    const { cPrevPrev, cPrev, channels: c, reduction, reductionPrev } = plan
    const { rng } = opts
    this.preprocess0 = this.registerModule(
      'preprocess0',
      reductionPrev
        ? new FloatConvBlock(cPrevPrev, c, 3, { stride: 2, padding: 1, affine: false, rng })
        : new FloatConvBlock(cPrevPrev, c, 1, { affine: false, rng })
    )
    this.preprocess1 = this.registerModule('preprocess1', new FloatConvBlock(cPrev, c, 1, { affine: false, rng }))
    if (reduction) {
      this.preprocessRes = this.registerModule(
        'preprocess_res',
        createReductionResidual(cPrev, CELL_MULTIPLIER * c, { rng })
      )
    }
    const list = this.registerModule('_ops', new ModuleList())
    this.edges = []
    for (let node = 0; node < this.steps; node++) {
      for (let input = 0; input < node + 2; input++) {
        const stride = reduction && input < 2 ? 2 : 1
        this.edges.push(list.add(String(this.edges.length), new MixedOp(c, stride, opts)))
      }
    }
  }

  forward(): tf.Tensor4D {
    throw new Error('a cell takes two inputs and its α weights: call forwardCell(s0, s1, weights, ctx)')
  }

  /** `weights`: softmax(α) of this cell type, [edges, 7]. */
  forwardCell(s0: tf.Tensor4D, s1: tf.Tensor4D, weights: tf.Tensor2D, ctx: ForwardContext): tf.Tensor4D {
    checkReductionInput(this.plan, s1.shape)
    return tf.tidy(() => {
      const rows = tf.unstack(weights) as tf.Tensor1D[]
      const fused = useFusedKernels()
      const states = [this.preprocess0.forward(s0, ctx), this.preprocess1.forward(s1, ctx)]
      let edge = 0
      for (let node = 0; node < this.steps; node++) {
        let sum: tf.Tensor4D | undefined
        const terms: tf.Tensor4D[] = []
        for (const h of states.slice(0, node + 2)) {
          const term = this.edges[edge].mix(h, rows[edge], ctx)
          edge++
          terms.push(term)
          sum = fused ? undefined : sum ? (tf.add(sum, term) as tf.Tensor4D) : term
        }
        // One AddN (no intermediate partial sums) on the native backend; the same sum in the same order.
        states.push(fused ? (tf.addN(terms) as tf.Tensor4D) : (sum as tf.Tensor4D))
      }
      const out = tf.concat(states.slice(-CELL_MULTIPLIER), 3) as tf.Tensor4D
      if (this.plan.index === 0) return out
      return tf.add(out, this.preprocessRes ? this.preprocessRes.forward(s1, ctx) : s1)
    })
  }

  trace(prefix: string, [s0, s1]: Shape3[], records: LayerRecord[]): Shape3 {
    const states = [
      traceModule(joinName(prefix, 'preprocess0'), this.preprocess0, s0, records),
      traceModule(joinName(prefix, 'preprocess1'), this.preprocess1, s1, records)
    ]
    if (this.preprocessRes) traceModule(joinName(prefix, 'preprocess_res'), this.preprocessRes, s1, records)
    let edge = 0
    for (let node = 0; node < this.steps; node++) {
      let out: Shape3 | undefined
      for (const h of states.slice(0, node + 2)) {
        out = this.edges[edge].trace(joinName(prefix, `_ops.${edge}`), [h], records)
        edge++
      }
      states.push(out as Shape3)
    }
    const [h, w, c] = states[states.length - 1]
    return [h, w, c * CELL_MULTIPLIER]
  }
}
