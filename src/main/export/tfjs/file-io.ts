import type * as tf from '@tensorflow/tfjs-core'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const MODEL_JSON = 'model.json'
export const WEIGHTS_BIN = 'weights.bin'

function joinWeightData(data: tf.io.WeightData): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data)
  const total = data.reduce((sum, part) => sum + part.byteLength, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const part of data) {
    out.set(new Uint8Array(part), at)
    at += part.byteLength
  }
  return out
}

/**
 * A tf.io handler that saves to and loads from a folder on disk (tfjs-node's file:// is not available here): the
 * standard layers-model layout, `model.json` (topology + weights manifest) beside one `weights.bin`. Files are written
 * to a temporary name and renamed, so a crash never leaves a half-written model.
 */
export function folderIO(dir: string, userDefinedMetadata?: Record<string, unknown>): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error('folderIO saves JSON topologies only')
      await mkdir(dir, { recursive: true })
      const weights = artifacts.weightData ? joinWeightData(artifacts.weightData) : new Uint8Array()
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: 'bnas-studio',
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: userDefinedMetadata ?? artifacts.userDefinedMetadata
      }
      const json = JSON.stringify(modelJson)
      await writeFile(join(dir, `${WEIGHTS_BIN}.tmp`), weights)
      await rename(join(dir, `${WEIGHTS_BIN}.tmp`), join(dir, WEIGHTS_BIN))
      await writeFile(join(dir, `${MODEL_JSON}.tmp`), json)
      await rename(join(dir, `${MODEL_JSON}.tmp`), join(dir, MODEL_JSON))
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: json.length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weights.byteLength
        }
      }
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = JSON.parse(await readFile(join(dir, MODEL_JSON), 'utf8')) as tf.io.ModelJSON
      const specs: tf.io.WeightsManifestEntry[] = []
      const parts: Uint8Array[] = []
      for (const group of json.weightsManifest ?? []) {
        specs.push(...group.weights)
        for (const path of group.paths) parts.push(await readFile(join(dir, path)))
      }
      const bytes = joinWeightData(
        parts.map((p) => p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) as ArrayBuffer)
      )
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: bytes.buffer as ArrayBuffer,
        userDefinedMetadata: json.userDefinedMetadata
      }
    }
  }
}
