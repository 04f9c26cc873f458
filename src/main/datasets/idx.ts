import { DatasetError } from './errors'
import { maybeGunzip, readDataFile } from './files'

/**
 * The IDX format of MNIST and Fashion-MNIST: a big-endian magic number 0x000008NN (0x08 = unsigned bytes, NN = number
 * of dimensions), one big-endian uint32 per dimension, then the bytes. Images are 0x00000803 (count, rows, cols),
 * labels 0x00000801 (count).
 */
export interface IdxArray {
  dims: number[]
  data: Uint8Array
}

export const IDX_IMAGES_MAGIC = 0x00000803
export const IDX_LABELS_MAGIC = 0x00000801

/** Reads an IDX file (gzipped or not) and checks its magic number and length. */
export function readIdx(path: string, expectedMagic: number): IdxArray {
  const bytes = maybeGunzip(path, readDataFile(path))
  const expectedDims = expectedMagic & 0xff
  const hex = (n: number): string => '0x' + n.toString(16).padStart(8, '0')
  if (bytes.length < 4) throw new DatasetError(path, `is truncated: ${bytes.length} bytes, too short for an IDX header`)
  const magic = bytes.readUInt32BE(0)
  if (magic !== expectedMagic) {
    const what = expectedMagic === IDX_IMAGES_MAGIC ? 'IDX images' : 'IDX labels'
    throw new DatasetError(path, `wrong magic number ${hex(magic)}, expected ${hex(expectedMagic)} (${what})`)
  }
  const headerSize = 4 + 4 * expectedDims
  if (bytes.length < headerSize) throw new DatasetError(path, `is truncated inside its header (${bytes.length} bytes)`)
  const dims: number[] = []
  for (let d = 0; d < expectedDims; d++) dims.push(bytes.readUInt32BE(4 + 4 * d))
  const expectedLength = dims.reduce((a, b) => a * b, 1)
  const actual = bytes.length - headerSize
  if (actual < expectedLength) {
    throw new DatasetError(path, `is truncated: header promises ${expectedLength} data bytes, file holds ${actual}`)
  }
  if (actual > expectedLength) {
    throw new DatasetError(path, `has ${actual - expectedLength} bytes after the ${expectedLength} its header declares`)
  }
  // A copy with its own exact ArrayBuffer (a decompressed Buffer may sit in a larger one): safe to transfer to a worker.
  return { dims, data: new Uint8Array(bytes.subarray(headerSize)) }
}
