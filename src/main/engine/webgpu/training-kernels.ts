import * as tf from '@tensorflow/tfjs-core'

/**
 * Kernels tfjs-backend-webgpu 4.22 gets wrong for the method's training pass, replaced for 'webgpu'. Found by running
 * every op of the method forward and backward on webgpu against the PyTorch fixtures (test/webgpu/ops.test.ts); the
 * other kernels (dense and dilated convs with their gradients, pools, batch norm's pieces, sign, select) agree.
 *
 * - MaxPoolGrad: the shipped one gives each window's gradient to its *last* maximum (`value >= max`); PyTorch gives
 *   it to the first in row-major order. Ties are the common case after ReLU (whole windows of 0), so the gradients
 *   differ there. Replaced by a WGSL gather with PyTorch's rule.
 */
export function registerWebgpuTrainingKernels(): void {
  if (maxPoolGradReplaced) return
  if (tf.getKernel('MaxPoolGrad', 'webgpu') !== undefined) tf.unregisterKernel('MaxPoolGrad', 'webgpu')
  tf.registerKernel({
    kernelName: 'MaxPoolGrad',
    backendName: 'webgpu',
    kernelFunc: maxPoolGradFirstMax as tf.KernelFunc
  })
  maxPoolGradReplaced = true
}

let maxPoolGradReplaced = false

/** The parts of tfjs-backend-webgpu's program interface (webgpu_program.d.ts) used here. */
interface WebGPUProgram {
  variableNames: string[]
  uniforms?: string
  outputShape: number[]
  shaderKey: string
  size?: boolean
  dispatchLayout: { x: number[] }
  dispatch: [number, number, number]
  workgroupSize: [number, number, number]
  getUserCode(): string
}

interface WebGPUBackendLike {
  runWebGPUProgram(
    program: WebGPUProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: { type: string; data: number[] }[]
  ): tf.TensorInfo
}

const WORKGROUP: [number, number, number] = [64, 1, 1]

/**
 * dx[n, r, c, d] = Σ dy[n, i, j, d] over the outputs (i, j) whose window contains (r, c) and whose *first* maximum
 * (row-major, `>`; NaN wins as in PyTorch's `val > max || isnan(val)`) is (r, c). One invocation per input element,
 * no atomics: each output window is rescanned by the ≤ ⌈k/s⌉² elements it covers, cheap next to the convs.
 */
class MaxPoolGradFirstMaxProgram implements WebGPUProgram {
  variableNames = ['dy', 'x']
  uniforms = 'strides : vec2<i32>, pads : vec2<i32>, filterDims : vec2<i32>,'
  outputShape: number[]
  shaderKey = 'bnasMaxPoolGradFirstMax'
  size = true
  dispatchLayout: { x: number[] }
  dispatch: [number, number, number]
  workgroupSize = WORKGROUP

  constructor(inShape: number[]) {
    this.outputShape = inShape
    this.dispatchLayout = { x: inShape.map((_, i) => i) }
    const size = inShape.reduce((a, b) => a * b, 1)
    this.dispatch = [Math.ceil(size / WORKGROUP[0]), 1, 1]
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let coords = getCoordsFromIndex(index);
          let batch = coords[0];
          let xR = coords[1];
          let xC = coords[2];
          let d = coords[3];
          var sum = 0.0;
          for (var wR = 0; wR < uniforms.filterDims.x; wR++) {
            let rNum = xR + uniforms.pads.x - wR;
            if (rNum < 0 || rNum % uniforms.strides.x != 0) { continue; }
            let i = rNum / uniforms.strides.x;
            if (i >= uniforms.dyShape[1]) { continue; }
            for (var wC = 0; wC < uniforms.filterDims.y; wC++) {
              let cNum = xC + uniforms.pads.y - wC;
              if (cNum < 0 || cNum % uniforms.strides.y != 0) { continue; }
              let j = cNum / uniforms.strides.y;
              if (j >= uniforms.dyShape[2]) { continue; }
              // The first maximum of output (i, j)'s window; out-of-image taps never win (−∞ padding).
              let r0 = i * uniforms.strides.x - uniforms.pads.x;
              let c0 = j * uniforms.strides.y - uniforms.pads.y;
              var best = 0.0;
              var found = false;
              var bestR = -1;
              var bestC = -1;
              for (var a = 0; a < uniforms.filterDims.x; a++) {
                let r = r0 + a;
                if (r < 0 || r >= uniforms.xShape[1]) { continue; }
                for (var b = 0; b < uniforms.filterDims.y; b++) {
                  let c = c0 + b;
                  if (c < 0 || c >= uniforms.xShape[2]) { continue; }
                  let v = getX(batch, r, c, d);
                  if (!found || v > best || v != v) {
                    best = v;
                    found = true;
                    bestR = r;
                    bestC = c;
                  }
                }
              }
              if (bestR == xR && bestC == xC) {
                sum = sum + getDy(batch, i, j, d);
              }
            }
          }
          setOutputAtIndex(index, sum);
        }
      }
    `
  }
}

interface MaxPoolGradArgs {
  inputs: { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo }
  backend: WebGPUBackendLike
  attrs: {
    filterSize: [number, number] | number
    strides: [number, number] | number
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding
    dimRoundingMode?: 'floor' | 'round' | 'ceil'
  }
}

function maxPoolGradFirstMax({ inputs, backend, attrs }: MaxPoolGradArgs): tf.TensorInfo {
  const { dy, input } = inputs
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode
  )
  const uniforms = [
    { type: 'int32', data: [info.strideHeight, info.strideWidth] },
    { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
    { type: 'int32', data: [info.filterHeight, info.filterWidth] }
  ]
  return backend.runWebGPUProgram(new MaxPoolGradFirstMaxProgram(input.shape), [dy, input], 'float32', uniforms)
}
