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

/** Number of rows whose arg-max equals the label. */
export function correctCount(logits: tf.Tensor2D, labels: tf.Tensor1D): number {
  return tf.tidy(() => tf.sum(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32'))).dataSync()[0]!)
}
