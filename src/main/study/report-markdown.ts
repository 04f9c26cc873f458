import type { StudyReport } from '../../shared/study'
import { compact, summaryRows, SUMMARY_HEADER } from './report-html'

/** The report's numbers as markdown, for docs/studies: the arms table, the budget, and every number with its run. */
export function renderStudyMarkdown(report: StudyReport, options: { command?: string } = {}): string {
  const row = (cells: string[]): string => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`
  const lines: string[] = [`### Study \`${report.name}\``, '']
  if (report.description !== undefined) lines.push(report.description, '')
  lines.push(
    `Dataset \`${report.dataset}\`; ${report.completedRuns} of ${report.totalRuns} runs completed; ` +
      `${(report.seconds / 3600).toFixed(2)} h of epochs (wall clock, summed over runs).`,
    ''
  )
  if (options.command !== undefined) lines.push('```sh', options.command, '```', '')
  lines.push(row(SUMMARY_HEADER), row(SUMMARY_HEADER.map(() => '---')), ...summaryRows(report).map(row), '')
  const all = (n: number | null) => (n === null ? 'all' : String(n))
  const budget = report.arms.map((arm) => {
    const { search, train } = arm.budget
    const parts = [
      search === null
        ? null
        : `search ${search.epochs} epochs on ${all(search.images)} train images (${search.cells} cells, C = ${search.channels})`,
      train === null
        ? null
        : `training ${train.epochs} epochs on ${all(train.images)} train images, tested on ${all(train.testImages)} (${arm.trains === 'binary-resnet18' ? '' : `${train.cells} cells, `}C = ${train.channels}, lr ${train.lr})`
    ].filter((part) => part !== null)
    const done = arm.runs.filter((run) => run.status === 'completed').length
    const hours = arm.runs.reduce((sum, run) => sum + run.seconds, 0) / 3600
    return `- ${arm.name}: ${parts.join('; ')}; ${done} of ${arm.runs.length} runs completed, ${hours.toFixed(2)} h; cost ${arm.cost === null ? 'not summarised' : `${compact(arm.cost.ops)} OPs, ${compact(arm.cost.binaryParams)} binary + ${compact(arm.cost.floatParams)} float parameters`}`
  })
  lines.push('Budget per arm:', '', ...budget, '')
  const failed = report.arms.flatMap((arm) => arm.runs.filter((run) => run.status === 'failed'))
  if (failed.length > 0)
    lines.push(
      'Runs that failed (left out of the means above):',
      '',
      ...failed.map((run) => `- \`${run.runId}\`: ${run.message ?? 'no reason recorded'}`),
      ''
    )
  lines.push(
    '<details><summary>Every number with its run</summary>',
    '',
    row(['arm', 'seed', 'run', 'metric', 'value']),
    row(['---', '---', '---', '---', '---']),
    ...report.numbers.map((n) =>
      row([n.arm, String(n.seed), n.runId, n.metric, String(Number(n.value.toPrecision(6)))])
    ),
    '',
    '</details>',
    ''
  )
  return lines.join('\n')
}
