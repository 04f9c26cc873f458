import * as tf from '@tensorflow/tfjs-core'
import type { Batch, BatchLoader } from '../../datasets'
import { correctCount, crossEntropy, readScalars } from '../train/loss'

/**
 * Mean loss and accuracy over one pass of a loader, in eval mode (BN running statistics, no drop-path). Each batch's
 * figures are read asynchronously (see readScalars).
 */
export async function evaluate(
  net: { logits(x: tf.Tensor4D, ctx: { training: boolean }): tf.Tensor2D },
  loader: BatchLoader
): Promise<{ loss: number; accuracy: number }> {
  let loss = 0
  let correct = 0
  let seen = 0
  for (const batch of loader.epochBatches()) {
    const figures = tf.tidy(() => {
      const { x, y } = toTensors(batch)
      const logits = net.logits(x, { training: false })
      return [crossEntropy(logits, y), correctCount(logits, y)]
    })
    const [batchLoss, batchCorrect] = await readScalars(...figures)
    loss += batchLoss! * batch.size
    correct += batchCorrect!
    seen += batch.size
  }
  return { loss: loss / seen, accuracy: correct / seen }
}

/** A batch as the tensors a network takes: NHWC images and int32 labels. */
export function toTensors(batch: Batch): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return { x: tf.tensor4d(batch.images, batch.shape), y: tf.tensor1d(batch.labels, 'int32') }
}
