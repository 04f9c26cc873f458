import { nhwcToNchw } from './index'

type Ort = typeof import('onnxruntime-node')
let ort: Promise<Ort> | undefined

/** onnxruntime-node, loaded on first use (an optional runtime: missing, the ONNX checks say so). */
export async function loadOnnxRuntime(): Promise<Ort> {
  ort ??= import('onnxruntime-node').then((m) => ((m as unknown as { default?: Ort }).default ?? m) as Ort)
  try {
    return await ort
  } catch (error) {
    ort = undefined
    throw new Error(`onnxruntime-node is not available: ${(error as Error).message}`)
  }
}

export interface OnnxSession {
  run(images: Float32Array, batch: number): Promise<Float32Array>
  release(): Promise<void>
}

/** An onnxruntime-node session on CPU with `threads` intra-op threads; run() takes NHWC images like the other runtimes. */
export async function createOnnxSession(
  model: Uint8Array,
  shape: [number, number, number],
  threads = 1
): Promise<OnnxSession> {
  const runtime = await loadOnnxRuntime()
  const session = await runtime.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all'
  })
  const [h, w, c] = shape
  return {
    async run(images, batch) {
      const input = new runtime.Tensor('float32', nhwcToNchw(images, batch, shape), [batch, c, h, w])
      const result = await session.run({ input })
      return result.logits.data as Float32Array
    },
    release: () => session.release()
  }
}
