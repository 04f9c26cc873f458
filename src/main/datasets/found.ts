import { join } from 'node:path'
import { DATASET_KIND_INFO, type DatasetKind } from '../../shared/datasets'
import type { FoundDataset } from '../../shared/datasets-found'
import { CIFAR_ARCHIVES } from './download'
import { isFile } from './files'
import { DEBIAN_FASHION_MNIST, findPart } from './mnist'

/**
 * Which datasets this machine has, without loading any: Debian's Fashion-MNIST, and what sits in the app's datasets
 * folder (where the page's downloads go) under the names the archives unpack to. Only file names are checked, so it
 * is cheap enough for every page visit; reading a found dataset may still fail, and then says why.
 */

/** The order a first run prefers: real data, the fastest to search on first (28×28×1 before 32×32×3). */
const PREFERENCE: DatasetKind[] = ['fashion-mnist', 'cifar10', 'mnist', 'cifar100']

/** The archives' sizes, for the download button (cs.toronto.edu's files, whose MD5 download.ts checks). */
const ARCHIVE_BYTES = { cifar10: 162_167_487, cifar100: 169_168_619 } as const

function hasIdx(folder: string): boolean {
  try {
    for (const part of ['train-images', 'train-labels', 't10k-images', 't10k-labels'] as const) findPart(folder, part)
    return true
  } catch {
    return false
  }
}

function hasCifar(folder: string, kind: 'cifar10' | 'cifar100'): boolean {
  return CIFAR_ARCHIVES[kind].members.every((member) => isFile(join(folder, member)))
}

export function findDatasets(root: string): FoundDataset[] {
  const name = (kind: DatasetKind): string => DATASET_KIND_INFO[kind].label
  const out: FoundDataset[] = []

  const fashionHere = join(root, 'fashion-mnist')
  const fashion = [DEBIAN_FASHION_MNIST, fashionHere].find(hasIdx)
  out.push({
    kind: 'fashion-mnist',
    name: name('fashion-mnist'),
    found: fashion !== undefined,
    ...(fashion === undefined
      ? {}
      : { spec: fashion === DEBIAN_FASHION_MNIST ? 'fashion-mnist' : `fashion-mnist:${fashion}`, source: fashion }),
    how:
      'Debian and Ubuntu: `sudo apt-get install dataset-fashion-mnist` (found by itself); elsewhere put the four IDX ' +
      `files of github.com/zalandoresearch/fashion-mnist in ${fashionHere}`
  })

  for (const kind of ['cifar10', 'cifar100'] as const) {
    const folder = join(root, CIFAR_ARCHIVES[kind].folder)
    const found = hasCifar(folder, kind)
    const mb = Math.round(ARCHIVE_BYTES[kind] / 1e6)
    out.push({
      kind,
      name: name(kind),
      found,
      ...(found ? { spec: `${kind}:${folder}`, source: folder } : {}),
      how: found
        ? `downloaded into ${folder}`
        : `download it here (${mb} MB, checked against its MD5, resumed if interrupted), or run ` +
          `\`bnas datasets download ${kind} ${root}\`, or unpack ${CIFAR_ARCHIVES[kind].fileName} yourself and name ` +
          `its folder: ${kind}:/path/to/${CIFAR_ARCHIVES[kind].folder}`,
      ...(found ? {} : { downloadBytes: ARCHIVE_BYTES[kind] })
    })
  }

  const mnist = join(root, 'mnist')
  const hasMnist = hasIdx(mnist)
  out.push({
    kind: 'mnist',
    name: name('mnist'),
    found: hasMnist,
    ...(hasMnist ? { spec: `mnist:${mnist}`, source: mnist } : {}),
    how: `put the four IDX files (train-images-idx3-ubyte.gz and the rest, gzipped or not) in ${mnist}, or name any folder holding them: mnist:PATH`
  })

  out.push({
    kind: 'folder',
    name: name('folder'),
    found: false,
    how: 'any folder with one sub-folder of PNG or JPEG images per class: folder:PATH (add ?fit=crop to keep aspect ratios)'
  })
  out.push({
    kind: 'synthetic',
    name: name('synthetic'),
    found: true,
    spec: 'synthetic:2000',
    how: 'generated on the spot: stripes whose direction is the class, for trying the app without data'
  })
  return out
}

/** The dataset to start from: the preferred real one found, else synthetic data. */
export function recommendedDataset(found: FoundDataset[]): FoundDataset {
  for (const kind of PREFERENCE) {
    const entry = found.find((d) => d.kind === kind && d.found)
    if (entry) return entry
  }
  return found.find((d) => d.kind === 'synthetic')!
}
