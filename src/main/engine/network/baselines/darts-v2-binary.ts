import * as tf from '@tensorflow/tfjs-core'
import { DARTS_V2, validateDartsGenotype, type DartsGenotype, type DartsOpName } from '../../../../shared/genotype'
import {
  AvgPool3x3,
  BinaryConvBlock,
  createRng,
  FloatConvBlock,
  GlobalAvgPool,
  Linear,
  MaxPool3x3,
  Module,
  Sequential,
  Zero,
  type ForwardContext,
  type Rng
} from '../../nn'
import type { WeightGradientMode } from '../../ops'
import { FinalCell } from '../final-cell'
import { CELL_MULTIPLIER, checkPositiveInteger, planCells, type CellPlan } from '../macro'
import { ModuleList } from '../search-cell'
import { joinName, traceModule, type LayerRecord, type Shape3, type Traceable } from '../trace'
import { BinaryDepthwiseBlock, Identity } from './layers'

/*
 * DARTS' ops (Liu et al. 2019, operations.py) and their binary counterparts here. Every conv becomes a binary layer of
 * the BNAS kind (BN → sign → XNOR-binarized conv, spec 2.1); the BNAS space has no separable convs, so DARTS' own
 * depthwise + pointwise structure is kept and both convs are binarized:
 *
 *   sep_conv_k  (ReLU, dw k×k/s, pw 1×1, BN, ReLU, dw k×k, pw 1×1, BN)
 *     → [BN, sign, binary dw k×k/s] [BN, sign, binary pw 1×1, ReLU] [BN, sign, binary dw k×k] [BN, sign, binary pw, ReLU]
 *   dil_conv_k  (ReLU, dw k×k dilation 2/s, pw 1×1, BN)
 *     → [BN, sign, binary dw k×k dilation 2/s] [BN, sign, binary pw 1×1, ReLU]
 *   max_pool_3x3, avg_pool_3x3 → the same pools (parameter-free; no BN after them in a final network)
 *   skip_connect → identity at stride 1. At stride 2 DARTS uses FactorizedReduce, which DARTS_V2 never needs (its
 *     reduction skips read intermediate nodes); such a genotype is refused with a message.
 *   none → Zeroise (zeros of the strided input's shape)
 *
 * A block ends in ReLU where a BNAS binary op does; the ReLU DARTS puts *before* each conv is replaced by the BN → sign
 * every binary layer starts with. The cell template, macro architecture and drop-path are the BNAS final network's
 * (binary preprocessing, inter-cell skip, float 2×2 residual conv in reduction cells, reductions at ⌊L/3⌋ and
 * ⌊2L/3⌋, C doubling there), so a DARTS network and a BNAS one of the same cells and C differ only in their cells'
 * ops. As in DARTS and BNAS, drop-path applies to every op but the identity.
 */

/** Kernel, padding, dilation of DARTS' separable and dilated convs (`OPS` in DARTS' operations.py). */
const DARTS_CONV_GEOMETRY = {
  sep_conv_3x3: { kernel: 3, padding: 1, dilation: 1 },
  sep_conv_5x5: { kernel: 5, padding: 2, dilation: 1 },
  dil_conv_3x3: { kernel: 3, padding: 2, dilation: 2 },
  dil_conv_5x5: { kernel: 5, padding: 4, dilation: 2 }
} as const

interface OpOptions {
  rng: Rng
  weightGradient?: WeightGradientMode
}

/** One DARTS op, binarized as the table above says, C → C channels. */
export function createBinaryDartsOp(name: DartsOpName, channels: number, stride: 1 | 2, opts: OpOptions): Module {
  const pointwise = () =>
    new BinaryConvBlock(channels, channels, 1, { affine: true, rng: opts.rng, weightGradient: opts.weightGradient })
  switch (name) {
    case 'none':
      return new Zero(stride)
    case 'max_pool_3x3':
      return new MaxPool3x3(stride)
    case 'avg_pool_3x3':
      return new AvgPool3x3(stride)
    case 'skip_connect':
      if (stride === 2) {
        throw new Error(
          'skip_connect on a stride-2 edge (DARTS’ FactorizedReduce) has no binary counterpart here; DARTS_V2 has ' +
            'none: its reduction cell skips only from intermediate nodes'
        )
      }
      return new Identity()
    case 'sep_conv_3x3':
    case 'sep_conv_5x5':
    case 'dil_conv_3x3':
    case 'dil_conv_5x5': {
      const { kernel, padding, dilation } = DARTS_CONV_GEOMETRY[name]
      const depthwise = (s: 1 | 2) =>
        new BinaryDepthwiseBlock(channels, kernel, { stride: s, padding, dilation, ...opts })
      if (name.startsWith('dil_')) return new Sequential(depthwise(stride), pointwise())
      return new Sequential(depthwise(stride), pointwise(), depthwise(1), pointwise())
    }
    default: {
      const unknown: never = name
      throw new Error(`unknown DARTS op '${String(unknown)}'`)
    }
  }
}

/** A DARTS-space genotype with the 4-node concat the BNAS template's 4C skip add needs. */
export function buildableDartsGenotype(value: unknown): DartsGenotype {
  const checked = validateDartsGenotype(value)
  if (!checked.ok) throw new Error(`invalid DARTS genotype for darts-v2-binary: ${checked.errors.join('; ')}`)
  for (const key of ['normalConcat', 'reduceConcat'] as const) {
    if (checked.genotype[key].length !== CELL_MULTIPLIER) {
      throw new Error(
        `${key} lists ${checked.genotype[key].length} nodes, but the BNAS cell template adds a skip of ` +
          `${CELL_MULTIPLIER}C channels and needs exactly ${CELL_MULTIPLIER}`
      )
    }
  }
  return checked.genotype
}

/**
 * A cell of the binarized DARTS network: FinalCell's template (CIFAR macro: binary preprocessing, a stride-2 3×3
 * preprocess0 after a reduction cell with BN affine false, the inter-cell skip) with DARTS' ops (see the table above);
 * drop-path leaves the identity skip alone, as DARTS does.
 */
export class DartsBinaryCell extends FinalCell implements Traceable {
  constructor(genotype: DartsGenotype, plan: CellPlan, opts: OpOptions) {
    super(genotype, plan, {
      macro: 'cifar',
      rng: opts.rng,
      weightGradient: opts.weightGradient,
      createOp: (name, channels, stride) => createBinaryDartsOp(name as DartsOpName, channels, stride, opts),
      keepsPath: (op) => op instanceof Identity
    })
  }
}

export interface DartsBinaryNetworkOptions {
  /** A DARTS-space genotype; default DARTS_V2. */
  genotype?: DartsGenotype
  cells: number
  channels: number
  classes: number
  inputChannels?: number
  dropPathProb?: number
  seed: number
  weightGradient?: WeightGradientMode
}

/**
 * The DARTS V2 cell, binarized, in the BNAS final network's CIFAR macro: stem BN → float 3×3 conv (→ 3C) → ReLU, the
 * cells, global average pool, Linear. Same module names as FinalNetwork ('stem', 'cells.<i>', 'global_pooling',
 * 'classifier').
 */
export class DartsBinaryNetwork extends Module implements Traceable {
  readonly options: Required<Omit<DartsBinaryNetworkOptions, 'weightGradient' | 'dropPathProb'>>
  readonly genotype: DartsGenotype
  dropPathProb: number
  readonly stem: FloatConvBlock
  readonly cells: DartsBinaryCell[]
  readonly globalPooling: GlobalAvgPool
  readonly classifier: Linear
  private dropRng: Rng

  constructor(options: DartsBinaryNetworkOptions) {
    super()
    const { cells, channels, classes, seed } = options
    const inputChannels = options.inputChannels ?? 3
    checkPositiveInteger(cells, 'cells')
    checkPositiveInteger(channels, 'channels')
    checkPositiveInteger(classes, 'classes')
    checkPositiveInteger(inputChannels, 'inputChannels')
    this.genotype = buildableDartsGenotype(options.genotype ?? DARTS_V2)
    this.options = { genotype: this.genotype, cells, channels, classes, inputChannels, seed }
    this.dropPathProb = options.dropPathProb ?? 0
    const rng = createRng(seed)
    this.dropRng = createRng((seed ^ 0x5bd1e995) >>> 0)
    const stemChannels = 3 * channels
    this.stem = this.registerModule(
      'stem',
      new FloatConvBlock(inputChannels, stemChannels, 3, { padding: 1, affine: true, rng })
    )
    const plan = planCells({
      cells,
      channels,
      stemPrevPrev: stemChannels,
      stemPrev: stemChannels,
      firstReductionPrev: false
    })
    const list = this.registerModule('cells', new ModuleList())
    this.cells = plan.map((cell) =>
      list.add(
        String(cell.index),
        new DartsBinaryCell(this.genotype, cell, { rng, weightGradient: options.weightGradient })
      )
    )
    this.globalPooling = this.registerModule('global_pooling', new GlobalAvgPool())
    this.classifier = this.registerModule(
      'classifier',
      new Linear(CELL_MULTIPLIER * plan[plan.length - 1].channels, classes, { rng })
    )
  }

  /** As FinalNetwork.reseedDropPath: the masks are a function of the training step. */
  reseedDropPath(seed: number): void {
    this.dropRng = createRng(seed >>> 0)
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const cellCtx = { ...ctx, dropPathProb: this.dropPathProb, rng: this.dropRng }
      let s0 = this.stem.forward(x, ctx)
      let s1 = s0
      for (const cell of this.cells) [s0, s1] = [s1, cell.forwardCell(s0, s1, cellCtx)]
      return this.classifier.forward(this.globalPooling.forward(s1, ctx), ctx)
    })
  }

  logits(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return tf.tidy(() => tf.reshape(this.forward(x, ctx), [x.shape[0], this.options.classes]) as tf.Tensor2D)
  }

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
}
