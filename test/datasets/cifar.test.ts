import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadDataset, summarizeDataset } from '../../src/main/datasets'
import { CIFAR10_CLASSES, CIFAR100_FINE_CLASSES } from '../../src/main/datasets/cifar'
import { datasetSummarySchema } from '../../src/shared/datasets'
import { encodeCifar, randomCifarRecords, snapshot, tempFolder, type CifarRecord } from './helpers'

const { dir, cleanup } = tempFolder()
afterAll(cleanup)

/** Every record: its label and each pixel, planar in the file, interleaved (HWC) in memory. */
function expectRoundTrip(records: CifarRecord[], labelIndex: number, images: Uint8Array, labels: Int32Array): void {
  expect(labels.length).toBe(records.length)
  records.forEach((record, n) => {
    expect(labels[n]).toBe(record.labels[labelIndex])
    const image = images.subarray(n * 3072, (n + 1) * 3072)
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        if (image[p * 3 + c] !== record.planar[c * 1024 + p]) {
          throw new Error(
            `record ${n}, channel ${c}, pixel ${p}: ${image[p * 3 + c]} != ${record.planar[c * 1024 + p]}`
          )
        }
      }
    }
  })
}

describe('CIFAR-10 binary batches', () => {
  const root = join(dir, 'c10')
  const folder = join(root, 'cifar-10-batches-bin')
  mkdirSync(folder, { recursive: true })
  const batches = [1, 2, 3, 4, 5].map((i) => randomCifarRecords(7 + i, 1, [10], i))
  batches.forEach((records, i) => writeFileSync(join(folder, `data_batch_${i + 1}.bin`), encodeCifar(records)))
  const test = randomCifarRecords(9, 1, [10], 99)
  writeFileSync(join(folder, 'test_batch.bin'), encodeCifar(test))

  it('round-trips every record, train in file order then test', () => {
    const before = snapshot(root)
    const dataset = loadDataset(`cifar10:${folder}`)
    expect(dataset.shape).toEqual({ height: 32, width: 32, channels: 3 })
    expect(dataset.train.count).toBe(8 + 9 + 10 + 11 + 12)
    expectRoundTrip(batches.flat(), 0, dataset.train.images, dataset.train.labels)
    expectRoundTrip(test, 0, dataset.test.images, dataset.test.labels)
    expect(dataset.classes).toEqual(CIFAR10_CLASSES)
    expect(snapshot(root)).toEqual(before) // nothing written into the user's folder
  })

  it('accepts the parent of cifar-10-batches-bin and reads batches.meta.txt', () => {
    const names = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9']
    writeFileSync(join(folder, 'batches.meta.txt'), names.join('\n') + '\n\n')
    const dataset = loadDataset(`cifar10:${root}`)
    expect(dataset.source).toBe(folder)
    expect(dataset.classes).toEqual(names)
  })

  it('expands ~/ in the spec (a shell leaves it alone after cifar10:)', () => {
    const home = process.env.HOME
    process.env.HOME = dir
    try {
      expect(loadDataset('cifar10:~/c10').source).toBe(folder)
    } finally {
      process.env.HOME = home
    }
  })

  it('summarises counts per class and split, matching the labels written', () => {
    const summary = datasetSummarySchema.parse(summarizeDataset(loadDataset(`cifar10:${folder}`)))
    const counts = new Array(10).fill(0)
    for (const r of batches.flat()) counts[r.labels[0]]++
    expect(summary.splits.train.perClass).toEqual(counts)
    expect(summary.splits.test.count).toBe(9)
    expect(summary.mean).toHaveLength(3)
    expect(summary.mean[0]).toBeCloseTo(127.5 / 255, 1)
  })
})

describe('CIFAR-100 binary', () => {
  const folder = join(dir, 'c100', 'cifar-100-binary')
  mkdirSync(folder, { recursive: true })
  const train = randomCifarRecords(40, 2, [20, 100], 5)
  const test = randomCifarRecords(11, 2, [20, 100], 6)
  writeFileSync(join(folder, 'train.bin'), encodeCifar(train))
  writeFileSync(join(folder, 'test.bin'), encodeCifar(test))

  it('round-trips every record with fine labels', () => {
    const dataset = loadDataset(`cifar100:${join(dir, 'c100')}`)
    expect(dataset.classes).toEqual(CIFAR100_FINE_CLASSES)
    expectRoundTrip(train, 1, dataset.train.images, dataset.train.labels)
    expectRoundTrip(test, 1, dataset.test.images, dataset.test.labels)
  })

  it('reads the coarse labels on request, with coarse_label_names.txt', () => {
    const names = Array.from({ length: 20 }, (_, i) => `super${i}`)
    writeFileSync(join(folder, 'coarse_label_names.txt'), names.join('\n'))
    const dataset = loadDataset(`cifar100:${folder}?labels=coarse`)
    expect(dataset.classes).toEqual(names)
    expectRoundTrip(train, 0, dataset.train.images, dataset.train.labels)
  })
})
