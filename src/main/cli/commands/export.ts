import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import * as tf from '@tensorflow/tfjs-core'
import { decodeImage, resizeInto } from '../../datasets/images'
import { initBackend } from '../../engine/backend'
import { loadTrainedModel } from '../../engine/jobs/trained-model'
import { FinalNetwork } from '../../engine/network'
import { createRng } from '../../engine/nn'
import { EXPORT_FORMATS, exportRun, metaOf, packNetwork, type ExportFormat, type ExportReport } from '../../export'
import { benchInfer, graphOfPacked, type InferBenchResult } from '../../export/bench'
import type { ModelMeta } from '../../export/graph'
import { exportOnnx } from '../../export/onnx'
import { createOnnxSession, loadOnnxRuntime } from '../../export/onnx/run'
import { onnxRoot } from '../../export/onnx/schema'
import { decodePacked, encodePacked, type PackedModel } from '../../export/packed/format'
import { setNativePackedThreads } from '../../export/packed/runtime/native'
import { nativeAddonStatus } from '../../engine/native/addon'
import { describePackedPaths, PackedSession } from '../../export/packed/runtime'
import { loadTfjsModel } from '../../export/tfjs'
import { loadGenotype, parseInputShape } from './summary'

/** Logits read asynchronously (the engine may run on webgpu, which cannot read synchronously in Node), then freed. */
async function readAndDispose(logits: tf.Tensor): Promise<Float32Array> {
  try {
    return (await logits.data()) as Float32Array
  } finally {
    logits.dispose()
  }
}

function describeReport(report: ExportReport): string {
  const lines = [
    `exported ${report.format} to ${report.out} (${report.files.length} file(s), ${report.bytes.toLocaleString('en')} bytes)`
  ]
  for (const check of report.checks) {
    lines.push(
      `  verified with ${check.runtime}: ${check.samples} inputs, max |Δlogit| vs the engine ${check.maxAbsDiff.toExponential(2)} ` +
        `(tolerance ${check.tolerance}), same predictions`
    )
  }
  if (report.format === 'genotype') lines.push('  verified: every file reads back as the same genotype')
  const s = report.summary
  if (s) {
    lines.push(
      `  ${s.binaryParams.toLocaleString('en')} 1-bit + ${s.floatParams.toLocaleString('en')} 32-bit parameters; ` +
        `BOPs ${s.bops.toExponential(3)}, FLOPs ${s.flops.toExponential(3)}, OPs ${s.ops.toExponential(3)}; ` +
        `size ${s.sizeBytes.toLocaleString('en')} B vs ${s.float32Bytes.toLocaleString('en')} B as float32 (${(s.float32Bytes / s.sizeBytes).toFixed(1)}× smaller)`
    )
  }
  return lines.join('\n')
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('export a trained run (its model/network.ckpt) and verify the export against the engine')
    .argument('<run>', 'a training run folder, or a network.ckpt')
    .requiredOption('--format <format>', `one of ${EXPORT_FORMATS.join(', ')}`)
    .requiredOption(
      '--out <path>',
      'genotype: a .json or .py file, or a folder for both; tfjs: a folder; onnx: a .onnx file; packed: a .bnpk file'
    )
    .option('--json', 'print the report as JSON', false)
    .action(async (run: string, flags: { format: string; out: string; json: boolean }) => {
      if (!EXPORT_FORMATS.includes(flags.format as ExportFormat)) {
        throw new Error(`--format must be one of ${EXPORT_FORMATS.join(', ')} (got '${flags.format}')`)
      }
      await initBackend('auto')
      const report = await exportRun(run, flags.format as ExportFormat, flags.out)
      process.stdout.write(`${flags.json ? JSON.stringify(report, null, 2) : describeReport(report)}\n`)
    })
}

/** A loaded model of any exported kind (or a run folder) behind one predict(). */
interface Predictor {
  kind: string
  meta: ModelMeta
  predict(images: Float32Array, batch: number): Promise<Float32Array>
}

async function openPredictor(path: string, packedPath?: string): Promise<Predictor> {
  const info = await stat(path).catch(() => {
    throw new Error(`${path}: no such model file or folder`)
  })
  if (packedPath !== undefined && (info.isDirectory() || !/\.bnpk$/i.test(path))) {
    throw new Error(`--path chooses a path of the packed runtime: the model must be a .bnpk file (got ${path})`)
  }
  if (info.isDirectory()) {
    const modelJson = await stat(join(path, 'model.json')).catch(() => undefined)
    if (modelJson) {
      await initBackend('auto')
      const model = await loadTfjsModel(path)
      const json = JSON.parse(await readFile(join(path, 'model.json'), 'utf8')) as {
        userDefinedMetadata?: { bnas?: ModelMeta }
      }
      const meta = json.userDefinedMetadata?.bnas
      if (!meta) throw new Error(`${path}/model.json has no BNAS metadata (userDefinedMetadata.bnas)`)
      return {
        kind: 'tfjs',
        meta,
        predict: (images, batch) =>
          readAndDispose(tf.tidy(() => model.predict(tf.tensor4d(images, [batch, ...meta.inputShape])) as tf.Tensor))
      }
    }
  }
  if (info.isDirectory() || path.endsWith('.ckpt')) {
    await initBackend('auto')
    const { net, info: trained } = await loadTrainedModel(path)
    const meta = metaOf(trained)
    return {
      kind: 'engine',
      meta,
      predict: (images, batch) =>
        readAndDispose(tf.tidy(() => net.logits(tf.tensor4d(images, [batch, ...meta.inputShape]), { training: false })))
    }
  }
  const bytes = new Uint8Array(await readFile(path))
  if (path.endsWith('.onnx')) {
    const Model = onnxRoot().lookupType('onnx.ModelProto')
    const decoded = Model.toObject(Model.decode(bytes)) as { metadata_props?: Array<{ key: string; value: string }> }
    const entry = decoded.metadata_props?.find((p) => p.key === 'bnas.meta')
    if (!entry) throw new Error(`${path}: not an ONNX model exported by BNAS Studio (no bnas.meta metadata)`)
    const meta = JSON.parse(entry.value) as ModelMeta
    const session = await createOnnxSession(bytes, meta.inputShape)
    return { kind: 'onnx', meta, predict: (images, batch) => session.run(images, batch) }
  }
  const model = decodePacked(bytes, path)
  const session = await PackedSession.create(model, { path: packedPath })
  return {
    kind: `packed/${session.pathName}`,
    meta: model.meta,
    predict: (images, batch) => session.run(images, batch)
  }
}

/**
 * The input as the model's normalised [1, H, W, C]: a PNG or JPEG (stretched to H×W as training data is, pixels/255
 * then (x − mean)/std), or a .json array of H·W·C raw pixel values 0–255 in HWC order (flat or nested).
 */
async function readInput(path: string, meta: ModelMeta): Promise<Float32Array> {
  const [h, w, c] = meta.inputShape
  let pixels: ArrayLike<number>
  const bytes = await readFile(path).catch(() => {
    throw new Error(`${path}: cannot read the input`)
  })
  if (path.endsWith('.json')) {
    const values = (JSON.parse(bytes.toString('utf8')) as unknown[]).flat(3) as unknown[]
    if (!values.every((v) => typeof v === 'number')) throw new Error(`${path}: expected an array of numbers`)
    if (values.length !== h * w * c)
      throw new Error(`${path}: ${values.length} values, the model takes ${h}×${w}×${c} = ${h * w * c}`)
    pixels = values as number[]
  } else {
    if (h !== w) throw new Error(`images are resized to squares; this model takes ${h}×${w}`)
    if (c !== 1 && c !== 3) throw new Error(`images give 1 or 3 channels; this model takes ${c}`)
    const out = new Uint8Array(h * w * c)
    resizeInto(decodeImage(path, bytes), h, c, out, 0)
    pixels = out
  }
  const { mean, std } = meta.normalize
  const x = new Float32Array(h * w * c)
  for (let i = 0; i < x.length; i++) {
    const ch = i % c
    x[i] = (pixels[i] / 255 - (mean[ch] ?? 0)) / (std[ch] ?? 1)
  }
  return x
}

export async function runPredict(
  modelPath: string,
  inputPath: string,
  options: { path?: string } = {}
): Promise<Record<string, unknown>> {
  const predictor = await openPredictor(modelPath, options.path)
  const x = await readInput(inputPath, predictor.meta)
  const logits = Array.from(await predictor.predict(x, 1))
  const top = Math.max(...logits)
  const exps = logits.map((v) => Math.exp(v - top))
  const total = exps.reduce((a, b) => a + b, 0)
  const ranked = logits
    .map((logit, k) => ({
      class: k,
      name: predictor.meta.classNames[k] ?? String(k),
      logit,
      probability: exps[k] / total
    }))
    .sort((a, b) => b.logit - a.logit)
  return {
    model: modelPath,
    runtime: predictor.kind,
    input: inputPath,
    prediction: ranked[0],
    top: ranked.slice(0, 5),
    logits
  }
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('classify one input with an exported model (.bnpk, .onnx, a TF.js folder) or a run folder')
    .argument('<model>', 'a .bnpk packed model, a .onnx file, a TF.js model folder, or a training run folder')
    .argument('<input>', 'a PNG or JPEG image, or a .json array of H·W·C pixel values 0–255 (HWC order)')
    .option(
      '--path <name>',
      '.bnpk only: the packed runtime path (webgpu, wasm-simd, native, reference); default: the fastest that runs here ' +
        '(WebGPU on a software adapter only when named)'
    )
    .action(async (model: string, input: string, flags: { path?: string }) => {
      process.stdout.write(`${JSON.stringify(await runPredict(model, input, { path: flags.path }), null, 2)}\n`)
    })
}

export interface InferFlags {
  genotype?: string
  cells: string
  channels: string
  input: string
  classes: string
  macro: string
  batch: string
  threads: string
  repeats: string
  /** Measure each runtime's peak memory in a child process (`--no-memory` skips it). */
  memory?: boolean
  /** Packed paths to time, comma-separated (default: all that run here). */
  paths?: string
  json: boolean
}

function positive(text: string, flag: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer (got '${text}')`)
  return value
}

/** A network for timing: the model given, or a genotype's network with seeded random weights and BN statistics. */
export async function benchModel(model: string | undefined, flags: InferFlags): Promise<PackedModel> {
  await initBackend('cpu')
  if (model) {
    if (model.endsWith('.bnpk')) return decodePacked(new Uint8Array(await readFile(model)), model)
    const { net, info } = await loadTrainedModel(model)
    try {
      return packNetwork(net, metaOf(info)).model
    } finally {
      net.dispose()
    }
  }
  if (!flags.genotype) throw new Error('give a MODEL (.bnpk or run folder) or --genotype NAME with the network options')
  const genotype = await loadGenotype(flags.genotype)
  const inputShape = parseInputShape(flags.input)
  const macro = flags.macro as 'cifar' | 'imagenet'
  const options = {
    genotype,
    cells: positive(flags.cells, '--cells'),
    channels: positive(flags.channels, '--channels'),
    classes: positive(flags.classes, '--classes'),
    macro
  }
  const net = new FinalNetwork({ ...options, inputChannels: inputShape[2], seed: 1 })
  try {
    // BN statistics as a trained network has them (not the init's 0/1), so activations are rarely exactly 0.
    const rng = createRng(2)
    tf.tidy(() => {
      for (const [name, v] of net.namedBuffers()) {
        const values = name.endsWith('running_mean') ? rng.normalArray(v.size, 0.3) : rng.uniformArray(v.size, 0.3, 2)
        v.assign(tf.tensor(values, v.shape))
      }
    })
    const meta: ModelMeta = { ...options, inputShape, classNames: [], normalize: { mean: [], std: [] } }
    return packNetwork(net, meta).model
  } finally {
    net.dispose()
  }
}

/** Peak memory a runtime's session adds (bytes), per runtime, measured in a fresh process each. */
export type MemoryReport = Record<string, number | { error: string }>

export async function runBenchInfer(
  model: string | undefined,
  flags: InferFlags
): Promise<InferBenchResult & { network: Record<string, unknown>; memory?: MemoryReport }> {
  const [run] = await runBenchInferBatches(model, { ...flags, batch: String(positive(flags.batch, '--batch')) })
  return run
}

/** `--batch 1,8`: one result per batch size; memory (batch 1, or the first batch) where `flags.memoryEntry` is set. */
export async function runBenchInferBatches(
  model: string | undefined,
  flags: InferFlags & { memoryEntry?: string }
): Promise<Array<InferBenchResult & { network: Record<string, unknown>; memory?: MemoryReport }>> {
  const batches = String(flags.batch)
    .split(',')
    .map((b) => positive(b.trim(), '--batch'))
  const packed = await benchModel(model, flags)
  const { genotype: _genotype, ...network } = {
    ...packed.meta,
    binaryMacs: packed.summary.bops,
    floatMacs: packed.summary.flops
  }
  const threads = positive(flags.threads, '--threads')
  const paths = flags.paths
    ? String(flags.paths)
        .split(',')
        .map((p) => p.trim())
    : undefined
  const memory =
    flags.memory && flags.memoryEntry
      ? await measureMemory(packed, batches[0], threads, flags.memoryEntry, paths)
      : undefined
  const runs = []
  for (const batch of batches) {
    const result = await benchInfer(packed, { batch, threads, repeats: positive(flags.repeats, '--repeats'), paths })
    runs.push({ ...result, network, ...(memory && batch === batches[0] ? { memory } : {}) })
  }
  return runs
}

/**
 * Each runtime's session in a process of its own (`bnas bench memory`), so one runtime's freed memory cannot hide
 * another's: the peak resident memory the session adds over the process with the model bytes and the runtime's library
 * already loaded.
 */
async function measureMemory(
  model: PackedModel,
  batch: number,
  threads: number,
  entry: string,
  paths?: string[]
): Promise<MemoryReport> {
  const dir = await mkdtemp(join(tmpdir(), 'bnas-bench-memory-'))
  const report: MemoryReport = {}
  try {
    const files = { packed: join(dir, 'model.bnpk'), onnx: join(dir, 'model.onnx') }
    await writeFile(files.packed, encodePacked(model))
    await writeFile(files.onnx, exportOnnx(graphOfPacked(model)))
    const runtimes = [
      ...(await describePackedPaths())
        .filter((p) => p.auto && p.name !== 'reference' && (!paths || paths.includes(p.name)))
        .map((p) => p.name),
      'onnx'
    ]
    for (const runtime of runtimes) {
      const file = runtime === 'onnx' ? files.onnx : files.packed
      const shape = model.meta.inputShape.join('x')
      // A small young generation, the same for every runtime, so JavaScript garbage does not pass for the session's
      // memory; the median of three processes.
      const args = [...process.execArgv, '--expose-gc', '--max-semi-space-size=1', entry, 'bench', 'memory', file]
      const peaks: number[] = []
      let error: string | undefined
      for (let i = 0; i < 3 && !error; i++) {
        const child = spawnSync(
          process.execPath,
          [...args, '--runtime', runtime, '--input', shape, '--batch', String(batch), '--threads', String(threads)],
          { encoding: 'utf8' }
        )
        try {
          peaks.push(JSON.parse(child.stdout.trim().split('\n').pop() ?? '').peakBytes)
        } catch {
          error = (child.stderr || child.stdout || `exit ${child.status}`).trim().split('\n')[0]
        }
      }
      report[runtime] = error ? { error } : peaks.sort((a, b) => a - b)[1]
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return report
}

function procStatusKiB(field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/**
 * `bnas bench memory FILE --runtime NAME --input HxWxC`: one session's peak added memory in bytes, printed as JSON
 * (run by `bench infer` in a process of its own).
 */
async function runBenchMemory(
  file: string,
  runtime: string,
  shape: [number, number, number],
  batch: number,
  threads: number
): Promise<number> {
  const bytes = new Uint8Array(await readFile(file))
  const images = createRng(7).normalArray(batch * shape[0] * shape[1] * shape[2])
  let start: () => Promise<{ run: () => Promise<unknown> }>
  if (runtime === 'onnx') {
    await loadOnnxRuntime() // the library is loaded before the baseline
    start = async () => {
      const session = await createOnnxSession(bytes, shape, threads)
      return { run: () => session.run(images, batch) }
    }
  } else {
    const model = decodePacked(bytes, file)
    setNativePackedThreads(threads)
    if (runtime === 'native') nativeAddonStatus() // the addon is loaded before the baseline
    start = async () => {
      const session = await PackedSession.create(model, { path: runtime })
      return { run: () => session.run(images, batch) }
    }
  }
  ;(globalThis as { gc?: () => void }).gc?.()
  try {
    writeFileSync('/proc/self/clear_refs', '5') // resets the peak (VmHWM) to the current resident size
  } catch {
    // not Linux: the lifetime peak below then includes start-up, an upper bound
  }
  // The baseline is read from the same counter as the peak (VmHWM, just reset): VmRSS and VmHWM come from per-CPU
  // counters that the kernel sums approximately, so mixing them made a session adding ~nothing read as −64 KiB.
  const baseline = (procStatusKiB('VmHWM') ?? process.memoryUsage().rss / 1024) * 1024
  const session = await start()
  for (let i = 0; i < 3; i++) await session.run()
  const peak = (procStatusKiB('VmHWM') ?? process.resourceUsage().maxRSS) * 1024
  // Below the counters' resolution (a few hundred KiB) a difference is noise; never a negative size.
  return Math.max(0, peak - baseline)
}

/** Adds `bench infer` to the program's `bench` command (created by bench.ts; made here if it is absent). */
export function registerBenchInfer(program: Command): void {
  const bench =
    program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('measurements')
  bench
    .command('infer')
    .description('inference time of the packed 1-bit runtime (every path) and onnxruntime-node, side by side')
    .argument('[model]', 'a .bnpk packed model or a training run folder')
    .option('--genotype <name|file>', 'instead of a model: a genotype, built with random weights')
    .option('--cells <L>', 'cells', '20')
    .option('--channels <C>', 'initial channels', '36')
    .option('--input <HxWxC>', 'input shape', '32x32x3')
    .option('--classes <K>', 'classes', '10')
    .option('--macro <cifar|imagenet>', 'macro-architecture', 'cifar')
    .option('--batch <B[,B...]>', 'batch sizes, e.g. 1,8', '1,8')
    .option('--threads <T>', 'threads of onnxruntime (intra-op) and of the native path; wasm-simd runs one', '1')
    .option('--repeats <n>', 'rounds; each times every runtime in a block of 3 runs after one untimed run', '5')
    .option('--paths <a,b>', 'only these packed paths (e.g. native,wasm-simd); default: every path that runs here')
    .option('--no-memory', 'skip the peak memory of each runtime (measured in a process of its own each)')
    .option('--json', 'print JSON', false)
    .action(async (model: string | undefined, flags: InferFlags) => {
      // Memory is measured in child processes of this command line: only when this process is it (not a test host).
      const entry = process.argv[1] ?? ''
      const isCli = /(bin[\\/]bnas\.js|cli\.js|cli[\\/]index\.ts)$/.test(entry)
      const runs = await runBenchInferBatches(model, { ...flags, memoryEntry: isCli ? entry : undefined })
      if (flags.json) {
        // One batch: the result itself (as before); several: { network, memory, runs }.
        const out = runs.length === 1 ? runs[0] : { network: runs[0].network, memory: runs[0].memory, runs }
        process.stdout.write(`${JSON.stringify(out)}\n`)
        return
      }
      process.stdout.write(runs.map(formatInferTable).join('\n'))
    })
  bench
    .command('memory', { hidden: true })
    .description("one runtime's peak added memory for a model file (run by bench infer in its own process)")
    .argument('<file>', 'a .bnpk or .onnx model')
    .requiredOption('--runtime <name>', 'onnx or a packed path')
    .requiredOption('--input <HxWxC>', 'input shape')
    .option('--batch <B>', 'batch size', '1')
    .option('--threads <T>', 'threads', '1')
    .action(async (file: string, flags: { runtime: string; input: string; batch: string; threads: string }) => {
      const peakBytes = await runBenchMemory(
        file,
        flags.runtime,
        parseInputShape(flags.input),
        positive(flags.batch, '--batch'),
        positive(flags.threads, '--threads')
      )
      process.stdout.write(`${JSON.stringify({ runtime: flags.runtime, peakBytes })}\n`)
    })
}

/** The readable table of `bnas bench infer`: every path timed, each CPU path with its threads, bound and speed-up. */
export function formatInferTable(r: InferBenchResult & { memory?: MemoryReport }): string {
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined || Number.isNaN(v) ? 'n/a' : `${v.toFixed(2)} ms`
  const times = (name: string) => (r.speedup[name] ? `, ${r.speedup[name].toFixed(1)}× onnxruntime` : '')
  const bound = (name: string) => {
    const b = r.bounds[name]
    return b ? `; bound ${fmt(b.boundMs)}` : ''
  }
  const fastest = (name: string) => (r.fastest[name] !== undefined ? `; fastest ${fmt(r.fastest[name])}` : '')
  const mib = (v: number | { error: string }) => (typeof v === 'number' ? `${(v / 2 ** 20).toFixed(1)} MiB` : v.error)
  return (
    [
      `batch ${r.batch}, threads ${r.threads}; medians of ${r.repeats} rounds × ${r.block} runs (each runtime warm in its block)`,
      `  packed (best: ${r.packedPath})  ${fmt(r.packedMs)}`,
      // Every CPU path timed (native, wasm-simd, reference when it is the only one).
      ...Object.entries(r.packedThreads).map(
        ([name, threads]) =>
          `  packed ${name.padEnd(18)}${fmt(r.paths[name] ?? null)} (${threads} thread${threads === 1 ? '' : 's'}${times(name)}${bound(name)}${fastest(name)})`
      ),
      r.webgpu.available
        ? `  packed webgpu            ${fmt(r.paths.webgpu ?? null)} (${r.webgpu.adapter}${fastest('webgpu')})${r.webgpu.note ? `\n                           ${r.webgpu.note}` : ''}`
        : `  packed webgpu            not timed: ${r.webgpu.reason}`,
      `  onnxruntime-node (float) ${fmt(r.onnxMs)}${r.onnxError ? ` (${r.onnxError})` : r.fastest.onnx !== undefined ? ` (fastest ${fmt(r.fastest.onnx)})` : ''}`,
      ...Object.entries(r.bounds).map(
        ([name, b]) =>
          `  bound ${name.padEnd(19)}${fmt(b.boundMs)} (${(b.binaryMacsPerSecond / 1e9).toFixed(0)} G binary MAC/s, ${(b.floatMacsPerSecond / 1e9).toFixed(1)} G float MAC/s: ${b.basis})`
      ),
      ...(r.native
        ? [
            `  native session: ${r.native.binaryKernel}; CPU ms by step: ${Object.entries(r.native.msByKind)
              .filter(([, ms]) => ms >= 0.005)
              .map(([kind, ms]) => `${kind} ${ms.toFixed(2)}`)
              .join(', ')}`
          ]
        : []),
      ...(r.memory
        ? [
            `  peak memory of a session (batch ${r.batch}): ${Object.entries(r.memory)
              .map(([k, v]) => `${k} ${mib(v)}`)
              .join(', ')}`
          ]
        : [])
    ].join('\n') + '\n'
  )
}
