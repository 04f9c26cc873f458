import { z } from 'zod'
import { DATASET_KINDS } from './datasets'

/**
 * Which datasets this machine has, for the Datasets page: each kind, whether it was found (and its spec), and how
 * to get it where it was not. CIFAR can be downloaded from the page itself; its progress comes as events.
 */
export const foundDatasetSchema = z.object({
  kind: z.enum(DATASET_KINDS),
  name: z.string(),
  found: z.boolean(),
  /** The spec to use it by, where found. */
  spec: z.string().optional(),
  /** The folder it was found in. */
  source: z.string().optional(),
  /** How to get it (or, where found, where else it may live). */
  how: z.string(),
  /** The app can download it into its datasets folder (CIFAR): the archive's size in bytes. */
  downloadBytes: z.number().int().positive().optional()
})
export type FoundDataset = z.infer<typeof foundDatasetSchema>

export const DOWNLOADABLE = ['cifar10', 'cifar100'] as const
export type DownloadableKind = (typeof DOWNLOADABLE)[number]

/** A download's state, as events ('dataset.download') and in `datasets.found`'s reply while one runs. */
export const datasetDownloadSchema = z.object({
  kind: z.enum(DOWNLOADABLE),
  state: z.enum(['downloading', 'checking', 'extracting', 'done', 'failed']),
  /** Bytes of the archive on disk, a resumed part included. */
  received: z.number().int().nonnegative(),
  total: z.number().int().nonnegative().nullable(),
  /** Bytes that were there from an interrupted download (resumed with an HTTP Range request). */
  resumedFrom: z.number().int().nonnegative(),
  /** Where it goes; when done, the spec to use it by. */
  folder: z.string(),
  spec: z.string().optional(),
  message: z.string().optional()
})
export type DatasetDownload = z.infer<typeof datasetDownloadSchema>

export const datasetsFoundSchema = z.object({
  /** Where the app looks for datasets and puts downloads (BNAS_DATASETS_DIR, else ~/.bnas-studio/datasets). */
  root: z.string(),
  /** The real dataset to start from (the fastest to search on of those found), or synthetic data where none is. */
  recommended: z.string(),
  datasets: z.array(foundDatasetSchema),
  downloads: z.array(datasetDownloadSchema)
})
export type DatasetsFound = z.infer<typeof datasetsFoundSchema>
