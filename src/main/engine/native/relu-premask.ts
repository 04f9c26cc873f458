/**
 * Bookkeeping that lets the α-mixture's backward apply a conv block's ReLU gradient for it. A search edge's conv
 * terms are ReLU outputs y, and their only consumer is the edge's weighted sum: its backward reads y anyway (for the
 * α gradient Σ dy·y), so it can write (w·dy)·(y > 0) in the same pass, and the conv + ReLU gradient then skips its
 * own full-size masking pass (one read of dy and y and one write per conv op and step saved).
 *
 * Keyed by TF.js dataIds (objects, so weak): a dataId names one stored array for its whole life.
 */
const reluOutputs = new WeakSet<object>()
const maskedBy = new WeakMap<object, object>()

/** `dataId` holds the output of a conv + ReLU kernel (CONV2D_RELU). */
export function markReluOutput(dataId: object): void {
  reluOutputs.add(dataId)
}

export function isReluOutput(dataId: object): boolean {
  return reluOutputs.has(dataId)
}

/** The gradient in `gradId` is already multiplied by (y > 0) for the ReLU output in `reluId`. */
export function markMaskedBy(gradId: object, reluId: object): void {
  maskedBy.set(gradId, reluId)
}

/** Whether the gradient in `gradId` is already masked by the ReLU output in `reluId` (then masking again is a no-op). */
export function isMaskedBy(gradId: object, reluId: object): boolean {
  return maskedBy.get(gradId) === reluId
}

/** The array of `gradId` changed in place (a second gradient contribution added into it): it is no longer masked. */
export function forgetMask(gradId: object): void {
  maskedBy.delete(gradId)
}
