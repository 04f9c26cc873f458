import type { ModelSummary, SummaryTotals } from './summary'

const int = (value: number) => Math.round(value).toLocaleString('en-US')

/** 1.23e8-style figures for large op counts, as the papers' tables print them. */
export function scientific(value: number): string {
  return value === 0 ? '0' : value.toExponential(2).replace('e+', 'e')
}

export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(2)} ${units[unit]}`
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)))
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

const shape = ([h, w, c]: number[]) => `${h}x${w}x${c}`

function totalsRows(label: string, totals: SummaryTotals): string[] {
  return [
    label,
    int(totals.binaryParams),
    int(totals.floatParams),
    scientific(totals.bops),
    scientific(totals.flops),
    scientific(totals.ops),
    humanBytes(totals.sizeBytes)
  ]
}

/**
 * The readable form of `bnas summary`: one row per stem / cell / head block (or per layer with `layers`), then the
 * totals under both accountings of the reduction residual convs.
 */
export function formatSummaryTable(summary: ModelSummary, opts: { layers?: boolean } = {}): string {
  const rows = opts.layers
    ? summary.layers
        .filter((layer) => layer.binaryParams + layer.floatParams + layer.bops + layer.flops > 0)
        .map((layer) => [
          layer.name,
          `${layer.kind}${layer.geometry ? ` ${layer.geometry}` : ''}`,
          shape(layer.output),
          int(layer.binaryParams),
          int(layer.floatParams),
          scientific(layer.bops),
          scientific(layer.flops)
        ])
    : summary.blocks.map((block) => [
        block.name,
        block.role,
        shape(block.output),
        int(block.binaryParams),
        int(block.floatParams),
        scientific(block.bops),
        scientific(block.flops)
      ])
  const header = [opts.layers ? 'layer' : 'block', 'type', 'output', '1-bit params', '32-bit params', 'BOPs', 'FLOPs']
  const totalsHeader = ['accounting', '1-bit params', '32-bit params', 'BOPs', 'FLOPs', 'OPs', 'size']
  const residual = summary.residualConvs
  return [
    table(header, rows),
    '',
    `input ${shape(summary.input)}, trainable parameters ${int(summary.trainableParams)} ` +
      `(plus ${int(summary.bufferScalars)} BN running statistics, not parameters)`,
    `OPs = BOPs/64 + FLOPs; MACs per image; size = 1 bit per binary weight + 32 bits per other parameter`,
    `${residual.count} reduction residual 2x2 convs: ${int(residual.params)} params, ${scientific(residual.macs)} MACs`,
    '',
    table(totalsHeader, [
      totalsRows('residual convs float (as run)', summary.totals),
      totalsRows('residual convs binary', summary.totalsResidualBinary)
    ])
  ].join('\n')
}
