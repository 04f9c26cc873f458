import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DEBIAN_FASHION_MNIST, loadDataset, summarizeDataset } from '../../src/main/datasets'
import { datasetSummarySchema } from '../../src/shared/datasets'

const installed = existsSync(`${DEBIAN_FASHION_MNIST}/train-images-idx3-ubyte.gz`)
if (!installed) {
  // CI installs the package (.ci/run): there a missing package is a failure, not a skip.
  if (process.env.CI) throw new Error(`CI must install Debian's dataset-fashion-mnist (${DEBIAN_FASHION_MNIST})`)
  console.warn(`SKIPPED: Fashion-MNIST tests need Debian's dataset-fashion-mnist package (${DEBIAN_FASHION_MNIST})`)
}

/*
 * Reference figures computed once, independently, with numpy 2.4 on the Debian package's files:
 *   python3 -c "import numpy as np, gzip; d='/usr/share/datasets/fashion-mnist/'
 *     rd=lambda p,o: np.frombuffer(gzip.open(d+p).read(), np.uint8, offset=o)
 *     tr=rd('train-images-idx3-ubyte.gz',16).reshape(-1,28,28); trl=rd('train-labels-idx1-ubyte.gz',8)
 *     te=rd('t10k-images-idx3-ubyte.gz',16).reshape(-1,28,28); tel=rd('t10k-labels-idx1-ubyte.gz',8)
 *     x=tr/255.0; print(x.mean(), x.std(), trl[:10], tel[:10], tr[0].sum(), tr[0,14], te[0].sum(), tr.sum(dtype=np.int64))"
 */
const REF = {
  mean: 0.286040597,
  std: 0.3530242445,
  trainLabels: [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
  testLabels: [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
  image0Sum: 76247,
  image0Row14: [
    0, 0, 1, 4, 6, 7, 2, 0, 0, 0, 0, 0, 237, 226, 217, 223, 222, 219, 222, 221, 216, 223, 229, 215, 218, 255, 77, 0
  ],
  testImage0Sum: 33456,
  trainPixelSum: 3431114169
}

describe.skipIf(!installed)('Fashion-MNIST from Debian dataset-fashion-mnist', () => {
  const dataset = loadDataset('fashion-mnist')

  it('is found without a path and has the published counts and shapes', () => {
    expect(dataset.source).toBe(DEBIAN_FASHION_MNIST)
    expect(dataset.train.count).toBe(60000)
    expect(dataset.test.count).toBe(10000)
    expect(dataset.shape).toEqual({ height: 28, width: 28, channels: 1 })
    expect(dataset.train.images.length).toBe(60000 * 784)
    expect(dataset.classes).toEqual([
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot'
    ])
  })

  it('matches pixel statistics computed independently with numpy', () => {
    const { images, labels } = dataset.train
    expect(Array.from(labels.subarray(0, 10))).toEqual(REF.trainLabels)
    expect(Array.from(dataset.test.labels.subarray(0, 10))).toEqual(REF.testLabels)
    expect(images.subarray(0, 784).reduce((a, b) => a + b, 0)).toBe(REF.image0Sum)
    expect(Array.from(images.subarray(14 * 28, 15 * 28))).toEqual(REF.image0Row14)
    expect(dataset.test.images.subarray(0, 784).reduce((a, b) => a + b, 0)).toBe(REF.testImage0Sum)
    let sum = 0
    for (let i = 0; i < images.length; i++) sum += images[i]
    expect(sum).toBe(REF.trainPixelSum)
  })

  it('summarises: 6000 per class, mean and std, one sample per class', () => {
    const summary = datasetSummarySchema.parse(summarizeDataset(dataset))
    expect(summary.splits.train.perClass).toEqual(new Array(10).fill(6000))
    expect(summary.splits.test.perClass).toEqual(new Array(10).fill(1000))
    expect(summary.inputShape).toEqual([28, 28, 1])
    expect(summary.mean[0]).toBeCloseTo(REF.mean, 9)
    expect(summary.std[0]).toBeCloseTo(REF.std, 9)
    expect(summary.samples.map((s) => s.label)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(summary.spec).toBe('fashion-mnist')
  })
})
