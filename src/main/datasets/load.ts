import { parseDatasetSpec, type DatasetSpec } from '../../shared/datasets'
import { loadCifar10, loadCifar100 } from './cifar'
import { loadFolder } from './folder'
import { loadMnist } from './mnist'
import { loadSynthetic } from './synthetic'
import type { Dataset } from './types'

/**
 * Loads a dataset into memory from a spec (text or parsed). Throws DatasetSpecError for a bad spec and DatasetError,
 * naming the file, for bad data. Only reads: nothing is ever written into the dataset's folder.
 */
export function loadDataset(spec: string | DatasetSpec): Dataset {
  const parsed = typeof spec === 'string' ? parseDatasetSpec(spec) : spec
  switch (parsed.kind) {
    case 'cifar10':
      return loadCifar10(parsed)
    case 'cifar100':
      return loadCifar100(parsed)
    case 'mnist':
    case 'fashion-mnist':
      return loadMnist(parsed)
    case 'folder':
      return loadFolder(parsed)
    case 'synthetic':
      return loadSynthetic(parsed)
  }
}
