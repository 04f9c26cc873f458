import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { afterAll, describe, expect, it } from 'vitest'
import { DatasetError, loadDataset } from '../../src/main/datasets'
import { encodeCifar, encodeIdx, randomCifarRecords, snapshot, tempFolder } from './helpers'

const { dir, cleanup } = tempFolder()
afterAll(cleanup)

/** Loading `spec` fails with a DatasetError about `file` whose message contains `problem`. */
function expectDatasetError(spec: string, file: string, problem: string | RegExp): void {
  let caught: unknown
  try {
    loadDataset(spec)
  } catch (error) {
    caught = error
  }
  expect(caught, `${spec} should fail`).toBeInstanceOf(DatasetError)
  const error = caught as DatasetError
  expect(error.file).toBe(file)
  expect(error.problem).toMatch(problem)
  expect(error.message.startsWith(`${file}: `)).toBe(true)
}

function cifar10Folder(name: string, edit?: (files: Map<string, Buffer>) => void): string {
  const folder = join(dir, name)
  mkdirSync(folder, { recursive: true })
  const files = new Map<string, Buffer>()
  for (let i = 1; i <= 5; i++) files.set(`data_batch_${i}.bin`, encodeCifar(randomCifarRecords(3, 1, [10], i)))
  files.set('test_batch.bin', encodeCifar(randomCifarRecords(3, 1, [10], 9)))
  edit?.(files)
  for (const [file, data] of files) writeFileSync(join(folder, file), data)
  return folder
}

function mnistFolder(name: string, edit?: (files: Map<string, Buffer>) => void): string {
  const folder = join(dir, name)
  mkdirSync(folder, { recursive: true })
  const files = new Map<string, Buffer>([
    ['train-images-idx3-ubyte', encodeIdx(0x803, [4, 28, 28], new Uint8Array(4 * 784).fill(7))],
    ['train-labels-idx1-ubyte', encodeIdx(0x801, [4], Uint8Array.from([0, 1, 2, 9]))],
    ['t10k-images-idx3-ubyte.gz', gzipSync(encodeIdx(0x803, [2, 28, 28], new Uint8Array(2 * 784)))],
    ['t10k-labels-idx1-ubyte.gz', gzipSync(encodeIdx(0x801, [2], Uint8Array.from([3, 4])))]
  ])
  edit?.(files)
  for (const [file, data] of files) writeFileSync(join(folder, file), data)
  return folder
}

function pngBytes(): Buffer {
  return PNG.sync.write(new PNG({ width: 4, height: 4 }))
}

function imageFolder(name: string, classes: Record<string, Record<string, Buffer>>): string {
  const root = join(dir, name)
  mkdirSync(root, { recursive: true })
  for (const [cls, files] of Object.entries(classes)) {
    mkdirSync(join(root, cls), { recursive: true })
    for (const [file, data] of Object.entries(files)) writeFileSync(join(root, cls, file), data)
  }
  return root
}

describe('broken input gives a DatasetError naming the file', () => {
  it('sanity: the unbroken fixtures load', () => {
    expect(loadDataset(`cifar10:${cifar10Folder('ok-cifar')}`).train.count).toBe(15)
    const mnist = loadDataset(`mnist:${mnistFolder('ok-mnist')}`)
    expect([mnist.train.count, mnist.test.count, Array.from(mnist.test.labels)]).toEqual([4, 2, [3, 4]])
    // Some mirrors name the files with a dot (train-images.idx3-ubyte): found too.
    const dotted = mnistFolder('dotted', (files) => {
      for (const name of [...files.keys()]) {
        files.set(name.replace(/-(idx\d-ubyte)/, '.$1'), files.get(name)!)
        files.delete(name)
      }
    })
    expect(loadDataset(`fashion-mnist:${dotted}`).classes[9]).toBe('Ankle boot')
  })

  it('a path that does not exist', () => {
    const missing = join(dir, 'nope')
    expectDatasetError(`cifar10:${missing}`, missing, 'does not exist')
    expectDatasetError(`mnist:${missing}`, missing, 'does not exist')
    expectDatasetError(`folder:${missing}`, missing, 'does not exist')
    expectDatasetError(`fashion-mnist:${missing}`, missing, 'does not exist')
  })

  it('a file where a folder is expected', () => {
    const file = join(cifar10Folder('file-not-folder'), 'test_batch.bin')
    expectDatasetError(`cifar10:${file}`, file, 'is a file, expected a folder')
  })

  it('a folder without the dataset files', () => {
    const empty = join(dir, 'empty')
    mkdirSync(empty)
    expectDatasetError(`cifar10:${empty}`, empty, /has no data_batch_1.bin/)
    expectDatasetError(`cifar100:${empty}`, empty, /has no train.bin/)
    expectDatasetError(`mnist:${empty}`, empty, /has no train-images-idx3-ubyte/)
    const partial = cifar10Folder('partial', (files) => files.delete('data_batch_4.bin'))
    expectDatasetError(`cifar10:${partial}`, join(partial, 'data_batch_4.bin'), 'does not exist')
  })

  it('a truncated CIFAR file', () => {
    const folder = cifar10Folder('trunc-cifar', (f) =>
      f.set('data_batch_3.bin', f.get('data_batch_3.bin')!.subarray(0, 3 * 3073 - 100))
    )
    expectDatasetError(
      `cifar10:${folder}`,
      join(folder, 'data_batch_3.bin'),
      'is truncated: 9119 bytes is not a whole number of 3073-byte records (the last record has 2973 bytes)'
    )
  })

  it('a CIFAR label out of range', () => {
    const folder = cifar10Folder('label-cifar', (f) => {
      const data = Buffer.from(f.get('test_batch.bin')!)
      data[3073] = 10
      f.set('test_batch.bin', data)
    })
    expectDatasetError(`cifar10:${folder}`, join(folder, 'test_batch.bin'), 'label 10 of record 1 is out of range 0..9')
    const c100 = join(dir, 'label-c100')
    mkdirSync(c100)
    const bad = randomCifarRecords(2, 2, [20, 100], 3)
    bad[1].labels = [20, 5] // coarse label 20 of 0..19
    writeFileSync(join(c100, 'train.bin'), encodeCifar(bad))
    writeFileSync(join(c100, 'test.bin'), encodeCifar(randomCifarRecords(1, 2, [20, 100], 4)))
    expect(loadDataset(`cifar100:${c100}`).train.count).toBe(2)
    expectDatasetError(
      `cifar100:${c100}?labels=coarse`,
      join(c100, 'train.bin'),
      'label 20 of record 1 is out of range 0..19'
    )
  })

  it('a wrong IDX magic number', () => {
    const folder = mnistFolder('magic', (f) =>
      f.set('train-labels-idx1-ubyte', encodeIdx(0x803, [4, 1, 1], new Uint8Array(4)))
    )
    expectDatasetError(
      `mnist:${folder}`,
      join(folder, 'train-labels-idx1-ubyte'),
      'wrong magic number 0x00000803, expected 0x00000801 (IDX labels)'
    )
    const swapped = mnistFolder('magic2', (f) =>
      f.set('t10k-images-idx3-ubyte.gz', f.get('t10k-labels-idx1-ubyte.gz')!)
    )
    expectDatasetError(
      `mnist:${swapped}`,
      join(swapped, 't10k-images-idx3-ubyte.gz'),
      'wrong magic number 0x00000801, expected 0x00000803 (IDX images)'
    )
  })

  it('a truncated IDX file, plain or gzipped', () => {
    const plain = mnistFolder('trunc-idx', (f) =>
      f.set('train-images-idx3-ubyte', f.get('train-images-idx3-ubyte')!.subarray(0, 1000))
    )
    expectDatasetError(
      `mnist:${plain}`,
      join(plain, 'train-images-idx3-ubyte'),
      'is truncated: header promises 3136 data bytes, file holds 984'
    )
    const gz = mnistFolder('trunc-gz', (f) =>
      f.set('t10k-images-idx3-ubyte.gz', f.get('t10k-images-idx3-ubyte.gz')!.subarray(0, 30))
    )
    expectDatasetError(`mnist:${gz}`, join(gz, 't10k-images-idx3-ubyte.gz'), /is a damaged or truncated gzip file/)
    const header = mnistFolder('trunc-header', (f) => f.set('train-labels-idx1-ubyte', Buffer.from([0, 0, 8, 1, 0])))
    expectDatasetError(
      `mnist:${header}`,
      join(header, 'train-labels-idx1-ubyte'),
      'is truncated inside its header (5 bytes)'
    )
  })

  it('an IDX label out of range and a count mismatch', () => {
    const folder = mnistFolder('label-idx', (f) =>
      f.set('train-labels-idx1-ubyte', encodeIdx(0x801, [4], Uint8Array.from([0, 1, 12, 3])))
    )
    expectDatasetError(
      `mnist:${folder}`,
      join(folder, 'train-labels-idx1-ubyte'),
      'label 12 of item 2 is out of range 0..9'
    )
    const count = mnistFolder('count-idx', (f) =>
      f.set('train-labels-idx1-ubyte', encodeIdx(0x801, [3], Uint8Array.from([0, 1, 2])))
    )
    const labels = join(count, 'train-labels-idx1-ubyte')
    expectDatasetError(
      `mnist:${count}`,
      labels,
      `holds 3 labels but ${join(count, 'train-images-idx3-ubyte')} holds 4 images`
    )
  })

  it('an image that does not decode', () => {
    const garbage = imageFolder('garbage', {
      a: { '1.png': pngBytes() },
      b: { 'x.png': Buffer.from('hello, not a png') }
    })
    expectDatasetError(
      `folder:${garbage}`,
      join(garbage, 'b', 'x.png'),
      'is not a PNG or JPEG image (unrecognised leading bytes)'
    )
    const good = pngBytes()
    const cut = imageFolder('cut-png', { a: { '1.png': good }, b: { 'x.png': good.subarray(0, good.length - 20) } })
    expectDatasetError(`folder:${cut}`, join(cut, 'b', 'x.png'), /^does not decode as PNG/)
    const jpg = jpeg.encode({ width: 16, height: 16, data: Buffer.alloc(16 * 16 * 4, 128) }, 90).data
    const cutJpg = imageFolder('cut-jpg', { a: { '1.png': good }, b: { 'x.jpg': jpg.subarray(0, jpg.length / 2) } })
    expectDatasetError(`folder:${cutJpg}`, join(cutJpg, 'b', 'x.jpg'), /^does not decode as JPEG/)
  })

  it('an empty class folder, a folder without class folders, a single class', () => {
    const empty = imageFolder('empty-class', { a: { '1.png': pngBytes() }, b: { 'readme.txt': Buffer.from('hi') } })
    expectDatasetError(`folder:${empty}`, join(empty, 'b'), 'is an empty class folder: no PNG or JPEG images in it')
    const flat = join(dir, 'flat-images')
    mkdirSync(flat)
    writeFileSync(join(flat, '1.png'), pngBytes())
    expectDatasetError(
      `folder:${flat}`,
      flat,
      'has no class sub-folders: expected one sub-folder per class holding PNG or JPEG files'
    )
    const one = imageFolder('one-class', { a: { '1.png': pngBytes() } })
    expectDatasetError(`folder:${one}`, one, 'has only one class sub-folder (a)')
  })

  it('never writes into the dataset folder, even when loading fails', () => {
    const before = snapshot(dir)
    for (const spec of [
      `cifar10:${join(dir, 'trunc-cifar')}`,
      `mnist:${join(dir, 'trunc-gz')}`,
      `folder:${join(dir, 'garbage')}`
    ]) {
      expect(() => loadDataset(spec)).toThrow(DatasetError)
    }
    expect(snapshot(dir)).toEqual(before)
  })
})
