import * as tf from '@tensorflow/tfjs-core'

/**
 * Mean cross-entropy of logits [N, K] against integer labels, optionally with label smoothing ε
 * (target = (1−ε)·onehot + ε/K, as the authors' ImageNet CrossEntropyLabelSmooth).
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1]
    const logProbs = tf.logSoftmax(logits)
    let targets: tf.Tensor = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), classes), 'float32')
    if (labelSmoothing > 0) targets = tf.add(tf.mul(targets, 1 - labelSmoothing), labelSmoothing / classes)
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, logProbs), 1))) as tf.Scalar
  })
}

/** Number of rows whose arg-max equals the label, as a scalar: read it with {@link readScalars}. */
export function correctCount(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32'))))
}

/**
 * The values of scalars (a step's loss, its correct count), read asynchronously and then disposed. Never dataSync in
 * the training path: on webgpu a synchronous read stalls the GPU pipeline, and in Node it cannot run at all
 * (tfjs-backend-webgpu's readSync needs OffscreenCanvas). On the CPU backends the read is immediate.
 */
export async function readScalars(...scalars: tf.Tensor[]): Promise<number[]> {
  try {
    const values = await Promise.all(scalars.map((scalar) => scalar.data()))
    return values.map((value) => value[0]!)
  } finally {
    tf.dispose(scalars)
  }
}
