import type { PackedStep } from '../format'
import { bnInverse } from './reference'
import type { PackedBackend, PackedRuntimePath, PathAvailability, StepDims } from './types'
import { createGpuBinConv, type GpuBinConvStep } from './webgpu-binconv'
import { acquirePackedGpu, packedGpuDevice, type GpuKind } from './webgpu-device'
import { GpuBufferPool } from './webgpu-pool'
import { KERNELS, PARAM_WORDS, workgroups, type KernelName } from './wgsl'

/**
 * The packed runtime on WebGPU (issue 9): tensors stay in GPU buffers from the input's upload to the logits' read-back;
 * each step encodes its compute passes into one command encoder per run, submitted when the output is read. Runs in a
 * browser (navigator.gpu) or in Node (Dawn), without TF.js. Weights are uploaded once, in prepare(); activations come
 * from a pool of buffers by size class, so repeated runs create no buffers.
 */

/** A tensor: a pooled buffer (possibly larger than needed) and its length in floats. */
interface GpuTensor {
  buffer: GPUBuffer
  length: number
}

interface Prepared {
  /** One uniform buffer per pass (concat: one per part), holding the pass's PARAM_WORDS u32 parameters. */
  uniforms: GPUBuffer[]
  /** The parameters last written to `uniforms` (they change with the batch). */
  written: Uint32Array[]
  /** The encoder (by serial number) that last used `uniforms`: rewriting them before it is submitted would race. */
  usedBy: number
  /** Weight buffers bound after the input(s): conv/linear weight and bias, BN's [mean | inv | γ | β]. */
  weights: GPUBuffer[]
  binconv?: GpuBinConvStep
}

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
function pipelinesFor(device: GPUDevice): Promise<Map<KernelName, GPUComputePipeline>> {
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
function passesOf(step: PackedStep, dims: StepDims): Array<{ kernel: KernelName; params: number[] }> {
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

export class WebGpuBackend implements PackedBackend<GpuTensor, Prepared> {
  readonly name = 'webgpu'
  private readonly tensors: GpuBufferPool
  private readonly staging: GpuBufferPool
  /** Weights and uniforms, made in prepare() and kept until dispose(). */
  private readonly persistent: GPUBuffer[] = []
  private readonly binconvs: GpuBinConvStep[] = []
  private encoder: GPUCommandEncoder | undefined
  private serial = 0
  /** Validation / out-of-memory errors of submitted work not yet reported (a read reports them). */
  private errors: Array<Promise<GPUError | null>> = []
  private lost: string | undefined
  private disposed = false

  private constructor(
    readonly device: GPUDevice,
    private readonly pipelines: Map<KernelName, GPUComputePipeline>
  ) {
    this.tensors = new GpuBufferPool(
      device,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      'packed tensor'
    )
    this.staging = new GpuBufferPool(device, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'packed read-back')
    void device.lost.then((info) => (this.lost = `${info.reason}: ${info.message}`))
  }

  static async create(): Promise<WebGpuBackend> {
    const device = await packedGpuDevice()
    return new WebGpuBackend(device, await pipelinesFor(device))
  }

  /** GPU buffers the backend holds now (pooled activations, weights, uniforms): flat over repeated runs. */
  get bufferCount(): number {
    return this.tensors.count + this.staging.count + this.persistent.length
  }

  private check(): void {
    if (this.disposed) throw new Error('packed runtime (webgpu): the session was disposed')
    if (this.lost)
      throw new Error(`packed runtime (webgpu): the GPU device was lost (${this.lost}); open the model again`)
  }

  private upload(data: Float32Array, label: string): GPUBuffer {
    const buffer = this.device.createBuffer({
      label,
      size: Math.max(4, data.byteLength),
      usage: GPUBufferUsage.STORAGE,
      mappedAtCreation: true
    })
    new Float32Array(buffer.getMappedRange()).set(data)
    buffer.unmap()
    this.persistent.push(buffer)
    return buffer
  }

  prepare(step: PackedStep, dims: Omit<StepDims, 'batch'>): Prepared {
    this.check()
    const passes = passesOf(step, { ...dims, batch: 1 })
    const uniforms = passes.map(() => {
      const buffer = this.device.createBuffer({
        label: `${step.name} params`,
        size: PARAM_WORDS * 4,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST
      })
      this.persistent.push(buffer)
      return buffer
    })
    const prepared: Prepared = { uniforms, written: [], usedBy: -1, weights: [] }
    switch (step.op) {
      case 'bn': {
        const c = step.bn.mean.length
        const packed = new Float32Array(4 * c)
        packed.set(step.bn.mean, 0)
        packed.set(bnInverse(step.bn), c)
        packed.set(step.bn.gamma ?? new Float32Array(c).fill(1), 2 * c)
        if (step.bn.beta) packed.set(step.bn.beta, 3 * c)
        prepared.weights = [this.upload(packed, `${step.name} bn`)]
        break
      }
      case 'conv':
        prepared.weights = [
          this.upload(step.weight, `${step.name} weight`),
          this.upload(step.bias ?? new Float32Array(step.cout), `${step.name} bias`)
        ]
        break
      case 'linear':
        if (dims.inputs[0][2] !== step.inFeatures) {
          throw new Error(
            `${step.name}: the input has ${dims.inputs[0][2]} features, the layer takes ${step.inFeatures}`
          )
        }
        prepared.weights = [
          this.upload(step.weight, `${step.name} weight`),
          this.upload(step.bias, `${step.name} bias`)
        ]
        break
      case 'binconv':
        prepared.binconv = createGpuBinConv(this.device, step, dims)
        this.binconvs.push(prepared.binconv)
        break
    }
    return prepared
  }

  alloc(length: number): GpuTensor {
    this.check()
    const bytes = Math.max(4, length * 4)
    const limit = this.device.limits.maxStorageBufferBindingSize
    if (bytes > limit) {
      throw new Error(
        `packed runtime (webgpu): a tensor of ${bytes.toLocaleString('en')} bytes exceeds this adapter's largest ` +
          `storage binding (${limit.toLocaleString('en')} bytes); use a smaller batch`
      )
    }
    return { buffer: this.tensors.take(bytes), length }
  }

  free(tensor: GpuTensor): void {
    // Work already encoded that reads this buffer runs before any later use: WebGPU orders a queue's commands.
    this.tensors.give(tensor.buffer)
  }

  write(tensor: GpuTensor, data: Float32Array): void {
    this.check()
    if (data.length > tensor.length) {
      throw new Error(`packed runtime (webgpu): writing ${data.length} values into a tensor of ${tensor.length}`)
    }
    // queue.writeBuffer runs before anything submitted later: encoded work that reads this buffer goes first.
    this.flush()
    this.device.queue.writeBuffer(tensor.buffer, 0, data.buffer, data.byteOffset, data.byteLength)
  }

  async read(tensor: GpuTensor, length: number): Promise<Float32Array> {
    this.check()
    const bytes = length * 4
    const staging = this.staging.take(Math.max(4, bytes))
    try {
      this.pending().copyBufferToBuffer(tensor.buffer, 0, staging, 0, bytes)
      this.flush()
      const errors = await Promise.all(this.errors.splice(0))
      const error = errors.find((e) => e !== null)
      if (error) throw new Error(`packed runtime (webgpu): the GPU rejected the work: ${error.message}`)
      await staging.mapAsync(GPUMapMode.READ, 0, Math.max(4, bytes))
      const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0))
      staging.unmap()
      return out
    } catch (error) {
      this.check()
      throw error
    } finally {
      this.staging.give(staging)
    }
  }

  /** The encoder of the current run, with error scopes open until it is submitted. */
  private pending(): GPUCommandEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope('validation')
      this.device.pushErrorScope('out-of-memory')
      this.encoder = this.device.createCommandEncoder({ label: 'packed run' })
      this.serial++
    }
    return this.encoder
  }

  private flush(): void {
    if (!this.encoder) return
    const encoder = this.encoder
    this.encoder = undefined
    this.device.queue.submit([encoder.finish()])
    this.errors.push(this.device.popErrorScope(), this.device.popErrorScope())
  }

  /** Writes a step's parameters where they changed, submitting first if queued work still reads the old ones. */
  private setParams(prepared: Prepared, params: number[][]): void {
    const words = params.map((list) => {
      const out = new Uint32Array(PARAM_WORDS)
      out.set(list)
      return out
    })
    const changed = words.some((w, i) => !prepared.written[i] || w.some((v, j) => v !== prepared.written[i][j]))
    if (changed) {
      if (prepared.usedBy === this.serial && this.encoder) this.flush()
      words.forEach((w, i) => this.device.queue.writeBuffer(prepared.uniforms[i], 0, w))
      prepared.written = words
    }
  }

  execute(step: PackedStep, prepared: Prepared, inputs: GpuTensor[], output: GpuTensor, dims: StepDims): void {
    this.check()
    if (step.op === 'zero') {
      const [ho, wo, co] = dims.output
      this.pending().clearBuffer(output.buffer, 0, dims.batch * ho * wo * co * 4)
      return
    }
    if (step.op === 'binconv') {
      prepared.binconv!.encode(this.pending(), inputs[0].buffer, output.buffer, dims.batch)
      return
    }
    const passes = passesOf(step, dims)
    this.setParams(
      prepared,
      passes.map((pass) => pass.params)
    )
    const encoder = this.pending()
    prepared.usedBy = this.serial
    const pass = encoder.beginComputePass({ label: step.name })
    passes.forEach(({ kernel, params }, i) => {
      const pipeline = this.pipelines.get(kernel)!
      // Binding order = the kernels' @binding numbers: params, the input(s), the weights, the output.
      const sources = step.op === 'concat' ? [inputs[i]] : inputs
      const buffers = [prepared.uniforms[i], ...sources.map((t) => t.buffer), ...prepared.weights, output.buffer]
      pass.setPipeline(pipeline)
      pass.setBindGroup(
        0,
        this.device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } }))
        })
      )
      pass.dispatchWorkgroups(...workgroups(params[0]))
    })
    pass.end()
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.encoder = undefined
    for (const binconv of this.binconvs.splice(0)) binconv.dispose()
    for (const buffer of this.persistent.splice(0)) buffer.destroy()
    this.tensors.dispose()
    this.staging.dispose()
  }
}

/** The adapter this path would use and its kind, or why there is none (for reports: bench infer, backends). */
export async function webgpuAdapterStatus(): Promise<
  { ok: true; kind: GpuKind; description: string } | { ok: false; reason: string }
> {
  try {
    const { kind, description } = await acquirePackedGpu()
    return { ok: true, kind, description }
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) }
  }
}

export const webgpuPath: PackedRuntimePath = {
  name: 'webgpu',
  // Above wasm-simd (10) and native (5): a hardware GPU is preferred when no path is named. A software adapter never
  // is (available() says: on request only).
  priority: 20,
  available: async (): Promise<PathAvailability> => {
    const status = await webgpuAdapterStatus()
    if (!status.ok) return { ok: false, reason: status.reason }
    if (status.kind === 'software') {
      return {
        ok: true,
        onRequestOnly: `${status.description}: correct but slower than the CPU paths, so used only when named (path 'webgpu'; --path webgpu on the command line)`
      }
    }
    if (status.kind === 'unknown') {
      return {
        ok: true,
        onRequestOnly: `${status.description}: not known to be a hardware GPU, so used only when named (path 'webgpu'; --path webgpu on the command line)`
      }
    }
    return { ok: true }
  },
  createBackend: () => WebGpuBackend.create()
}
