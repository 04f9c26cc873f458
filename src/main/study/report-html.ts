import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { OP_LABELS, isOpName } from '../../shared/genotype'
import type { StudyReport, Stats } from '../../shared/study'

/**
 * The study report as one standalone HTML file: ECharts inlined (it opens offline, from an e-mail or a USB stick),
 * the report's JSON inside it, the same plots as the app's Studies page, and a table of every number with its run.
 */

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** JSON safe inside a <script> element: no '</script>' or '<!--' can appear. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')

export const percent = (value: number): string => `${(value * 100).toFixed(2)} %`
export const meanStd = (stats: Stats | null, format = percent): string =>
  stats === null ? '—' : `${format(stats.mean)} ± ${format(stats.std)} (n = ${stats.n})`
export const compact = (value: number): string =>
  value >= 1e9
    ? `${(value / 1e9).toFixed(3)} G`
    : value >= 1e6
      ? `${(value / 1e6).toFixed(3)} M`
      : value >= 1e3
        ? `${(value / 1e3).toFixed(2)} k`
        : value.toFixed(0)

async function echartsSource(): Promise<string> {
  const require = createRequire(import.meta.url)
  return readFile(require.resolve('echarts/dist/echarts.min.js'), 'utf8')
}

function genotypeTable(genotype: unknown): string {
  const g = genotype as { normal?: Array<[string, number]>; reduce?: Array<[string, number]> } | null
  if (g === null || typeof g !== 'object') return '<p class="muted">no genotype</p>'
  const cell = (name: string, edges: Array<[string, number]> | undefined): string => {
    if (!Array.isArray(edges)) return ''
    const rows = edges
      .map(([op, input], i) => {
        const label = isOpName(op) ? OP_LABELS[op] : op
        const free = ['none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect'].includes(op)
        const from = input === 0 ? 'c<sub>k-2</sub>' : input === 1 ? 'c<sub>k-1</sub>' : String(input - 2)
        return `<tr${free ? ' class="free"' : ''}><td>${Math.floor(i / 2)}</td><td>${from}</td><td>${escapeHtml(label)}</td></tr>`
      })
      .join('')
    return `<table class="cell"><caption>${name}</caption><tr><th>node</th><th>from</th><th>op</th></tr>${rows}</table>`
  }
  return `<div class="cells">${cell('normal', g.normal)}${cell('reduction', g.reduce)}</div>`
}

export function summaryRows(report: StudyReport): string[][] {
  return report.arms.map((arm) => [
    arm.name,
    arm.trains ?? '—',
    arm.seeds.join(', '),
    meanStd(arm.finalAccuracy),
    meanStd(arm.bestAccuracy),
    meanStd(arm.searchAccuracy),
    arm.cost === null ? '—' : compact(arm.cost.ops),
    arm.entropy.length === 0 ? '—' : arm.entropy[arm.entropy.length - 1]!.mean.toFixed(3),
    arm.paramFreeShare.length === 0 ? '—' : percent(arm.paramFreeShare[arm.paramFreeShare.length - 1]!.mean),
    arm.zeroiseShare.length === 0 ? '—' : percent(arm.zeroiseShare[arm.zeroiseShare.length - 1]!.mean),
    arm.parseDifference.length === 0 ? '—' : percent(arm.parseDifference[arm.parseDifference.length - 1]!.mean)
  ])
}

export const SUMMARY_HEADER = [
  'arm',
  'trains',
  'seeds',
  'final test accuracy',
  'best test accuracy',
  'search validation accuracy',
  'OPs',
  'final α entropy',
  'parameter-free share (last epoch)',
  'Zeroise share (last epoch)',
  'edges the DARTS parse changes (last epoch)'
]

export async function renderStudyHtml(report: StudyReport): Promise<string> {
  const table = (header: string[], rows: string[][]): string =>
    `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
      .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`)
      .join('')}</tbody></table>`
  const numbers = table(
    ['arm', 'seed', 'run', 'metric', 'value'],
    report.numbers.map((n) => [n.arm, String(n.seed), n.runId, n.metric, String(n.value)])
  )
  const genotypes = report.arms
    .map(
      (arm) =>
        `<section class="arm-genotypes"><h3>${escapeHtml(arm.name)}</h3><div class="side">${arm.genotypes
          .map(
            (entry) =>
              `<div class="genotype"><h4>seed ${entry.seed} <span class="muted">${escapeHtml(entry.runId)}</span></h4>${genotypeTable(entry.genotype)}</div>`
          )
          .join('')}</div></section>`
    )
    .join('')
  const hours = report.seconds / 3600
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Study ${escapeHtml(report.name)}: BNAS Studio</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1d2330}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}h3{font-size:15px}h4{font-size:13px;margin:4px 0}
.muted{color:#6b7280;font-weight:400}table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #d6dae1;padding:3px 8px;text-align:left}th{background:#f3f5f8}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}.chart{height:320px}
.side{display:flex;flex-wrap:wrap;gap:16px}.cells{display:flex;gap:8px}table.cell caption{font-weight:600;text-align:left}
tr.free td{color:#9a3412}
</style></head><body>
<h1>Study ${escapeHtml(report.name)}</h1>
${report.description === undefined ? '' : `<p>${escapeHtml(report.description)}</p>`}
<p class="muted">Dataset ${escapeHtml(report.dataset)} · ${report.completedRuns} of ${report.totalRuns} runs completed · ${hours.toFixed(2)} h of epochs · generated ${escapeHtml(report.generatedAt)} by BNAS Studio</p>
<h2>Arms</h2>
${table(SUMMARY_HEADER, summaryRows(report))}
<p class="muted">Accuracy: mean ± sample standard deviation over the seeds whose run completed. OPs = BOPs/64 + FLOPs of the trained network.</p>
<h2>Plots</h2>
<div class="charts">
<div class="chart" id="accuracy-ops"></div><div class="chart" id="train-curve"></div>
<div class="chart" id="search-curve"></div><div class="chart" id="entropy"></div>
<div class="chart" id="param-free"></div><div class="chart" id="param-free-normal"></div>
<div class="chart" id="zeroise"></div><div class="chart" id="parse-difference"></div>
</div>
<h2>Genotypes</h2>
<p class="muted">Parameter-free ops (Zeroise, pools) in orange.</p>
${genotypes}
<h2>Every number</h2>
${numbers}
<script type="application/json" id="report">${scriptJson(report)}</script>
<script>${(await echartsSource()).replace(/<\/script/gi, '<\\/script')}</script>
<script>${CHART_SCRIPT}</script>
</body></html>
`
}

/** Runs in the HTML file: the same charts as the app page, drawn from the embedded report. */
const CHART_SCRIPT = `
(function () {
  var report = JSON.parse(document.getElementById('report').textContent);
  var colors = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];
  function band(id, title, key, yName, pct) {
    var series = [];
    report.arms.forEach(function (arm, i) {
      var points = arm[key];
      if (points.length === 0) return;
      var color = colors[i % colors.length];
      series.push({ name: arm.name, type: 'line', data: points.map(function (p) { return [p.epoch, p.mean]; }),
        lineStyle: { color: color, width: 2 }, itemStyle: { color: color }, showSymbol: points.length < 30 });
      series.push({ name: arm.name + ' min', type: 'line', stack: arm.name + key, data: points.map(function (p) { return [p.epoch, p.min]; }),
        lineStyle: { opacity: 0 }, showSymbol: false, tooltip: { show: false } });
      series.push({ name: arm.name + ' band', type: 'line', stack: arm.name + key, data: points.map(function (p) { return [p.epoch, p.max - p.min]; }),
        lineStyle: { opacity: 0 }, showSymbol: false, areaStyle: { color: color, opacity: 0.15 }, tooltip: { show: false } });
    });
    // A study without searches (or without trainings) has nothing to draw here: leave the chart out.
    if (series.length === 0) { document.getElementById(id).style.display = 'none'; return; }
    echarts.init(document.getElementById(id)).setOption({
      title: { text: title, left: 0, textStyle: { fontSize: 13 } }, animation: false,
      tooltip: { trigger: 'axis' }, legend: { top: 24, left: 0, data: report.arms.map(function (a) { return a.name; }) },
      grid: { left: 56, right: 16, top: 76, bottom: 36 },
      xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 22, minInterval: 1, min: 'dataMin' },
      yAxis: { type: 'value', name: yName, scale: !pct, axisLabel: pct ? { formatter: function (v) { return Math.round(v * 100) + '%'; } } : {} },
      series: series
    });
  }
  var scatter = report.arms.map(function (arm, i) {
    var data = arm.costBySeed.map(function (entry) {
      var n = report.numbers.find(function (x) { return x.runId === entry.runId && x.metric === 'final test accuracy'; });
      return n ? [entry.cost.ops, n.value, entry.seed] : null;
    }).filter(Boolean);
    return { name: arm.name, type: 'scatter', data: data, symbolSize: 10, itemStyle: { color: colors[i % colors.length] } };
  });
  echarts.init(document.getElementById('accuracy-ops')).setOption({
    title: { text: 'Final test accuracy vs OPs (one point per seed)', left: 0, textStyle: { fontSize: 13 } }, animation: false,
    tooltip: { formatter: function (p) { return p.seriesName + ', seed ' + p.value[2] + ': ' + (p.value[1] * 100).toFixed(2) + '% at ' + (p.value[0] / 1e6).toFixed(3) + ' M OPs'; } },
    legend: { top: 24, left: 0 }, grid: { left: 56, right: 16, top: 76, bottom: 36 },
    xAxis: { type: 'value', name: 'OPs', nameLocation: 'middle', nameGap: 22, scale: true },
    yAxis: { type: 'value', name: 'accuracy', scale: true, axisLabel: { formatter: function (v) { return Math.round(v * 100) + '%'; } } },
    series: scatter
  });
  band('train-curve', 'Training: test accuracy per epoch (mean, min–max over seeds)', 'trainCurve', 'accuracy', true);
  band('search-curve', 'Search: validation accuracy per epoch', 'searchCurve', 'accuracy', true);
  band('entropy', 'Search: mean α entropy H̄ per epoch', 'entropy', 'H̄', false);
  band('param-free', 'Parameter-free ops in the derived cells (both)', 'paramFreeShare', 'share', true);
  band('param-free-normal', 'Parameter-free ops in the derived normal cell', 'paramFreeShareNormal', 'share', true);
  band('zeroise', 'Zeroise in the derived cells (both)', 'zeroiseShare', 'share', true);
  band('parse-difference', 'Edges the DARTS parse (no Zeroise) changes', 'parseDifference', 'share', true);
})();
`
