import type { ConvGeometry, BnParams, ExportGraph, ModelMeta, Step } from '../steps'
import { packConvWeight } from './bits'

/**
 * The packed 1-bit model file (`.bnpk`), little-endian:
 *
 *   offset 0   8 bytes  magic "BNASPK1\n"
 *   offset 8   u32      format version (1)
 *   offset 12  u32      header length H (UTF-8 JSON, padded with spaces to a multiple of 4)
 *   offset 16  u32      payload length P (bytes, a multiple of 4)
 *   offset 20  u32      CRC-32 (IEEE, as zlib) of the H + P bytes that follow
 *   offset 24  H bytes  JSON header: meta, summary, convention, steps; every array is {offset, length, type} into
 *                        the payload (offsets in bytes from the payload start)
 *   offset 24+H P bytes payload: float32 and uint32 arrays, each 4-byte aligned
 *
 * Binary conv weights are stored only as bit planes (see bits.ts) with one float α per output channel; every float
 * parameter (stem, BN, residual 2×2 convs, classifier) is stored as float32. Nothing else is needed to run it.
 */
export const PACKED_MAGIC = 'BNASPK1\n'
export const PACKED_VERSION = 1
const PREAMBLE = 24

export type PackedBinConv = {
  op: 'binconv'
  name: string
  input: string
  output: string
  bn: BnParams
  alpha: Float32Array
  /** [C_out][kh][kw][⌈C_in/32⌉] sign bits (1 = −1). */
  sign: Uint32Array
  /** Nonzero bits, present only when some binary weight is exactly 0. */
  mask?: Uint32Array
} & ConvGeometry

export type PackedStep = Exclude<Step, { op: 'binconv' }> | PackedBinConv

export interface PackedSummary {
  trainableParams: number
  binaryParams: number
  floatParams: number
  bops: number
  flops: number
  ops: number
  /** 1 bit per binary weight, 32 bits per other parameter. */
  sizeBytes: number
  /** The same network with every parameter as float32. */
  float32Bytes: number
  /** The other accounting of spec 8.2: the reduction cells' 2×2 residual convs counted as binary. */
  residualBinary: {
    binaryParams: number
    floatParams: number
    bops: number
    flops: number
    ops: number
    sizeBytes: number
  }
}

export interface PackedModel {
  meta: ModelMeta
  summary: PackedSummary
  input: string
  output: string
  steps: PackedStep[]
}

export class PackedFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PackedFormatError'
  }
}

let crcTable: Uint32Array | undefined

/** CRC-32 (IEEE 802.3 polynomial, reflected), the checksum zlib and PNG use. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let crc = 0xffffffff
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** Converts a lowered graph: binary conv weights become bit planes, the latent float weights are dropped. */
export function packGraph(graph: ExportGraph, summary: PackedSummary): PackedModel {
  const steps = graph.steps.map((step): PackedStep => {
    if (step.op !== 'binconv') return step
    const { weight, ...rest } = step
    const { sign, mask } = packConvWeight(weight, step.kernel, step.cin, step.cout)
    return mask ? { ...rest, sign, mask } : { ...rest, sign }
  })
  return { meta: graph.meta, summary, input: graph.input, output: graph.output, steps }
}

interface ArrayRef {
  offset: number
  length: number
  type: 'f32' | 'u32'
}

function isTyped(v: unknown): v is Float32Array | Uint32Array {
  return v instanceof Float32Array || v instanceof Uint32Array
}

export function encodePacked(model: PackedModel): Uint8Array {
  const chunks: Uint8Array[] = []
  let payloadBytes = 0
  const replace = (value: unknown): unknown => {
    if (isTyped(value)) {
      const ref: ArrayRef = {
        offset: payloadBytes,
        length: value.length,
        type: value instanceof Float32Array ? 'f32' : 'u32'
      }
      chunks.push(new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)))
      payloadBytes += value.byteLength
      return { $array: ref }
    }
    if (Array.isArray(value)) return value.map(replace)
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => [k, replace(v)])
      )
    }
    return value
  }
  const header = replace({
    format: 'bnas-packed-1bit',
    convention: {
      bitsPerWord: 32,
      bitOrder: 'value c in word c>>5, bit c&31 (LSB first), little-endian words',
      signBit1Means: -1,
      maskBit1Means: 'nonzero (±1); 0 = the value 0',
      padValue: 0,
      weightLayout: '[C_out][kh][kw][ceil(C_in/32)]',
      activationLayout: '[N][H][W][ceil(C/32)]'
    },
    ...model
  })
  let json = new TextEncoder().encode(JSON.stringify(header))
  const padded = new Uint8Array(Math.ceil(json.length / 4) * 4).fill(0x20)
  padded.set(json)
  json = padded
  const out = new Uint8Array(PREAMBLE + json.length + payloadBytes)
  out.set(new TextEncoder().encode(PACKED_MAGIC), 0)
  let at = PREAMBLE + json.length
  out.set(json, PREAMBLE)
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  const view = new DataView(out.buffer)
  view.setUint32(8, PACKED_VERSION, true)
  view.setUint32(12, json.length, true)
  view.setUint32(16, payloadBytes, true)
  view.setUint32(20, crc32(out.subarray(PREAMBLE)), true)
  return out
}

/** Reads a packed model, checking magic, version, lengths, checksum and every array reference; errors say which. */
export function decodePacked(bytes: Uint8Array, what = 'packed model'): PackedModel {
  if (bytes.length < PREAMBLE)
    throw new PackedFormatError(`${what}: ${bytes.length} bytes is too short for a packed model`)
  const magic = new TextDecoder().decode(bytes.subarray(0, 8))
  if (magic !== PACKED_MAGIC)
    throw new PackedFormatError(`${what}: not a BNAS packed model (bad magic ${JSON.stringify(magic)})`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint32(8, true)
  if (version !== PACKED_VERSION) {
    throw new PackedFormatError(
      `${what}: format version ${version} is not supported (this runtime reads ${PACKED_VERSION})`
    )
  }
  const headerBytes = view.getUint32(12, true)
  const payloadBytes = view.getUint32(16, true)
  const expected = PREAMBLE + headerBytes + payloadBytes
  if (bytes.length !== expected) {
    throw new PackedFormatError(
      `${what}: truncated or padded: the header announces ${expected} bytes, the file has ${bytes.length}`
    )
  }
  const stored = view.getUint32(20, true)
  const actual = crc32(bytes.subarray(PREAMBLE))
  if (stored !== actual) {
    throw new PackedFormatError(
      `${what}: checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)}): the file is corrupted`
    )
  }
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREAMBLE, PREAMBLE + headerBytes)))
  } catch (error) {
    throw new PackedFormatError(`${what}: header is not valid JSON (${(error as Error).message})`)
  }
  const payload = bytes.subarray(PREAMBLE + headerBytes)
  const revive = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(revive)
    if (value && typeof value === 'object') {
      const ref = (value as { $array?: ArrayRef }).$array
      if (ref) {
        const size = ref.length * 4
        if (ref.offset % 4 !== 0 || ref.offset < 0 || ref.offset + size > payload.length) {
          throw new PackedFormatError(`${what}: an array reference points outside the payload`)
        }
        const copy = payload.slice(ref.offset, ref.offset + size).buffer
        return ref.type === 'f32' ? new Float32Array(copy) : new Uint32Array(copy)
      }
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]))
    }
    return value
  }
  const model = revive(header) as PackedModel & { format?: string }
  if (model.format !== 'bnas-packed-1bit' || !Array.isArray(model.steps) || !model.meta) {
    throw new PackedFormatError(`${what}: header does not describe a packed BNAS network`)
  }
  validateSteps(model, what)
  return { meta: model.meta, summary: model.summary, input: model.input, output: model.output, steps: model.steps }
}

function validateSteps(model: PackedModel, what: string): void {
  for (const step of model.steps) {
    const fail = (why: string): never => {
      throw new PackedFormatError(`${what}: step ${step.name} (${step.op}): ${why}`)
    }
    if (step.op === 'binconv') {
      const words = Math.ceil(step.cin / 32)
      const size = step.cout * step.kernel * step.kernel * words
      if (!(step.sign instanceof Uint32Array) || step.sign.length !== size) fail(`sign bits: expected ${size} words`)
      if (step.mask && step.mask.length !== size) fail(`mask bits: expected ${size} words`)
      if (step.alpha.length !== step.cout) fail(`alpha: expected ${step.cout} values`)
      if (step.bn.mean.length !== step.cin) fail(`BN: expected ${step.cin} channels`)
    } else if (step.op === 'conv') {
      const size = step.kernel * step.kernel * step.cin * step.cout
      if (step.weight.length !== size) fail(`weight: expected ${size} values`)
    } else if (step.op === 'linear') {
      if (step.weight.length !== step.inFeatures * step.outFeatures) fail('weight size')
    }
  }
}
