import { readdirSync } from 'node:fs'
import { extname, join } from 'node:path'
import type { DatasetSpec } from '../../shared/datasets'
import { DatasetError } from './errors'
import { fsProblem, isFile, isFolder, readDataFile, requireFolder, userPath } from './files'
import { decodeImage, resizeInto } from './images'
import { Rng } from './rng'
import type { Dataset, ImageSet } from './types'

/**
 * An image folder: one sub-folder per class holding PNG and JPEG files of any size, like torchvision's ImageFolder;
 * each is stretched to the square or, with fit=crop, its centred square is taken (see resizeInto).
 * Either PATH/<class>/* (a seeded, per-class share is held out as the test set) or PATH/train/<class>/* with
 * PATH/test/<class>/* (or val/). Classes are the sub-folder names in code-point order; hidden entries and files
 * without a .png/.jpg/.jpeg extension are ignored, so a stray README or .DS_Store does not break a dataset.
 */

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg'])

type FolderSpec = Extract<DatasetSpec, { kind: 'folder' }>

function list(folder: string): string[] {
  try {
    return readdirSync(folder)
      .filter((name) => !name.startsWith('.'))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  } catch (error) {
    throw fsProblem(folder, error)
  }
}

/** Class name to its image files, checking each class has at least one. */
function scanClasses(folder: string): Map<string, string[]> {
  const classes = list(folder).filter((name) => isFolder(join(folder, name)))
  if (classes.length === 0) {
    throw new DatasetError(
      folder,
      'has no class sub-folders: expected one sub-folder per class holding PNG or JPEG files'
    )
  }
  const out = new Map<string, string[]>()
  for (const name of classes) {
    const classFolder = join(folder, name)
    const files = list(classFolder)
      .filter((file) => IMAGE_EXTENSIONS.has(extname(file).toLowerCase()))
      .map((file) => join(classFolder, file))
      .filter(isFile)
    if (files.length === 0) throw new DatasetError(classFolder, 'is an empty class folder: no PNG or JPEG images in it')
    out.set(name, files)
  }
  return out
}

function decodeAll(files: { path: string; label: number }[], spec: FolderSpec): ImageSet {
  const shape = { height: spec.size, width: spec.size, channels: spec.channels }
  const imageBytes = spec.size * spec.size * spec.channels
  const images = new Uint8Array(files.length * imageBytes)
  const labels = new Int32Array(files.length)
  files.forEach(({ path, label }, i) => {
    resizeInto(decodeImage(path, readDataFile(path)), spec.size, spec.channels, images, i * imageBytes, spec.fit)
    labels[i] = label
  })
  return { ...shape, count: files.length, images, labels }
}

export function loadFolder(spec: FolderSpec): Dataset {
  const root = userPath(spec.path)
  requireFolder(root)
  const trainRoot = join(root, 'train')
  const testRoot = ['test', 'val'].map((name) => join(root, name)).find(isFolder)
  const split = isFolder(trainRoot) && testRoot !== undefined
  const train: { path: string; label: number }[] = []
  const test: { path: string; label: number }[] = []
  let classes: string[]
  if (split) {
    const trainClasses = scanClasses(trainRoot)
    classes = [...trainClasses.keys()]
    classes.forEach((name, label) => trainClasses.get(name)!.forEach((path) => train.push({ path, label })))
    for (const [name, files] of scanClasses(testRoot)) {
      const label = classes.indexOf(name)
      if (label < 0) throw new DatasetError(join(testRoot, name), `is a class that ${trainRoot} does not have`)
      files.forEach((path) => test.push({ path, label }))
    }
  } else {
    const found = scanClasses(root)
    classes = [...found.keys()]
    const rng = new Rng(spec.seed)
    classes.forEach((name, label) => {
      // Per class, so every class keeps its share of the test set; shuffled, so it is not the alphabetical tail.
      const files = found.get(name)!
      const order = rng.shuffle(files.map((_, i) => i))
      const held = Math.round(files.length * spec.testFraction)
      const heldOut = new Set(order.slice(0, Math.min(held, files.length - 1)))
      files.forEach((path, i) => (heldOut.has(i) ? test : train).push({ path, label }))
    })
  }
  if (classes.length < 2)
    throw new DatasetError(split ? trainRoot : root, `has only one class sub-folder (${classes[0]})`)
  return {
    spec,
    kind: 'folder',
    name: `Image folder ${root}`,
    source: root,
    classes,
    shape: { height: spec.size, width: spec.size, channels: spec.channels },
    train: decodeAll(train, spec),
    test: decodeAll(test, spec),
    classOrdered: true
  }
}
