/**
 * Where a native packed session's time goes, layer by layer: `npx tsx scripts/bench/packed-layers.ts
 * [--genotype latest_cell] [--cells 20] [--channels 36] [--runs 20] [--threads 1] [--kernel avx2-vpshufb]`. Each
 * instruction's CPU time is the fastest of the profiled runs; binary convs also get their MACs and rate (G binary
 * MAC/s), grouped by geometry, and each binary shape's kernel rate alone (the probe) with the kernel it runs.
 */
import { parseArgs } from 'node:util'
import { benchModel } from '../../src/main/cli/commands/export'
import { compileNative } from '../../src/main/export/packed/runtime/native'
import { NATIVE_KIND } from '../../src/main/export/packed/runtime/native-plan'
import { createRng } from '../../src/main/engine/nn'

const { values } = parseArgs({
  options: {
    genotype: { type: 'string', default: 'latest_cell' },
    cells: { type: 'string', default: '20' },
    channels: { type: 'string', default: '36' },
    runs: { type: 'string', default: '20' },
    batch: { type: 'string', default: '1' },
    /** Threads of the timed runs (the profile's CPU times are the calling thread's). */
    threads: { type: 'string', default: '1' },
    /** A slower kernel this CPU also has (avx2-vpshufb, scalar), to measure what other CPUs run. */
    kernel: { type: 'string' }
  }
})
const model = await benchModel(undefined, {
  genotype: values.genotype,
  cells: values.cells,
  channels: values.channels,
  input: '32x32x3',
  classes: '10',
  macro: 'cifar'
} as never)
const batch = Number(values.batch)
const compiled = await compileNative(model, { threads: Number(values.threads) })
if (values.kernel) compiled.setKernel(values.kernel)
const images = createRng(7).normalArray(batch * 32 * 32 * 3)
for (let i = 0; i < 5; i++) await compiled.run(images, batch)
const kinds = Object.fromEntries(Object.entries(NATIVE_KIND).map(([k, v]) => [v, k]))
let best: Float64Array | undefined
// The binary convs' phases (BN → sign → pack, row streams, dot + epilogue): the fastest run's share of each.
const phases: Record<string, number> = {
  'binconv.pack': Infinity,
  'binconv.streams': Infinity,
  'binconv.dot': Infinity
}
for (let r = 0; r < Number(values.runs); r++) {
  const { msByInstruction, msByKind } = compiled.profile(images, batch)
  best = best ? best.map((v, i) => Math.min(v, msByInstruction[i])) : Float64Array.from(msByInstruction)
  for (const key of Object.keys(phases)) phases[key] = Math.min(phases[key], msByKind[key] ?? Infinity)
}
const walls: number[] = []
for (let r = 0; r < Number(values.runs); r++) {
  const t0 = performance.now()
  await compiled.run(images, batch)
  walls.push(performance.now() - t0)
}
walls.sort((a, b) => a - b)
const groups = new Map<string, { ms: number; macs: number; count: number }>()
compiled.plan.instructions.forEach((ins, i) => {
  const g = ins.ints
  const kind = kinds[ins.kind]
  const [h, w, cin, ho, wo, cout, k, stride, , dil] = Array.from(g.slice(11))
  const key =
    kind === 'binconv' || kind === 'conv'
      ? `${kind} ${h}x${w}x${cin}->${cout} k${k} s${stride} d${dil}${g[9] ? ' +acc' : ''}`
      : `${kind} ${h}x${w}x${cin}`
  const macs = kind === 'binconv' || kind === 'conv' ? batch * ho * wo * cout * k * k * cin : 0
  const entry = groups.get(key) ?? { ms: 0, macs: 0, count: 0 }
  entry.ms += best![i]
  entry.macs += macs
  entry.count++
  groups.set(key, entry)
})
const total = best!.reduce((a, b) => a + b, 0)
console.log(
  `wall median ${walls[walls.length >> 1].toFixed(2)} ms, min ${walls[0].toFixed(2)}; profiled sum ${total.toFixed(2)} ms`
)
console.log(
  `binary conv phases (fastest of the runs): ${Object.entries(phases)
    .map(([k, v]) => `${k.slice(8)} ${v.toFixed(3)} ms`)
    .join(', ')}`
)
for (const [key, e] of [...groups].sort((a, b) => b[1].ms - a[1].ms)) {
  const rate = e.macs ? `${(e.macs / e.ms / 1e6).toFixed(0)} G/s` : ''
  console.log(`${e.ms.toFixed(3).padStart(7)} ms ${String(e.count).padStart(4)}× ${key.padEnd(40)} ${rate}`)
}
const probe = compiled.probe(batch)
const rates = new Map<string, number[]>()
for (const b of probe.binary) {
  const ins = compiled.plan.instructions.find((i) => i.name === b.name)!
  const [h, w, cin, , , cout, k, , , dil] = Array.from(ins.ints.slice(11))
  const key = `${h}x${w}x${cin}->${cout} k${k} d${dil} ${b.kernel}`
  rates.set(key, [...(rates.get(key) ?? []), b.macsPerSecond / 1e9])
}
const amxPeak = probe.peakAmxMacsPerSecond
  ? `, amx-int8 tiles ${(probe.peakAmxMacsPerSecond / 1e9).toFixed(0)} G/s`
  : ''
console.log(
  `probe (each layer's kernel alone, its input prebuilt): peak ${probe.binaryKernel} ${(probe.peakBinaryMacsPerSecond / 1e9).toFixed(0)} G/s${amxPeak}`
)
for (const [key, list] of rates) console.log(`  ${key.padEnd(45)} ${Math.max(...list).toFixed(0)} G/s`)
const info = compiled.info()
console.log(
  `arena + scratch ${(info.workBytes / 2 ** 20).toFixed(2)} MiB, weights ${(info.weightBytes / 2 ** 20).toFixed(2)} MiB; plan arena per image ${((compiled.plan.arenaPerImage * 4) / 2 ** 20).toFixed(2)} MiB`
)
