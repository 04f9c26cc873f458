import { z } from 'zod'

/**
 * Naming a dataset, the same way everywhere: command line, contract, run config.
 *
 *   cifar10:PATH                 folder holding data_batch_1.bin ... test_batch.bin (or its parent)
 *   cifar100:PATH[?labels=coarse] folder holding train.bin and test.bin (fine labels unless asked)
 *   fashion-mnist[:PATH]         IDX files, gzipped or not; without PATH Debian's dataset-fashion-mnist package
 *   mnist:PATH                   IDX files, gzipped or not
 *   folder:PATH[?size=32&fit=stretch&channels=3&test=0.2&seed=0]
 *                                one sub-folder per class (or train/ and test/ each holding them), PNG and JPEG;
 *                                fit=stretch squeezes each image to size×size, fit=crop keeps its aspect ratio and
 *                                takes the centred square (what torchvision's Resize(s) + CenterCrop(s) gives)
 *   synthetic[:N][?seed=0&size=32&channels=3&classes=10]
 *                                N train images (default 2000) plus N/5 test images, generated from the seed
 *
 * Options follow the last `?` as key=value pairs joined by `&`. Only the keys listed for a kind are accepted, so a
 * typo fails here rather than silently falling back to a default. This module is pure (no node imports): the
 * renderer validates what the user types with the same parser the engine uses.
 */

export const DATASET_KINDS = ['cifar10', 'cifar100', 'fashion-mnist', 'mnist', 'folder', 'synthetic'] as const
export type DatasetKind = (typeof DATASET_KINDS)[number]

export type DatasetSpec =
  | { kind: 'cifar10'; path: string }
  | { kind: 'cifar100'; path: string; labels: 'fine' | 'coarse' }
  | { kind: 'fashion-mnist'; path?: string }
  | { kind: 'mnist'; path: string }
  | {
      kind: 'folder'
      path: string
      size: number
      fit: FolderFit
      channels: 1 | 3
      testFraction: number
      seed: number
    }
  | { kind: 'synthetic'; count: number; seed: number; size: number; channels: 1 | 3; classes: number }

/** For a dataset picker: a label, whether the kind takes a folder, and an example spec. */
export const DATASET_KIND_INFO: Record<
  DatasetKind,
  { label: string; folder: 'required' | 'optional' | 'none'; example: string }
> = {
  cifar10: { label: 'CIFAR-10 (binary version)', folder: 'required', example: 'cifar10:~/data/cifar-10-batches-bin' },
  cifar100: { label: 'CIFAR-100 (binary version)', folder: 'required', example: 'cifar100:~/data/cifar-100-binary' },
  'fashion-mnist': { label: 'Fashion-MNIST (IDX)', folder: 'optional', example: 'fashion-mnist' },
  mnist: { label: 'MNIST (IDX)', folder: 'required', example: 'mnist:~/data/mnist' },
  folder: {
    label: 'Image folder (one sub-folder per class)',
    folder: 'required',
    example: 'folder:~/photos?size=32&fit=crop'
  },
  synthetic: { label: 'Synthetic stripes (generated)', folder: 'none', example: 'synthetic:2000?seed=0' }
}

/** How an image folder's pictures of other shapes become squares: squeezed whole, or their centred square. */
export const FOLDER_FITS = ['stretch', 'crop'] as const
export type FolderFit = (typeof FOLDER_FITS)[number]

export const SYNTHETIC_DEFAULT_COUNT = 2000
export const FOLDER_DEFAULT_SIZE = 32
export const FOLDER_DEFAULT_TEST_FRACTION = 0.2

/** The spec text could not be understood; the message says exactly what to change. */
export class DatasetSpecError extends Error {
  constructor(
    readonly spec: string,
    readonly problem: string
  ) {
    super(`invalid dataset spec '${spec}': ${problem}`)
    this.name = 'DatasetSpecError'
  }
}

const KIND_HELP =
  'expected one of cifar10:PATH, cifar100:PATH, fashion-mnist[:PATH], mnist:PATH, folder:PATH, synthetic[:N]'

const OPTION_KEYS: Record<DatasetKind, readonly string[]> = {
  cifar10: [],
  cifar100: ['labels'],
  'fashion-mnist': [],
  mnist: [],
  folder: ['size', 'fit', 'channels', 'test', 'seed'],
  synthetic: ['seed', 'size', 'channels', 'classes']
}

/** Reads `key=v&k2=v2`; undefined when the text is not such a list (a '?' that belongs to a path). */
function readOptions(text: string): Map<string, string> | undefined {
  const options = new Map<string, string>()
  for (const pair of text.split('&')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) return undefined
    options.set(pair.slice(0, eq), pair.slice(eq + 1))
  }
  return options
}

function integerOption(spec: string, key: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new DatasetSpecError(spec, `option ${key} must be an integer, got '${value}'`)
  const n = Number(value)
  if (n < min || n > max) throw new DatasetSpecError(spec, `option ${key} must be between ${min} and ${max}, got ${n}`)
  return n
}

function channelsOption(spec: string, value: string): 1 | 3 {
  if (value === '1') return 1
  if (value === '3') return 3
  throw new DatasetSpecError(spec, `option channels must be 1 or 3, got '${value}'`)
}

/** Parses a dataset spec; throws DatasetSpecError with the exact problem. */
export function parseDatasetSpec(text: string): DatasetSpec {
  const spec = text.trim()
  if (spec === '') throw new DatasetSpecError(text, `empty; ${KIND_HELP}`)
  const cut = spec.search(/[:?]/)
  const kindText = cut < 0 ? spec : spec.slice(0, cut)
  const hasBody = cut >= 0 && spec[cut] === ':'
  let path = ''
  let opts: Map<string, string> | undefined
  if (cut >= 0 && spec[cut] === '?') {
    // synthetic?seed=3: options straight after the kind must be options.
    opts = readOptions(spec.slice(cut + 1))
    if (!opts) throw new DatasetSpecError(text, `cannot read options '${spec.slice(cut + 1)}': expected key=value&...`)
  } else if (hasBody) {
    const rest = spec.slice(cut + 1)
    const at = rest.lastIndexOf('?')
    opts = at < 0 ? undefined : readOptions(rest.slice(at + 1))
    path = opts ? rest.slice(0, at) : rest
  }
  const kind = DATASET_KINDS.find((k) => k === kindText.toLowerCase())
  if (!kind) throw new DatasetSpecError(text, `unknown dataset kind '${kindText}'; ${KIND_HELP}`)
  const allowed = OPTION_KEYS[kind]
  for (const key of opts?.keys() ?? []) {
    if (!allowed.includes(key)) {
      const accepted = allowed.length ? `accepted: ${allowed.join(', ')}` : `${kind} takes no options`
      throw new DatasetSpecError(text, `unknown option '${key}' for ${kind} (${accepted})`)
    }
  }
  const get = (key: string): string | undefined => opts?.get(key)
  const needPath = (): string => {
    if (path === '') throw new DatasetSpecError(text, `${kind} needs a folder: ${kind}:PATH`)
    return path
  }

  switch (kind) {
    case 'cifar10':
      return { kind, path: needPath() }
    case 'cifar100': {
      const labels = get('labels') ?? 'fine'
      if (labels !== 'fine' && labels !== 'coarse') {
        throw new DatasetSpecError(text, `option labels must be fine or coarse, got '${labels}'`)
      }
      return { kind, path: needPath(), labels }
    }
    case 'mnist':
      return { kind, path: needPath() }
    case 'fashion-mnist':
      return path === '' ? { kind } : { kind, path }
    case 'folder': {
      const testText = get('test')
      let testFraction = FOLDER_DEFAULT_TEST_FRACTION
      if (testText !== undefined) {
        testFraction = Number(testText)
        if (!/^\d*\.?\d+$/.test(testText) || !(testFraction >= 0 && testFraction < 1)) {
          throw new DatasetSpecError(text, `option test must be a fraction in [0, 1), got '${testText}'`)
        }
      }
      const fit = get('fit') ?? 'stretch'
      if (fit !== 'stretch' && fit !== 'crop')
        throw new DatasetSpecError(text, `option fit must be stretch or crop, got '${fit}'`)
      return {
        kind,
        path: needPath(),
        size: integerOption(text, 'size', get('size') ?? String(FOLDER_DEFAULT_SIZE), 4, 1024),
        fit,
        channels: channelsOption(text, get('channels') ?? '3'),
        testFraction,
        seed: integerOption(text, 'seed', get('seed') ?? '0', 0, 2 ** 31 - 1)
      }
    }
    case 'synthetic': {
      const count = path === '' ? SYNTHETIC_DEFAULT_COUNT : integerOption(text, 'N', path, 10, 1_000_000)
      const classes = integerOption(text, 'classes', get('classes') ?? '10', 2, 10)
      return {
        kind,
        count,
        seed: integerOption(text, 'seed', get('seed') ?? '0', 0, 2 ** 31 - 1),
        size: integerOption(text, 'size', get('size') ?? '32', 8, 256),
        channels: channelsOption(text, get('channels') ?? '3'),
        classes
      }
    }
  }
}

/** The canonical text of a spec: parseDatasetSpec(formatDatasetSpec(s)) deep-equals s. Defaults are left out. */
export function formatDatasetSpec(spec: DatasetSpec): string {
  const withOptions = (base: string, options: [string, string | number, string | number][]): string => {
    const kept = options.filter(([, value, fallback]) => String(value) !== String(fallback))
    return kept.length ? `${base}?${kept.map(([k, v]) => `${k}=${v}`).join('&')}` : base
  }
  switch (spec.kind) {
    case 'cifar10':
    case 'mnist':
      return `${spec.kind}:${spec.path}`
    case 'cifar100':
      return withOptions(`cifar100:${spec.path}`, [['labels', spec.labels, 'fine']])
    case 'fashion-mnist':
      return spec.path === undefined ? 'fashion-mnist' : `fashion-mnist:${spec.path}`
    case 'folder':
      return withOptions(`folder:${spec.path}`, [
        ['size', spec.size, FOLDER_DEFAULT_SIZE],
        ['fit', spec.fit, 'stretch'],
        ['channels', spec.channels, 3],
        ['test', spec.testFraction, FOLDER_DEFAULT_TEST_FRACTION],
        ['seed', spec.seed, 0]
      ])
    case 'synthetic':
      return withOptions(`synthetic:${spec.count}`, [
        ['seed', spec.seed, 0],
        ['size', spec.size, 32],
        ['channels', spec.channels, 3],
        ['classes', spec.classes, 10]
      ])
  }
}

/** Validation for a spec string crossing a process boundary: the same messages as parseDatasetSpec. */
export const datasetSpecStringSchema = z.string().superRefine((value, ctx) => {
  try {
    parseDatasetSpec(value)
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) })
  }
})

/** Per-split figures of the summary. */
export const datasetSplitSummarySchema = z.object({
  count: z.number().int().nonnegative(),
  /** Images per class, indexed like `classes`. */
  perClass: z.array(z.number().int().nonnegative())
})

/**
 * A sample image for the UI. `dataUrl` is a PNG `data:image/png;base64,...` URL at the dataset's input size, so a
 * Vue page shows it with `<img :src="sample.dataUrl">` (the CSP needs `img-src data:`); scale it up with CSS
 * `image-rendering: pixelated`.
 */
export const datasetSampleSchema = z.object({
  split: z.enum(['train', 'test']),
  index: z.number().int().nonnegative(),
  label: z.number().int().nonnegative(),
  className: z.string(),
  dataUrl: z.string().startsWith('data:image/png;base64,')
})

export const datasetSummarySchema = z.object({
  /** The canonical spec text (formatDatasetSpec). */
  spec: z.string(),
  kind: z.enum(DATASET_KINDS),
  /** Human name, e.g. "CIFAR-10". */
  name: z.string(),
  /** Where the data was read from (absolute folder), or null for synthetic data. */
  source: z.string().nullable(),
  classes: z.array(z.string()).min(2),
  /** [height, width, channels] of one image (NHWC without N). */
  inputShape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
  splits: z.object({ train: datasetSplitSummarySchema, test: datasetSplitSummarySchema }),
  /** Per-channel mean and standard deviation of the train images, pixels scaled to [0, 1]. */
  mean: z.array(z.number()),
  std: z.array(z.number()),
  samples: z.array(datasetSampleSchema)
})

export type DatasetSplitSummary = z.infer<typeof datasetSplitSummarySchema>
export type DatasetSample = z.infer<typeof datasetSampleSchema>
export type DatasetSummary = z.infer<typeof datasetSummarySchema>
