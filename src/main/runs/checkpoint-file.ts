import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from './atomic-write'

/**
 * The checkpoint file: everything a run needs to continue exactly where it was.
 *
 *   bytes 0..7    magic "BNASCKP1"
 *   bytes 8..11   header length H (uint32, little endian)
 *   bytes 12..    header: UTF-8 JSON { version, state, tensors: [{ name, shape, offset, length }], sha256 }
 *   then          the tensors' float32 data, little endian, each at its offset from the start of this section
 *
 * `sha256` covers the data section, so a truncated or damaged file is detected and reported, never loaded.
 */
const MAGIC = 'BNASCKP1'
const FORMAT_VERSION = 1

export interface NamedTensorData {
  name: string
  shape: number[]
  data: Float32Array
}

export interface CheckpointContents<State> {
  /** Plain JSON: counters, RNG states, schedule positions, anything that is not a tensor. */
  state: State
  tensors: NamedTensorData[]
}

interface Header<State> {
  version: number
  state: State
  tensors: Array<{ name: string; shape: number[]; offset: number; length: number }>
  sha256: string
}

export class CheckpointError extends Error {
  constructor(
    readonly path: string,
    reason: string
  ) {
    super(`checkpoint ${path} ${reason}`)
    this.name = 'CheckpointError'
  }
}

export function encodeCheckpoint<State>(contents: CheckpointContents<State>): Uint8Array {
  let offset = 0
  const entries = contents.tensors.map((tensor) => {
    const expected = tensor.shape.reduce((a, b) => a * b, 1)
    if (expected !== tensor.data.length)
      throw new Error(
        `tensor ${tensor.name}: shape [${tensor.shape}] needs ${expected} values, has ${tensor.data.length}`
      )
    const entry = { name: tensor.name, shape: tensor.shape, offset, length: tensor.data.length }
    offset += tensor.data.length * 4
    return entry
  })
  const body = new Uint8Array(offset)
  const view = new DataView(body.buffer)
  contents.tensors.forEach((tensor, index) => {
    const base = entries[index]!.offset
    for (let i = 0; i < tensor.data.length; i++) view.setFloat32(base + i * 4, tensor.data[i]!, true)
  })
  const header: Header<State> = {
    version: FORMAT_VERSION,
    state: contents.state,
    tensors: entries,
    sha256: createHash('sha256').update(body).digest('hex')
  }
  const headerBytes = new TextEncoder().encode(JSON.stringify(header))
  const file = new Uint8Array(12 + headerBytes.length + body.length)
  file.set(new TextEncoder().encode(MAGIC), 0)
  new DataView(file.buffer).setUint32(8, headerBytes.length, true)
  file.set(headerBytes, 12)
  file.set(body, 12 + headerBytes.length)
  return file
}

export function decodeCheckpoint<State>(bytes: Uint8Array, path = '(memory)'): CheckpointContents<State> {
  if (bytes.length < 12) throw new CheckpointError(path, `is truncated (${bytes.length} bytes)`)
  const magic = new TextDecoder().decode(bytes.subarray(0, 8))
  if (magic !== MAGIC)
    throw new CheckpointError(path, `is not a BNAS Studio checkpoint (starts with ${JSON.stringify(magic)})`)
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true)
  if (12 + headerLength > bytes.length) throw new CheckpointError(path, 'is truncated inside its header')
  let header: Header<State>
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as Header<State>
  } catch {
    throw new CheckpointError(path, 'has a damaged header')
  }
  if (header.version !== FORMAT_VERSION)
    throw new CheckpointError(path, `has format version ${header.version}; this app reads ${FORMAT_VERSION}`)
  const body = bytes.subarray(12 + headerLength)
  const expectedBytes = header.tensors.reduce((sum, tensor) => sum + tensor.length * 4, 0)
  if (body.length !== expectedBytes)
    throw new CheckpointError(path, `is truncated or padded: ${body.length} data bytes, expected ${expectedBytes}`)
  if (createHash('sha256').update(body).digest('hex') !== header.sha256)
    throw new CheckpointError(path, 'is damaged: its data does not match its checksum')
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const tensors = header.tensors.map(({ name, shape, offset, length }) => {
    const data = new Float32Array(length)
    for (let i = 0; i < length; i++) data[i] = view.getFloat32(offset + i * 4, true)
    return { name, shape, data }
  })
  return { state: header.state, tensors }
}

export async function writeCheckpoint<State>(path: string, contents: CheckpointContents<State>): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(contents))
}

export async function readCheckpoint<State>(path: string): Promise<CheckpointContents<State>> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new CheckpointError(path, code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})`)
  }
  return decodeCheckpoint<State>(bytes, path)
}
