import { GpuBinaryConv } from '../../../engine/webgpu/wgsl/binary-conv'
import type { PackedBinConv } from '../format'
import { bnInverse } from './reference'
import type { StepDims } from './types'

/**
 * The binary conv step on the GPU: BN → sign → XNOR/popcount conv on packed signs → ×α → ReLU, computed by the
 * engine's WGSL binary conv (issue 9, src/main/engine/webgpu/wgsl/binary-conv.ts: plain WebGPU, no TF.js), which takes
 * the .bnpk bit planes as they are. The packed runtime does not carry a second binary conv of its own.
 */
export interface GpuBinConvStep {
  encode(encoder: GPUCommandEncoder, x: GPUBuffer, y: GPUBuffer, batch: number): void
  dispose(): void
}

export function createGpuBinConv(
  device: GPUDevice,
  step: PackedBinConv,
  dims: Omit<StepDims, 'batch'>
): GpuBinConvStep {
  const [inH, inW, inC] = dims.inputs[0]
  const [outH, outW, outC] = dims.output
  const { kernel, stride, dilation, padding: pad } = step
  return new GpuBinaryConv(
    device,
    { inH, inW, inC, outH, outW, outC, kernel, stride, dilation, pad },
    { sign: step.sign, ...(step.mask ? { mask: step.mask } : {}), alpha: step.alpha },
    {
      // The reference's BN exactly: the same 1/√(var + eps) (rounded as the engine rounds it), γ and β if affine.
      bn: { mean: step.bn.mean, inv: bnInverse(step.bn), gamma: step.bn.gamma, beta: step.bn.beta },
      relu: true
    }
  )
}
