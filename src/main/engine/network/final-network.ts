import * as tf from '@tensorflow/tfjs-core'
import { assertGenotype, type Genotype } from '../../../shared/genotype'
import {
  BatchNorm2d,
  Conv2d,
  createRng,
  FloatConvBlock,
  GlobalAvgPool,
  Linear,
  Module,
  ReLU,
  Sequential,
  type ForwardContext,
  type Rng
} from '../nn'
import type { WeightGradientMode } from '../ops'
import { FinalCell, type Macro } from './final-cell'
import { CELL_MULTIPLIER, checkPositiveInteger, planCells } from './macro'
import { ModuleList } from './search-cell'
import { joinName, traceModule, type LayerRecord, type Shape3 } from './trace'

export interface FinalNetworkOptions {
  genotype: Genotype
  /** Number of cells L (20 for BNAS-A); reductions at ⌊L/3⌋ and ⌊2L/3⌋. */
  cells: number
  /** Initial channels C (36 for BNAS-A). */
  channels: number
  classes: number
  /** 'cifar': model.py's NetworkCIFAR; 'imagenet': model_imagenet.py's NetworkImageNet. */
  macro: Macro
  /** Input channels of the images. Default 3. */
  inputChannels?: number
  /** Drop-path probability (CIFAR schedule: 0.2·epoch/epochs); can be changed between epochs. Default 0. */
  dropPathProb?: number
  seed: number
  weightGradient?: WeightGradientMode
}

/**
 * Checks a genotype for building: known BNAS ops (a DARTS genotype fails here with the list of valid ops) and a
 * 4-node concat, which the template's 4C-channel skip add needs.
 */
function buildableGenotype(genotype: Genotype): Genotype {
  const checked = assertGenotype(genotype)
  for (const key of ['normalConcat', 'reduceConcat'] as const) {
    if (checked[key].length !== CELL_MULTIPLIER) {
      throw new Error(
        `${key} lists ${checked[key].length} nodes, but the BNAS cell template adds a skip of ${CELL_MULTIPLIER}C ` +
          `channels and needs exactly ${CELL_MULTIPLIER}`
      )
    }
  }
  return checked
}

/**
 * The final binary network trained from a genotype. CIFAR macro: stem BN(3) → float 3×3 conv (→ 3C) → ReLU, cells,
 * global average pool, Linear. ImageNet macro: stem0 (conv s2 → BN → ReLU → conv s2 → BN) and stem1 (ReLU → conv s2 →
 * BN), all float; cell 0 treats its c_{k-2} as "after a reduction" (3×3/s2 preprocess); head pooling is global average
 * pooling — the authors' AvgPool2d(7) is exactly that for 224×224 inputs (7×7 last maps) and this way any input size
 * works. The dropout modules the authors create but never apply are left out (they hold no parameters).
 */
export class FinalNetwork extends Module {
  readonly options: Required<Omit<FinalNetworkOptions, 'weightGradient' | 'dropPathProb'>>
  readonly genotype: Genotype
  /** Mutable: the training loop raises it every epoch, as `model.drop_path_prob = ...` in train.py. */
  dropPathProb: number
  readonly stems: Module[]
  readonly cells: FinalCell[]
  readonly globalPooling: GlobalAvgPool
  readonly classifier: Linear
  private dropRng: Rng

  constructor(options: FinalNetworkOptions) {
    super()
    const { cells, channels, classes, macro, seed } = options
    const inputChannels = options.inputChannels ?? 3
    checkPositiveInteger(cells, 'cells')
    checkPositiveInteger(channels, 'channels')
    checkPositiveInteger(classes, 'classes')
    checkPositiveInteger(inputChannels, 'inputChannels')
    if (macro !== 'cifar' && macro !== 'imagenet')
      throw new Error(`macro must be 'cifar' or 'imagenet', got '${macro}'`)
    if (macro === 'imagenet' && channels < 2)
      throw new Error('the ImageNet stem needs channels >= 2 (its first conv has C/2)')
    this.genotype = buildableGenotype(options.genotype)
    this.options = { genotype: this.genotype, cells, channels, classes, macro, inputChannels, seed }
    this.dropPathProb = options.dropPathProb ?? 0
    const rng = createRng(seed)
    // A separate stream for drop-path masks, so training never changes which weights a seed initialises.
    this.dropRng = createRng((seed ^ 0x5bd1e995) >>> 0)
    let stemPrevPrev: number
    let stemPrev: number
    if (macro === 'cifar') {
      const stemChannels = 3 * channels
      this.stems = [
        this.registerModule(
          'stem',
          new FloatConvBlock(inputChannels, stemChannels, 3, { padding: 1, affine: true, rng })
        )
      ]
      stemPrevPrev = stemPrev = stemChannels
    } else {
      const half = Math.floor(channels / 2)
      const stem0 = new Sequential(
        new Conv2d(inputChannels, half, 3, { stride: 2, padding: 1, rng }),
        new BatchNorm2d(half, { affine: true }),
        new ReLU(),
        new Conv2d(half, channels, 3, { stride: 2, padding: 1, rng }),
        new BatchNorm2d(channels, { affine: true })
      )
      const stem1 = new Sequential(
        new ReLU(),
        new Conv2d(channels, channels, 3, { stride: 2, padding: 1, rng }),
        new BatchNorm2d(channels, { affine: true })
      )
      this.stems = [this.registerModule('stem0', stem0), this.registerModule('stem1', stem1)]
      stemPrevPrev = stemPrev = channels
    }
    const plan = planCells({ cells, channels, stemPrevPrev, stemPrev, firstReductionPrev: macro === 'imagenet' })
    const list = this.registerModule('cells', new ModuleList())
    this.cells = plan.map((cell) =>
      list.add(
        String(cell.index),
        new FinalCell(this.genotype, cell, { macro, rng, weightGradient: options.weightGradient })
      )
    )
    this.globalPooling = this.registerModule('global_pooling', new GlobalAvgPool())
    this.classifier = this.registerModule(
      'classifier',
      new Linear(CELL_MULTIPLIER * plan[plan.length - 1].channels, classes, { rng })
    )
  }

  /** The two cell inputs the stem(s) give: (s, s) on CIFAR, (stem0, stem1) on ImageNet. */
  private stemOutputs(x: tf.Tensor4D, ctx: ForwardContext): [tf.Tensor4D, tf.Tensor4D] {
    if (this.stems.length === 1) {
      const s = this.stems[0].forward(x, ctx)
      return [s, s]
    }
    const s0 = this.stems[0].forward(x, ctx)
    return [s0, this.stems[1].forward(s0, ctx)]
  }

  /** Logits as [N, 1, 1, classes] (the Module convention); `logits()` gives [N, classes]. */
  /**
   * Restarts the drop-path masks' random stream from `seed`. Training reseeds it every step from the step number,
   * so the masks are a function of the step and a resumed run draws the ones the interrupted run would have.
   */
  reseedDropPath(seed: number): void {
    this.dropRng = createRng(seed >>> 0)
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const cellCtx = { ...ctx, dropPathProb: this.dropPathProb, rng: this.dropRng }
      let [s0, s1] = this.stemOutputs(x, ctx)
      for (const cell of this.cells) [s0, s1] = [s1, cell.forwardCell(s0, s1, cellCtx)]
      return this.classifier.forward(this.globalPooling.forward(s1, ctx), ctx)
    })
  }

  logits(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return tf.tidy(() => tf.reshape(this.forward(x, ctx), [x.shape[0], this.options.classes]) as tf.Tensor2D)
  }

  /** Every leaf module with the shapes it sees for one input image of [H, W, C]. */
  trace(prefix: string, [input]: Shape3[], records: LayerRecord[] = [], blocks?: Map<string, Shape3>): Shape3 {
    const [name0, name1] = this.namedChildren().map(([name]) => name)
    let s0 = traceModule(joinName(prefix, name0), this.stems[0], input, records)
    blocks?.set(joinName(prefix, name0), s0)
    let s1 = this.stems.length === 1 ? s0 : traceModule(joinName(prefix, name1), this.stems[1], s0, records)
    if (this.stems.length > 1) blocks?.set(joinName(prefix, name1), s1)
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
