import * as tf from '@tensorflow/tfjs-core'
import type { NamedTensorData } from '../../runs/checkpoint-file'

/** Variables with their checkpoint names, e.g. weights and BN buffers of a module plus α. */
export type NamedVariables = Array<[string, tf.Variable]>

/** The variables' values for a checkpoint, read asynchronously (webgpu in Node has no synchronous read). */
export async function snapshotVariables(variables: NamedVariables): Promise<NamedTensorData[]> {
  return Promise.all(
    variables.map(async ([name, variable]) => ({
      name,
      shape: [...variable.shape],
      data: (await variable.data()) as Float32Array
    }))
  )
}

/**
 * Loads saved tensors into variables by name. Every variable must be found with its exact shape, otherwise the
 * checkpoint belongs to another network and loading it would silently mix two models.
 */
export function restoreVariables(variables: NamedVariables, saved: NamedTensorData[], source: string): void {
  const byName = new Map(saved.map((tensor) => [tensor.name, tensor]))
  for (const [name, variable] of variables) {
    const tensor = byName.get(name)
    if (tensor === undefined)
      throw new Error(`${source} has no value for ${name}: it was written for a different network`)
    if (tensor.shape.join('x') !== variable.shape.join('x')) {
      throw new Error(`${source}: ${name} has shape [${tensor.shape}] but the network needs [${variable.shape}]`)
    }
  }
  for (const [name, variable] of variables) {
    const tensor = byName.get(name)!
    tf.tidy(() => variable.assign(tf.tensor(tensor.data, tensor.shape)))
  }
}
