import { SingleBar, Presets } from 'cli-progress'
import type { Command } from 'commander'
import { loadDataset, summarizeDataset } from '../../datasets'
import { downloadCifar } from '../../datasets/download'
import type { DatasetSummary } from '../../../shared/datasets'

/** The summary as a plain-text table: what a user checks before launching a search. */
export function formatDatasetTable(summary: DatasetSummary): string {
  const [h, w, c] = summary.inputShape
  const fixed = (values: number[]): string => values.map((v) => v.toFixed(4)).join(' ')
  const lines = [
    `${summary.name}`,
    `spec     ${summary.spec}`,
    `source   ${summary.source ?? '(generated)'}`,
    `input    ${h}×${w}×${c}`,
    `classes  ${summary.classes.length}`,
    `mean     ${fixed(summary.mean)}`,
    `std      ${fixed(summary.std)}`,
    ''
  ]
  const nameWidth = Math.max(5, ...summary.classes.map((name) => name.length))
  const { train, test } = summary.splits
  const row = (name: string, a: number | string, b: number | string): string =>
    `${name.padEnd(nameWidth)}  ${String(a).padStart(7)}  ${String(b).padStart(7)}`
  lines.push(row('class', 'train', 'test'))
  summary.classes.forEach((name, k) => lines.push(row(name, train.perClass[k], test.perClass[k])))
  lines.push(row('total', train.count, test.count))
  return lines.join('\n') + '\n'
}

export function registerDatasets(program: Command): void {
  const datasets = program
    .command('datasets')
    .description(
      'inspect datasets and download CIFAR (specs: cifar10:PATH, cifar100:PATH, fashion-mnist[:PATH], mnist:PATH, folder:PATH[?size=32&fit=crop], synthetic[:N])'
    )

  datasets
    .command('inspect')
    .description('load a dataset and print its classes, counts per split, input shape, mean and std')
    .argument('<spec>', 'dataset spec, e.g. cifar10:~/data/cifar-10-batches-bin or fashion-mnist')
    .option('--json', 'print the summary as JSON (with sample images as PNG data URLs)', false)
    .option('--no-samples', 'leave the sample images out of the JSON')
    .action((spec: string, options: { json: boolean; samples: boolean }) => {
      const summary = summarizeDataset(loadDataset(spec), options.samples ? {} : { maxSamples: 0 })
      process.stdout.write(options.json ? JSON.stringify(summary, null, 2) + '\n' : formatDatasetTable(summary))
    })

  datasets
    .command('download')
    .description('download CIFAR-10 or CIFAR-100 (binary version) into a folder you name; resumes a partial download')
    .argument('<kind>', 'cifar10 or cifar100')
    .argument('<folder>', 'where to put the archive and the extracted files')
    .action(async (kind: string, folder: string) => {
      if (kind !== 'cifar10' && kind !== 'cifar100')
        throw new Error(`datasets download takes cifar10 or cifar100, got '${kind}'`)
      const bar = new SingleBar(
        { format: '{bar} {percentage}% | {mb} MB | {speed} MB/s', hideCursor: true, noTTYOutput: false },
        Presets.shades_classic
      )
      const started = Date.now()
      let barStarted = false
      try {
        const extracted = await downloadCifar(kind, folder, {
          onProgress: ({ received, total, resumedFrom }) => {
            const payload = {
              mb: (received / 1e6).toFixed(1),
              speed: ((received - resumedFrom) / 1e6 / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1)
            }
            if (!barStarted) {
              bar.start(total ?? received, received, payload)
              barStarted = true
            } else bar.update(received, payload)
          }
        })
        if (barStarted) bar.stop()
        process.stdout.write(`${kind}:${extracted}\n`)
      } finally {
        if (barStarted) bar.stop()
      }
    })
}
