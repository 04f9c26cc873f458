import * as tf from '@tensorflow/tfjs-core'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { loadTrainedModel, type TrainedModelInfo } from '../engine/jobs/trained-model'
import { createRng } from '../engine/nn'
import type { FinalNetwork } from '../engine/network'
import { summarizeNetwork, type ModelSummary } from '../engine/summary'
import { exportGenotype } from './genotype'
import { lowerNetwork, lowerNetworkAsync, type ExportGraph, type ModelMeta } from './graph'
import { exportOnnx } from './onnx'
import { createOnnxSession } from './onnx/run'
import { decodePacked, encodePacked, packGraph, type PackedModel, type PackedSummary } from './packed/format'
import { PackedSession, describePackedPaths, registerPackedPath } from './packed/runtime'
import { nativePackedPath } from './packed/runtime/native'
import { loadTfjsModel, saveTfjsModel } from './tfjs'

// Node side: the native addon's path (issue 4) joins the runtime's browser-safe paths (reference, wasm-simd).
registerPackedPath(nativePackedPath)

export const EXPORT_FORMATS = ['genotype', 'tfjs', 'onnx', 'packed'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

/** How an export was checked: the reloaded model against the engine on the same inputs. */
export interface ExportCheck {
  runtime: string
  samples: number
  maxAbsDiff: number
  tolerance: number
  /** Arg-max class equal to the engine's on every sample. */
  predictionsEqual: boolean
}

export interface ExportReport {
  format: ExportFormat
  out: string
  files: string[]
  bytes: number
  checks: ExportCheck[]
  /** Packed only: parameter counts, BOPs, FLOPs, OPs and sizes. */
  summary?: PackedSummary
}

/** Tolerances of the checks: float32 rounding of a deep network, never a different function. */
export const TOLERANCE = { tfjs: 1e-5, onnx: 1e-4, packed: 1e-4 } as const
const VERIFY_SAMPLES = 2

export function metaOf(info: TrainedModelInfo): ModelMeta {
  const { genotype, cells, channels, classes, macro, inputShape, classNames, normalize } = info
  return { genotype, cells, channels, classes, macro, inputShape, classNames, normalize }
}

/** The export summary is `bnas summary`'s, from the same summarizeNetwork, plus the float32 size for comparison. */
export function packedSummaryOf(summary: ModelSummary): PackedSummary {
  const t = summary.totals
  const r = summary.totalsResidualBinary
  return {
    trainableParams: summary.trainableParams,
    binaryParams: t.binaryParams,
    floatParams: t.floatParams,
    bops: t.bops,
    flops: t.flops,
    ops: t.ops,
    sizeBytes: t.sizeBytes,
    float32Bytes: 4 * summary.trainableParams,
    residualBinary: {
      binaryParams: r.binaryParams,
      floatParams: r.floatParams,
      bops: r.bops,
      flops: r.flops,
      ops: r.ops,
      sizeBytes: r.sizeBytes
    }
  }
}

export function packNetwork(
  net: FinalNetwork,
  meta: ModelMeta,
  graph: ExportGraph = lowerNetwork(net, meta)
): { graph: ExportGraph; model: PackedModel } {
  return { graph, model: packGraph(graph, packedSummaryOf(summarizeNetwork(net, meta.inputShape))) }
}

/** Seeded N(0, 1) inputs in the normalised domain, [N, H, W, C]. */
export function verificationInputs(
  shape: [number, number, number],
  samples = VERIFY_SAMPLES,
  seed = 20200
): Float32Array {
  return createRng(seed).normalArray(samples * shape[0] * shape[1] * shape[2])
}

export function compareLogits(
  runtime: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  classes: number,
  tolerance: number
): ExportCheck {
  if (got.length !== want.length) throw new Error(`${runtime}: ${got.length} logits, the engine gives ${want.length}`)
  let maxAbsDiff = 0
  let predictionsEqual = true
  const samples = want.length / classes
  for (let s = 0; s < samples; s++) {
    let [bestGot, bestWant] = [0, 0]
    for (let k = 0; k < classes; k++) {
      const i = s * classes + k
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got[i] - want[i]))
      if (got[i] > got[s * classes + bestGot]) bestGot = k
      if (want[i] > want[s * classes + bestWant]) bestWant = k
    }
    if (bestGot !== bestWant) predictionsEqual = false
  }
  if (!(maxAbsDiff <= tolerance) || !predictionsEqual) {
    throw new Error(
      `${runtime}: the exported model disagrees with the engine (max |Δlogit| ${maxAbsDiff.toExponential(2)}, ` +
        `tolerance ${tolerance}; same predictions: ${predictionsEqual}): the export is not usable`
    )
  }
  return { runtime, samples, maxAbsDiff, tolerance, predictionsEqual }
}

/** Reads asynchronously: the engine may run on webgpu, which has no synchronous reads in Node. */
async function engineLogits(
  net: FinalNetwork,
  images: Float32Array,
  shape: [number, number, number]
): Promise<Float32Array> {
  const batch = images.length / (shape[0] * shape[1] * shape[2])
  const logits = tf.tidy(() => net.logits(tf.tensor4d(images, [batch, ...shape]), { training: false }))
  try {
    return (await logits.data()) as Float32Array
  } finally {
    logits.dispose()
  }
}

async function sizeOf(paths: string[]): Promise<number> {
  let total = 0
  for (const path of paths) total += (await stat(path)).size
  return total
}

/**
 * Runs a packed model on every path that runs here automatically and checks each against the engine's logits. Paths
 * that run only when named (WebGPU on a software adapter) are left out: slow, and not what a user of the file gets.
 */
export async function verifyPacked(
  model: PackedModel,
  want: Float32Array,
  images: Float32Array
): Promise<ExportCheck[]> {
  const checks: ExportCheck[] = []
  const batch = want.length / model.meta.classes
  for (const path of await describePackedPaths()) {
    if (!path.auto) continue
    const session = await PackedSession.create(model, { path: path.name })
    try {
      const got = await session.run(images, batch)
      checks.push(compareLogits(`packed/${path.name}`, got, want, model.meta.classes, TOLERANCE.packed))
    } finally {
      session.dispose()
    }
  }
  return checks
}

/**
 * Exports a trained run (its model/network.ckpt) in one format to `out`, then loads the written files back with the
 * format's own runtime and compares its logits with the engine's on the same inputs. Throws if any check fails, so a
 * returned report is a verified export. ONNX checks need onnxruntime-node; without it the export fails with the reason.
 */
export async function exportRun(runPath: string, format: ExportFormat, out: string): Promise<ExportReport> {
  if (!EXPORT_FORMATS.includes(format))
    throw new Error(`--format must be one of ${EXPORT_FORMATS.join(', ')} (got '${format}')`)
  const { net, info } = await loadTrainedModel(runPath)
  try {
    const meta = metaOf(info)
    if (format === 'genotype') {
      const files = await exportGenotype(info.genotype, out)
      return { format, out, files, bytes: await sizeOf(files), checks: [] }
    }
    const images = verificationInputs(meta.inputShape)
    const want = await engineLogits(net, images, meta.inputShape)
    if (format === 'tfjs') {
      const graph = await lowerNetworkAsync(net, meta)
      await saveTfjsModel(graph, out)
      const model = await loadTfjsModel(out)
      const y = tf.tidy(() => model.predict(tf.tensor4d(images, [VERIFY_SAMPLES, ...meta.inputShape])) as tf.Tensor)
      const got = (await y.data()) as Float32Array
      y.dispose()
      model.dispose()
      const files = [`${out}/model.json`, `${out}/weights.bin`]
      return {
        format,
        out,
        files,
        bytes: await sizeOf(files),
        checks: [compareLogits('tfjs-layers', got, want, meta.classes, TOLERANCE.tfjs)]
      }
    }
    await mkdir(dirname(out), { recursive: true })
    if (format === 'onnx') {
      await writeFile(out, exportOnnx(await lowerNetworkAsync(net, meta)))
      const session = await createOnnxSession(new Uint8Array(await readFile(out)), meta.inputShape)
      try {
        const got = await session.run(images, VERIFY_SAMPLES)
        return {
          format,
          out,
          files: [out],
          bytes: await sizeOf([out]),
          checks: [compareLogits('onnxruntime-node', got, want, meta.classes, TOLERANCE.onnx)]
        }
      } finally {
        await session.release()
      }
    }
    const { model } = packNetwork(net, meta, await lowerNetworkAsync(net, meta))
    await writeFile(out, encodePacked(model))
    const loaded = decodePacked(new Uint8Array(await readFile(out)), out)
    const checks = await verifyPacked(loaded, want, images)
    return { format, out, files: [out], bytes: await sizeOf([out]), checks, summary: loaded.summary }
  } finally {
    net.dispose()
  }
}

export { lowerNetwork, lowerNetworkAsync, inferShapes } from './graph'
export type { ExportGraph, ModelMeta, Step } from './graph'
export { exportGenotype } from './genotype'
export { exportOnnx } from './onnx'
export { encodePacked, decodePacked, packGraph, PackedFormatError } from './packed/format'
export type { PackedModel, PackedSummary } from './packed/format'
export { buildLayersModel, saveTfjsModel, loadTfjsModel, folderIO } from './tfjs'
