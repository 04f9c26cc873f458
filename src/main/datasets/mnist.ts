import { join } from 'node:path'
import type { DatasetSpec } from '../../shared/datasets'
import { DatasetError } from './errors'
import { isFile, requireFolder, userPath } from './files'
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, readIdx } from './idx'
import type { Dataset, ImageSet } from './types'

/** Where Debian's `dataset-fashion-mnist` package puts the four gzipped IDX files. */
export const DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist'

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
export const FASHION_MNIST_CLASSES = [
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
]

type Part = 'train-images' | 'train-labels' | 't10k-images' | 't10k-labels'

/** The official names use a dash (train-images-idx3-ubyte); some mirrors a dot; either may be gzipped. */
export function findPart(folder: string, part: Part): string {
  const idx = part.endsWith('images') ? 'idx3-ubyte' : 'idx1-ubyte'
  const names = [`${part}-${idx}`, `${part}.${idx}`].flatMap((n) => [n, `${n}.gz`])
  for (const name of names) {
    const path = join(folder, name)
    if (isFile(path)) return path
  }
  throw new DatasetError(folder, `has no ${names[0]} (nor ${names.slice(1).join(', ')})`)
}

function readSplit(folder: string, prefix: 'train' | 't10k', classCount: number): ImageSet {
  const imagesPath = findPart(folder, `${prefix}-images`)
  const labelsPath = findPart(folder, `${prefix}-labels`)
  const images = readIdx(imagesPath, IDX_IMAGES_MAGIC)
  const labels = readIdx(labelsPath, IDX_LABELS_MAGIC)
  const [count, height, width] = images.dims
  if (labels.dims[0] !== count) {
    throw new DatasetError(labelsPath, `holds ${labels.dims[0]} labels but ${imagesPath} holds ${count} images`)
  }
  const out = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]
    if (label >= classCount) {
      throw new DatasetError(labelsPath, `label ${label} of item ${i} is out of range 0..${classCount - 1}`)
    }
    out[i] = label
  }
  return { count, height, width, channels: 1, images: images.data, labels: out }
}

/** Loads MNIST or Fashion-MNIST from a folder of IDX files; Fashion-MNIST defaults to Debian's package. */
export function loadMnist(spec: Extract<DatasetSpec, { kind: 'mnist' | 'fashion-mnist' }>): Dataset {
  const fashion = spec.kind === 'fashion-mnist'
  if (spec.path === undefined && !isFile(join(DEBIAN_FASHION_MNIST, 'train-images-idx3-ubyte.gz'))) {
    throw new DatasetError(
      DEBIAN_FASHION_MNIST,
      "does not hold Fashion-MNIST: install Debian's dataset-fashion-mnist package or name a folder, fashion-mnist:PATH"
    )
  }
  const folder = userPath(spec.path ?? DEBIAN_FASHION_MNIST)
  requireFolder(folder)
  const classes = fashion ? FASHION_MNIST_CLASSES : MNIST_CLASSES
  const train = readSplit(folder, 'train', classes.length)
  const test = readSplit(folder, 't10k', classes.length)
  if (test.height !== train.height || test.width !== train.width) {
    throw new DatasetError(
      folder,
      `test images are ${test.height}×${test.width} but train images are ${train.height}×${train.width}`
    )
  }
  return {
    spec,
    kind: spec.kind,
    name: fashion ? 'Fashion-MNIST' : 'MNIST',
    source: folder,
    classes: [...classes],
    shape: { height: train.height, width: train.width, channels: 1 },
    train,
    test,
    classOrdered: false
  }
}
