import { inferShapes, stepInputs, type ExportGraph } from '../../steps'
import type { PackedModel, PackedStep } from '../format'
import { bnInverse } from './reference'
import type { Shape3 } from './types'

/**
 * Lowers a packed model to the instructions of the native session (native/src/packed): the whole network then runs in
 * C++ from one call. This is where the graph-level work is done, in TypeScript where it is easy to read and test:
 *
 * - **Concat by placement.** A cell's concat costs nothing: each node is written straight into its channel slice of
 *   the concat's buffer (pixels `stride` floats apart), and every later reader reads it there.
 * - **Node adds fused into the binary conv.** `node = a + b` where b comes from a binary conv used only there: a is
 *   written into the node's place, then the conv adds its ReLU(α·dot) to it (`accumulate`). IEEE addition commutes,
 *   so this is bit for bit the reference's a + b.
 * - **In-place adds** (the cell's skip: concat + s1 written over the concat).
 * - **Conv + ReLU** (the stem) as one oneDNN call.
 * - **One arena**: every tensor gets a region by liveness (first fit, largest first), so peak memory is the live set.
 *
 * Regions are in floats per image: a batch of n uses n times each region (layout [N][H][W][stride]).
 */
export const NATIVE_KIND = {
  bn: 0,
  binconv: 1,
  conv: 2,
  relu: 3,
  maxpool: 4,
  avgpool: 5,
  zero: 6,
  add: 7,
  copy: 8,
  gap: 9,
  linear: 10
} as const

export interface NativeInstruction {
  kind: number
  name: string
  /**
   * [inRegion, inStride, inOffset, in2Region, in2Stride, in2Offset, outRegion, outStride, outOffset, accumulate, relu,
   * h, w, cin, ho, wo, cout, k, stride, pad, dilation]: the layout napi_session.cc reads.
   */
  ints: Int32Array
  mean?: Float32Array
  inv?: Float32Array
  gamma?: Float32Array
  beta?: Float32Array
  alpha?: Float32Array
  sign?: Uint32Array
  mask?: Uint32Array
  weight?: Float32Array
  bias?: Float32Array
}

export interface NativePlan {
  instructions: NativeInstruction[]
  arenaPerImage: number
  inputRegion: number
  inputPerImage: number
  outputRegion: number
  outputPerImage: number
  /** What the lowering fused, for the benchmark's report and the tests. */
  fused: {
    concatsPlaced: number
    addsIntoBinconv: number
    addsInPlace: number
    convRelu: number
    copies: number
    zeroAddsFolded: number
  }
}

interface Buffer {
  floats: number
  first: number
  last: number
  region: number
}

interface Place {
  buffer: Buffer
  offset: number
  stride: number
}

/** Producers that can write a strided view (not oneDNN's dense convs, not the head). */
const VIEW_WRITERS = new Set(['binconv', 'bn', 'relu', 'maxpool', 'avgpool', 'zero', 'add', 'concat'])
const ALIGN = 16 // floats: regions start on 64-byte lines

export function planNative(model: PackedModel): NativePlan {
  const shapes = inferShapes(model as unknown as ExportGraph)
  const shape = (name: string): Shape3 => shapes.get(name)!
  const steps = model.steps
  const producer = new Map<string, number>()
  const uses = new Map<string, number>()
  steps.forEach((step, i) => {
    producer.set(step.output, i)
    for (const name of stepInputs(step as never)) uses.set(name, (uses.get(name) ?? 0) + 1)
  })
  uses.set(model.output, (uses.get(model.output) ?? 0) + 1)

  const buffers: Buffer[] = []
  const places = new Map<string, Place>()
  const newPlace = (name: string): Place => {
    const [h, w, c] = shape(name)
    const buffer = { floats: h * w * c, first: Infinity, last: -Infinity, region: 0 }
    buffers.push(buffer)
    return { buffer, offset: 0, stride: c }
  }
  const placeOf = (name: string): Place => {
    let place = places.get(name)
    if (!place) places.set(name, (place = newPlace(name)))
    return place
  }
  const producerOp = (name: string): string | undefined => {
    const i = producer.get(name)
    return i === undefined ? undefined : steps[i].op
  }
  /** A value that may be written where its one consumer wants it. */
  const placeable = (name: string): boolean =>
    !places.has(name) && uses.get(name) === 1 && VIEW_WRITERS.has(producerOp(name) ?? '')

  const skip = new Set<number>()
  const accumulate = new Set<number>()
  const convRelu = new Set<number>()
  const concatCopies = new Map<number, string[]>()
  const fused = { concatsPlaced: 0, addsIntoBinconv: 0, addsInPlace: 0, convRelu: 0, copies: 0, zeroAddsFolded: 0 }
  /** Steps not run at all (a Zeroise folded into its add): their outputs are never read. */
  const dropped = new Set<number>()
  const zeroOf = (name: string): boolean => producerOp(name) === 'zero' && uses.get(name) === 1

  // Values that cannot hold −0 (ReLU outputs, and what pools and adds make of them): for these x + 0 = x bit for bit,
  // so a node `x + Zeroise(…)` is x itself, written where the node goes.
  const noNegativeZero = new Set<string>()
  for (const step of steps) {
    const all = (names: string[]) => names.every((n) => noNegativeZero.has(n))
    const some = (names: string[]) => names.some((n) => noNegativeZero.has(n))
    const ok =
      step.op === 'binconv' ||
      step.op === 'relu' ||
      step.op === 'zero' ||
      ((step.op === 'maxpool' || step.op === 'avgpool') && noNegativeZero.has(step.input)) ||
      (step.op === 'add' && some(step.inputs)) ||
      (step.op === 'concat' && all(step.inputs))
    if (ok) noNegativeZero.add(step.output)
  }

  // Consumers decide where their inputs live, so walk backwards: a node's place is known before its add is seen.
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i]
    if (step.op === 'concat') {
      const target = placeOf(step.output)
      const copies: string[] = []
      let offset = target.offset
      step.inputs.forEach((name, j) => {
        const once = step.inputs.indexOf(name) === j
        const producedHere = VIEW_WRITERS.has(producerOp(name) ?? '')
        if (once && producedHere && !places.has(name)) {
          places.set(name, { buffer: target.buffer, offset, stride: target.stride })
        } else copies.push(name)
        offset += shape(name)[2]
      })
      skip.add(i)
      if (copies.length) concatCopies.set(i, copies)
      else fused.concatsPlaced++
    } else if (step.op === 'add') {
      const [a, b] = step.inputs
      if (a === b) continue
      const target = placeOf(step.output)
      const [first, second] = (producer.get(a) ?? -1) <= (producer.get(b) ?? -1) ? [a, b] : [b, a]
      const zero = [first, second].find(zeroOf)
      const other = zero === first ? second : first
      if (zero && (zeroOf(other) || noNegativeZero.has(other)) && placeable(other)) {
        // x + 0 with x free of −0 (or 0 + 0): x is written where the node goes; neither the Zeroise nor the add runs.
        places.set(other, target)
        dropped.add(producer.get(zero)!)
        skip.add(i)
        fused.zeroAddsFolded++
      } else if (placeable(first) && placeable(second) && producerOp(second) === 'binconv') {
        places.set(first, target)
        places.set(second, target)
        accumulate.add(producer.get(second)!)
        skip.add(i)
        fused.addsIntoBinconv++
      } else {
        // In place: one operand is written where the sum goes, and the add reads it from there.
        const inPlace = [first, second].find(placeable)
        if (inPlace) {
          places.set(inPlace, target)
          fused.addsInPlace++
        }
      }
    } else if (step.op === 'relu') {
      const from = producer.get(step.input)
      const target = placeOf(step.output)
      const dense = target.offset === 0 && target.stride === shape(step.output)[2]
      if (from !== undefined && steps[from].op === 'conv' && uses.get(step.input) === 1 && dense) {
        places.set(step.input, target)
        convRelu.add(from)
        skip.add(i)
        fused.convRelu++
      }
    }
  }

  // Forward: emit, and record when each buffer is first written and last read.
  const instructions: NativeInstruction[] = []
  const inputPlace = placeOf(model.input)
  inputPlace.buffer.first = -1
  const write = (name: string, i: number): Place => {
    const place = placeOf(name)
    place.buffer.first = Math.min(place.buffer.first, i)
    place.buffer.last = Math.max(place.buffer.last, i)
    return place
  }
  const read = (name: string, i: number): Place => {
    const place = placeOf(name)
    place.buffer.last = Math.max(place.buffer.last, i)
    return place
  }
  const pending: Array<{ ins: NativeInstruction; views: Array<Place | undefined> }> = []
  const emit = (
    kind: keyof typeof NATIVE_KIND,
    step: PackedStep,
    views: [Place | undefined, Place | undefined, Place],
    geometry: number[],
    extra: Partial<NativeInstruction> = {},
    flags: { accumulate?: boolean; relu?: boolean } = {}
  ): void => {
    const ins: NativeInstruction = { kind: NATIVE_KIND[kind], name: step.name, ints: new Int32Array(21), ...extra }
    ins.ints[9] = flags.accumulate ? 1 : 0
    ins.ints[10] = flags.relu ? 1 : 0
    ins.ints.set(geometry, 11)
    instructions.push(ins)
    pending.push({ ins, views })
  }
  steps.forEach((step, i) => {
    if (step.op === 'concat') {
      const copies = concatCopies.get(i) ?? []
      const target = write(step.output, i)
      let offset = target.offset
      for (const name of step.inputs) {
        const [h, w, c] = shape(name)
        if (copies.includes(name)) {
          emit('copy', step, [read(name, i), undefined, { ...target, offset }], [h, w, c, h, w, c, 1, 1, 0, 1])
          fused.copies++
        }
        offset += c
      }
      return
    }
    if (dropped.has(i)) return
    if (skip.has(i)) {
      // A fused add or ReLU: its output is where its inputs were written; keep the buffer alive across this step.
      for (const name of stepInputs(step as never)) if (!dropped.has(producer.get(name) ?? -1)) read(name, i)
      write(step.output, i)
      return
    }
    const inputs = stepInputs(step as never)
    const [h, w, c] = shape(inputs[0])
    const [ho, wo, co] = shape(step.output)
    const same = [h, w, c, ho, wo, co, 1, 1, 0, 1]
    const inView = read(inputs[0], i)
    const outView = write(step.output, i)
    switch (step.op) {
      case 'bn':
        return emit('bn', step, [inView, undefined, outView], same, bnArrays(step.bn))
      case 'binconv': {
        const g = [h, w, c, ho, wo, co, step.kernel, step.stride, step.padding, step.dilation]
        const arrays = { ...bnArrays(step.bn), alpha: step.alpha, sign: step.sign, mask: step.mask }
        return emit('binconv', step, [inView, undefined, outView], g, arrays, { accumulate: accumulate.has(i) })
      }
      case 'conv': {
        const g = [h, w, c, ho, wo, co, step.kernel, step.stride, step.padding, step.dilation]
        return emit(
          'conv',
          step,
          [inView, undefined, outView],
          g,
          { weight: step.weight, bias: step.bias },
          {
            relu: convRelu.has(i)
          }
        )
      }
      case 'relu':
        return emit('relu', step, [inView, undefined, outView], same)
      case 'maxpool':
      case 'avgpool':
        return emit(step.op, step, [inView, undefined, outView], [h, w, c, ho, wo, co, 3, step.stride, 1, 1])
      case 'zero':
        return emit('zero', step, [undefined, undefined, outView], same)
      case 'add':
        return emit('add', step, [inView, read(inputs[1], i), outView], same)
      case 'gap':
        return emit('gap', step, [inView, undefined, outView], [h, w, c, 1, 1, c, 1, 1, 0, 1])
      case 'linear':
        return emit(
          'linear',
          step,
          [inView, undefined, outView],
          [1, 1, step.inFeatures, 1, 1, step.outFeatures, 1, 1, 0, 1],
          {
            weight: step.weight,
            bias: step.bias
          }
        )
    }
  })
  const outputPlace = read(model.output, steps.length)

  const arenaPerImage = assignRegions(buffers.filter((b) => b.first !== Infinity))
  for (const { ins, views } of pending) {
    views.forEach((view, j) => {
      if (!view) return
      ins.ints[3 * j] = view.buffer.region
      ins.ints[3 * j + 1] = view.stride
      ins.ints[3 * j + 2] = view.offset
    })
    // Unused view slots still describe something valid (the output's) so the C++ checks read sane numbers.
    if (!views[0]) ins.ints.copyWithin(0, 6, 9)
    if (!views[1]) ins.ints.copyWithin(3, 6, 9)
  }
  const [ih, iw, ic] = model.meta.inputShape
  return {
    instructions,
    arenaPerImage,
    inputRegion: inputPlace.buffer.region,
    inputPerImage: ih * iw * ic,
    outputRegion: outputPlace.buffer.region + outputPlace.offset,
    outputPerImage: shape(model.output).reduce((a, b) => a * b, 1),
    fused
  }
}

function bnArrays(bn: Extract<PackedStep, { op: 'bn' }>['bn']): Partial<NativeInstruction> {
  return { mean: bn.mean, inv: bnInverse(bn), gamma: bn.gamma, beta: bn.beta }
}

/** First fit, largest buffer first, among buffers whose lifetimes overlap; returns the arena's size per image. */
function assignRegions(buffers: Buffer[]): number {
  const placed: Buffer[] = []
  let size = 0
  for (const buffer of [...buffers].sort((a, b) => b.floats - a.floats || a.first - b.first)) {
    const live = placed
      .filter((other) => other.first <= buffer.last && buffer.first <= other.last)
      .sort((a, b) => a.region - b.region)
    let region = 0
    for (const other of live) {
      if (region + buffer.floats <= other.region) break
      region = Math.max(region, align(other.region + other.floats))
    }
    buffer.region = region
    placed.push(buffer)
    size = Math.max(size, region + buffer.floats)
  }
  return align(size)
}

function align(floats: number): number {
  return Math.ceil(floats / ALIGN) * ALIGN
}
