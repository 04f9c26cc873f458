// The addon's three conv kernels on the search's conv shapes, one build or several side by side (oneDNN and the own
// kernels): median CPU ms per call (this process, all threads) of 7 rounds of 5 calls, after one warm-up call. CPU
// time rather than the wall clock: on a shared machine it moves far less with other processes' load.
//
//   node native/bench/convs.mjs native/build/Release/bnas_native.node native/build-own/build/Release/bnas_native.node
//   BNAS_BENCH_THREADS=2 node native/bench/convs.mjs …
import { createRequire } from 'node:module'
import * as path from 'node:path'

const require = createRequire(import.meta.url)

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: node native/bench/convs.mjs ADDON.node [ADDON.node …]')
  process.exit(1)
}
const threads = Number(process.env.BNAS_BENCH_THREADS ?? 1)
if (!Number.isInteger(threads) || threads < 1) {
  console.error(`BNAS_BENCH_THREADS must be a positive integer, got '${process.env.BNAS_BENCH_THREADS}'`)
  process.exit(1)
}

// name, batch, size, C_in, C_out, k, stride, dilation, padding: the supernet's binary convs at C = 8 and 16, a
// strided one of a reduction cell, the 1×1 preprocess after the stem.
const SHAPES = [
  ['3x3 C8 32x32', 32, 32, 8, 8, 3, 1, 1, 1],
  ['5x5 C8 32x32', 32, 32, 8, 8, 5, 1, 1, 2],
  ['dil 3x3 C8 32x32', 32, 32, 8, 8, 3, 1, 2, 2],
  ['3x3 C16 16x16', 32, 16, 16, 16, 3, 1, 1, 1],
  ['3x3 s2 C16 16x16', 32, 16, 16, 16, 3, 2, 1, 1],
  ['3x3 C32 8x8', 32, 8, 32, 32, 3, 1, 1, 1],
  ['1x1 C24→8 32x32', 32, 32, 24, 8, 1, 1, 1, 0],
  ['3x3 C16 32x32, batch 64', 64, 32, 16, 16, 3, 1, 1, 1],
  // The paper preset's (C = 16, batch 64): its first cells' other candidates and the deeper cells' widths.
  ['5x5 C16 32x32, batch 64', 64, 32, 16, 16, 5, 1, 1, 2],
  ['dil 3x3 C16 32x32, batch 64', 64, 32, 16, 16, 3, 1, 2, 2],
  ['dil 5x5 C16 32x32, batch 64', 64, 32, 16, 16, 5, 1, 2, 4],
  ['3x3 C32 16x16, batch 64', 64, 16, 32, 32, 3, 1, 1, 1],
  ['5x5 C64 8x8, batch 64', 64, 8, 64, 64, 5, 1, 1, 2]
]

function cpuMs(f) {
  f()
  const rounds = []
  for (let r = 0; r < 7; r++) {
    const start = process.cpuUsage()
    for (let i = 0; i < 5; i++) f()
    const used = process.cpuUsage(start)
    rounds.push((used.user + used.system) / 5000)
  }
  return rounds.sort((a, b) => a - b)[3]
}

function random(length, seed) {
  const out = new Float32Array(length)
  let state = seed
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    out[i] = state / 2 ** 32 - 0.5
  }
  return out
}

const addons = files.map((file) => {
  const addon = require(path.resolve(file))
  addon.setThreads(threads)
  return addon
})
console.log(`${threads} thread(s); CPU ms per call: forward / input gradient / filter gradient`)
console.log(['shape'.padEnd(24), ...addons.map((a) => a.info().convs.padEnd(22))].join(' '))
for (const [name, n, h, cin, cout, k, s, d, p] of SHAPES) {
  const extent = (k - 1) * d + 1
  const oh = Math.floor((h + 2 * p - extent) / s) + 1
  const pb = (oh - 1) * s + extent - h - p
  const geometry = Int32Array.from([n, h, h, cin, oh, oh, cout, k, k, s, s, d, d, p, p, pb, pb])
  const x = random(n * h * h * cin, 1)
  const w = random(k * k * cin * cout, 2)
  const dy = random(n * oh * oh * cout, 3)
  const y = new Float32Array(dy.length)
  const dx = new Float32Array(x.length)
  const dw = new Float32Array(w.length)
  const cells = addons.map((a) => {
    const f = cpuMs(() => a.conv2dForward(x, w, y, geometry))
    const b = cpuMs(() => a.conv2dBackpropInput(dy, w, dx, geometry))
    const g = cpuMs(() => a.conv2dBackpropFilter(x, dy, dw, geometry))
    return `${f.toFixed(2)} / ${b.toFixed(2)} / ${g.toFixed(2)}`.padEnd(22)
  })
  console.log([name.padEnd(24), ...cells].join(' '))
}
