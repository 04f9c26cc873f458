import { join } from 'node:path'
import type { DatasetSpec } from '../../shared/datasets'
import { DatasetError } from './errors'
import { isFile, readDataFile, requireFolder, userPath } from './files'
import type { Dataset, ImageSet } from './types'

/**
 * CIFAR binary batches. A CIFAR-10 record is 1 label byte then 3072 image bytes; CIFAR-100 has a coarse and a fine
 * label byte first. The image is planar (1024 red, 1024 green, 1024 blue, rows top to bottom), which we transpose
 * to the NHWC layout the rest of the app uses.
 */

// prettier-ignore
export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'
]

// prettier-ignore
export const CIFAR100_COARSE_CLASSES = [
  'aquatic_mammals', 'fish', 'flowers', 'food_containers', 'fruit_and_vegetables', 'household_electrical_devices',
  'household_furniture', 'insects', 'large_carnivores', 'large_man-made_outdoor_things',
  'large_natural_outdoor_scenes', 'large_omnivores_and_herbivores', 'medium_mammals', 'non-insect_invertebrates',
  'people', 'reptiles', 'small_mammals', 'trees', 'vehicles_1', 'vehicles_2'
]

// prettier-ignore
export const CIFAR100_FINE_CLASSES = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle', 'bowl', 'boy',
  'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle', 'chair', 'chimpanzee', 'clock',
  'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur', 'dolphin', 'elephant', 'flatfish', 'forest',
  'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard', 'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard',
  'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain', 'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid',
  'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree', 'plain', 'plate', 'poppy', 'porcupine', 'possum',
  'rabbit', 'raccoon', 'ray', 'road', 'rocket', 'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper',
  'snail', 'snake', 'spider', 'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone',
  'television', 'tiger', 'tractor', 'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf',
  'woman', 'worm'
]

export const CIFAR_SIDE = 32
export const CIFAR_IMAGE_BYTES = CIFAR_SIDE * CIFAR_SIDE * 3

export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`)
export const CIFAR10_TEST_FILE = 'test_batch.bin'
/** The folder names inside the official tarballs; a user may point at it or at its parent. */
export const CIFAR10_FOLDER = 'cifar-10-batches-bin'
export const CIFAR100_FOLDER = 'cifar-100-binary'

interface RecordLayout {
  /** Label bytes before the image. */
  labelBytes: number
  /** Which of them is the label we keep. */
  labelOffset: number
  classCount: number
}

/** Reads the records of several files into one ImageSet, checking sizes and labels. */
export function readCifarRecords(paths: string[], layout: RecordLayout): ImageSet {
  const recordBytes = layout.labelBytes + CIFAR_IMAGE_BYTES
  const files = paths.map((path) => {
    const data = readDataFile(path)
    if (data.length === 0) throw new DatasetError(path, 'is empty')
    const extra = data.length % recordBytes
    if (extra !== 0) {
      throw new DatasetError(
        path,
        `is truncated: ${data.length} bytes is not a whole number of ${recordBytes}-byte records ` +
          `(the last record has ${extra} bytes)`
      )
    }
    return { path, data }
  })
  const count = files.reduce((n, f) => n + f.data.length / recordBytes, 0)
  const images = new Uint8Array(count * CIFAR_IMAGE_BYTES)
  const labels = new Int32Array(count)
  const plane = CIFAR_SIDE * CIFAR_SIDE
  let n = 0
  for (const { path, data } of files) {
    const records = data.length / recordBytes
    for (let r = 0; r < records; r++, n++) {
      const at = r * recordBytes
      const label = data[at + layout.labelOffset]
      if (label >= layout.classCount) {
        throw new DatasetError(path, `label ${label} of record ${r} is out of range 0..${layout.classCount - 1}`)
      }
      labels[n] = label
      // Planar CHW to interleaved HWC. Load time only, once per image: not on the batch hot path.
      const src = at + layout.labelBytes
      const dst = n * CIFAR_IMAGE_BYTES
      for (let p = 0; p < plane; p++) {
        images[dst + 3 * p] = data[src + p]
        images[dst + 3 * p + 1] = data[src + plane + p]
        images[dst + 3 * p + 2] = data[src + 2 * plane + p]
      }
    }
  }
  return { count, height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3, images, labels }
}

/** The folder holding `marker`: the given one or the official sub-folder inside it. */
function locate(folder: string, marker: string, subFolder: string): string {
  requireFolder(folder)
  if (isFile(join(folder, marker))) return folder
  if (isFile(join(folder, subFolder, marker))) return join(folder, subFolder)
  throw new DatasetError(folder, `has no ${marker} (nor ${subFolder}/${marker}); is this the CIFAR binary version?`)
}

/** Class names from a names file (one per line) when present, else the standard ones. */
function classNames(path: string, standard: string[]): string[] {
  if (!isFile(path)) return [...standard]
  const names = readDataFile(path)
    .toString('utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
  if (names.length !== standard.length) {
    throw new DatasetError(path, `lists ${names.length} class names, expected ${standard.length}`)
  }
  return names
}

function requireFiles(folder: string, names: string[]): string[] {
  return names.map((name) => {
    const path = join(folder, name)
    if (!isFile(path)) throw new DatasetError(path, 'does not exist')
    return path
  })
}

export function loadCifar10(spec: Extract<DatasetSpec, { kind: 'cifar10' }>): Dataset {
  const folder = locate(userPath(spec.path), CIFAR10_TRAIN_FILES[0], CIFAR10_FOLDER)
  const layout = { labelBytes: 1, labelOffset: 0, classCount: 10 }
  const train = readCifarRecords(requireFiles(folder, CIFAR10_TRAIN_FILES), layout)
  const test = readCifarRecords(requireFiles(folder, [CIFAR10_TEST_FILE]), layout)
  return {
    spec,
    kind: 'cifar10',
    name: 'CIFAR-10',
    source: folder,
    classes: classNames(join(folder, 'batches.meta.txt'), CIFAR10_CLASSES),
    shape: { height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3 },
    train,
    test,
    classOrdered: false
  }
}

export function loadCifar100(spec: Extract<DatasetSpec, { kind: 'cifar100' }>): Dataset {
  const folder = locate(userPath(spec.path), 'train.bin', CIFAR100_FOLDER)
  const fine = spec.labels === 'fine'
  const layout = { labelBytes: 2, labelOffset: fine ? 1 : 0, classCount: fine ? 100 : 20 }
  const train = readCifarRecords(requireFiles(folder, ['train.bin']), layout)
  const test = readCifarRecords(requireFiles(folder, ['test.bin']), layout)
  const classes = fine
    ? classNames(join(folder, 'fine_label_names.txt'), CIFAR100_FINE_CLASSES)
    : classNames(join(folder, 'coarse_label_names.txt'), CIFAR100_COARSE_CLASSES)
  return {
    spec,
    kind: 'cifar100',
    name: fine ? 'CIFAR-100' : 'CIFAR-100 (20 superclasses)',
    source: folder,
    classes,
    shape: { height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3 },
    train,
    test,
    classOrdered: false
  }
}
