import * as tf from '@tensorflow/tfjs-core'
import type { GenotypeOf, OpName } from '../../../shared/genotype'
import {
  BinaryConvBlock,
  createCandidateOp,
  createReductionResidual,
  Module,
  type ForwardContext,
  type Rng
} from '../nn'
import type { WeightGradientMode } from '../ops'
import { dropPath } from './drop-path'
import { CELL_MULTIPLIER, checkReductionInput, type CellPlan } from './macro'
import { ModuleList } from './search-cell'
import { joinName, traceModule, type LayerRecord, type Shape3 } from './trace'

export type Macro = 'cifar' | 'imagenet'

/** What a final cell's forward pass needs besides its inputs. */
export interface FinalForwardContext extends ForwardContext {
  /** Drop-path probability, applied to every op output in training only. */
  dropPathProb: number
  rng: Rng
}

/** Builds an edge's op; FinalCell's default is the BNAS candidate op (the baselines pass DARTS' binarized ops). */
export type CellOpFactory = (name: string, channels: number, stride: 1 | 2) => Module

export interface FinalCellOptions {
  macro: Macro
  rng: Rng
  weightGradient?: WeightGradientMode
  createOp?: CellOpFactory
  /** Ops whose output drop-path leaves alone (DARTS' identity skip); none by default, as the authors' code. */
  keepsPath?: (op: Module) => boolean
}

/**
 * A cell of a final network (`Cell` of model.py / model_imagenet.py): BINARY preprocessing (BN → sign → binarized conv →
 * ReLU), node i = op_a(state_a) + op_b(state_b) from the genotype, concat of the genotype's nodes, inter-cell skip as in
 * the search cell. Every edge's module exists even when its op is Zeroise, exactly as the authors build `_ops`, so the
 * module tree (and the parameter count) is theirs.
 */
export class FinalCell extends Module {
  readonly plan: CellPlan
  readonly preprocess0: BinaryConvBlock
  readonly preprocess1: BinaryConvBlock
  readonly preprocessRes?: Module
  readonly ops: Module[]
  readonly indices: number[]
  readonly concat: number[]
  private readonly keepsPath?: (op: Module) => boolean

  constructor(genotype: GenotypeOf<string>, plan: CellPlan, opts: FinalCellOptions) {
    super()
    this.plan = plan
    const { cPrevPrev, cPrev, channels: c, reduction, reductionPrev } = plan
    const { rng, weightGradient } = opts
    this.keepsPath = opts.keepsPath
    const createOp: CellOpFactory =
      opts.createOp ??
      ((name, channels, stride) =>
        createCandidateOp(name as OpName, channels, stride, { affine: true, searchPhase: false, rng, weightGradient }))
    const imagenet = opts.macro === 'imagenet'
    // ImageNet cells name their reduction preprocessing '*_red' (model_imagenet.py); CIFAR's stride-2 preprocess0 is
    // the one BN with affine=False of a final network.
    const suffix = imagenet && reduction ? '_red' : ''
    this.preprocess0 = this.registerModule(
      `preprocess0${suffix}`,
      reductionPrev
        ? new BinaryConvBlock(cPrevPrev, c, 3, { stride: 2, padding: 1, affine: imagenet, rng, weightGradient })
        : new BinaryConvBlock(cPrevPrev, c, 1, { affine: true, rng, weightGradient })
    )
    this.preprocess1 = this.registerModule(
      `preprocess1${suffix}`,
      new BinaryConvBlock(cPrev, c, 1, { affine: true, rng, weightGradient })
    )
    if (reduction) {
      this.preprocessRes = this.registerModule(
        'preprocess_res',
        createReductionResidual(cPrev, CELL_MULTIPLIER * c, { rng })
      )
    }
    const edges = reduction ? genotype.reduce : genotype.normal
    this.concat = [...(reduction ? genotype.reduceConcat : genotype.normalConcat)]
    const list = this.registerModule('_ops', new ModuleList())
    this.indices = edges.map(([, input]) => input)
    this.ops = edges.map(([name, input], i) => list.add(String(i), createOp(name, c, reduction && input < 2 ? 2 : 1)))
  }

  forward(): tf.Tensor4D {
    throw new Error('a cell takes two inputs: call forwardCell(s0, s1, ctx)')
  }

  forwardCell(s0: tf.Tensor4D, s1: tf.Tensor4D, ctx: FinalForwardContext): tf.Tensor4D {
    checkReductionInput(this.plan, s1.shape)
    return tf.tidy(() => {
      const states = [this.preprocess0.forward(s0, ctx), this.preprocess1.forward(s1, ctx)]
      const drop = ctx.training && ctx.dropPathProb > 0
      for (let node = 0; node < this.ops.length / 2; node++) {
        const [a, b] = [2 * node, 2 * node + 1].map((i) => {
          const op = this.ops[i]
          const h = op.forward(states[this.indices[i]], ctx)
          return drop && !this.keepsPath?.(op) ? dropPath(h, ctx.dropPathProb, ctx.rng) : h
        })
        states.push(tf.add(a, b))
      }
      const out = tf.concat(
        this.concat.map((i) => states[i]),
        3
      ) as tf.Tensor4D
      if (this.plan.index === 0) return out
      return tf.add(out, this.preprocessRes ? this.preprocessRes.forward(s1, ctx) : s1)
    })
  }

  trace(prefix: string, [s0, s1]: Shape3[], records: LayerRecord[]): Shape3 {
    const [name0, name1] = this.namedChildren().map(([name]) => name)
    const states = [
      traceModule(joinName(prefix, name0), this.preprocess0, s0, records),
      traceModule(joinName(prefix, name1), this.preprocess1, s1, records)
    ]
    if (this.preprocessRes) traceModule(joinName(prefix, 'preprocess_res'), this.preprocessRes, s1, records)
    for (let node = 0; node < this.ops.length / 2; node++) {
      const [a] = [2 * node, 2 * node + 1].map((i) =>
        traceModule(joinName(prefix, `_ops.${i}`), this.ops[i], states[this.indices[i]], records)
      )
      states.push(a)
    }
    const shapes = this.concat.map((i) => states[i])
    return [shapes[0][0], shapes[0][1], shapes.reduce((sum, [, , c]) => sum + c, 0)]
  }
}
