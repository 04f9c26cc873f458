import type { PackedStep } from '../format'
import type { StepDims } from './types'
import { KERNELS, type KernelName } from './wgsl'

// The WebGPU path's compute pipelines (compiled once per device) and which of them each step runs, with what parameters.

const PIPELINES = new WeakMap<GPUDevice, Map<KernelName, Promise<GPUComputePipeline>>>()

async function compile(device: GPUDevice, name: KernelName): Promise<GPUComputePipeline> {
  const module = device.createShaderModule({ label: `packed ${name}`, code: KERNELS[name] })
  const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error')
  if (errors.length > 0) {
    const lines = errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`).join('; ')
    throw new Error(`packed runtime (webgpu): the WGSL of '${name}' does not compile here: ${lines}`)
  }
  return device.createComputePipelineAsync({
    label: `packed ${name}`,
    layout: 'auto',
    compute: { module, entryPoint: 'main' }
  })
}

/** The kernels' pipelines, compiled once per device; a WGSL error rejects with the compiler's message. */
export function pipelinesFor(device: GPUDevice): Promise<Map<KernelName, GPUComputePipeline>> {
  let cache = PIPELINES.get(device)
  if (!cache) {
    cache = new Map()
    PIPELINES.set(device, cache)
  }
  const entries = (Object.keys(KERNELS) as KernelName[]).map(async (name) => {
    let pipeline = cache.get(name)
    if (!pipeline) {
      pipeline = compile(device, name)
      cache.set(name, pipeline)
      pipeline.catch(() => cache.delete(name))
    }
    return [name, await pipeline] as const
  })
  return Promise.all(entries).then((list) => new Map(list))
}

/** Which kernel each pass of a step runs, and its parameters (the first word is always the thread count). */
export function passesOf(step: PackedStep, dims: StepDims): Array<{ kernel: KernelName; params: number[] }> {
  const n = dims.batch
  const [h, w, c] = dims.inputs[0]
  const [ho, wo, co] = dims.output
  const inputTotal = n * h * w * c
  const outputTotal = n * ho * wo * co
  switch (step.op) {
    case 'relu':
      return [{ kernel: 'relu', params: [inputTotal] }]
    case 'add':
      return [{ kernel: 'add', params: [inputTotal] }]
    case 'bn':
      return [{ kernel: 'bn', params: [inputTotal, c] }]
    case 'concat': {
      let offset = 0
      return dims.inputs.map(([ph, pw, pc]) => {
        const pass = { kernel: 'concat' as const, params: [n * ph * pw * pc, pc, co, offset] }
        offset += pc
        return pass
      })
    }
    case 'conv': {
      const { kernel: k, stride, padding, dilation } = step
      // 4 output channels a thread where C_out allows (every conv of the method's networks at C a multiple of 4).
      if (co % 4 === 0) {
        return [{ kernel: 'conv4', params: [outputTotal / 4, h, w, c, ho, wo, co / 4, k, stride, padding, dilation] }]
      }
      return [{ kernel: 'conv', params: [outputTotal, h, w, c, ho, wo, co, k, stride, padding, dilation] }]
    }
    case 'maxpool':
    case 'avgpool':
      return [{ kernel: 'pool', params: [outputTotal, h, w, c, ho, wo, step.stride, step.op === 'maxpool' ? 1 : 0] }]
    case 'gap':
      return [{ kernel: 'gap', params: [n * c, h * w, c] }]
    case 'linear':
      return [{ kernel: 'linear', params: [n * step.outFeatures, step.inFeatures, step.outFeatures] }]
    case 'zero':
    case 'binconv':
      return []
  }
}
