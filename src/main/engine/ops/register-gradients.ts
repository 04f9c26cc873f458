import * as tf from '@tensorflow/tfjs-core'
import { createRequire } from 'node:module'

/**
 * tfjs-core's package entry registers no gradient functions: that is done by the side-effect module
 * `@tensorflow/tfjs-core/dist/register_all_gradients`, which only exists as extension-less ESM that Node cannot load.
 * The CommonJS bundle of tfjs-layers carries the same gradient table and registers it in tf's global registry (shared
 * through globalThis, so it serves this copy of tfjs-core). Every op module imports this file, so tf.grad works
 * whichever module is loaded first.
 */
if (tf.getGradient('Sum') === undefined) {
  createRequire(import.meta.url)('@tensorflow/tfjs-layers')
}
