import type { PackedStep } from '../format'
import { bnInverse } from './reference'
import type { PackedBackend, PackedRuntimePath, PathAvailability, StepDims } from './types'
import { createGpuBinConv, type GpuBinConvStep } from './webgpu-binconv'
import { acquirePackedGpu, packedGpuDevice, type GpuKind } from './webgpu-device'
import { GpuBufferPool } from './webgpu-pool'
import { pipelinesFor, passesOf } from './webgpu-kernels'
import { PARAM_WORDS, workgroups, type KernelName } from './wgsl'

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
  /**
   * Each pass's last bind group and the buffers it binds: the pool hands a run the same buffers as the run before, so
   * a run mostly makes no bind groups (making them was a third of the encoding time).
   */
  groups: Array<{ buffers: GPUBuffer[]; group: GPUBindGroup } | undefined>
  binconv?: GpuBinConvStep
}

export class WebGpuBackend implements PackedBackend<GpuTensor, Prepared> {
  readonly name = 'webgpu'
  private readonly tensors: GpuBufferPool
  private readonly staging: GpuBufferPool
  /** Weights and uniforms, made in prepare() and kept until dispose(). */
  private readonly persistent: GPUBuffer[] = []
  private readonly binconvs: GpuBinConvStep[] = []
  private encoder: GPUCommandEncoder | undefined
  /** The compute pass open in `encoder`: consecutive kernel steps share one (a dispatch sees the previous ones' writes). */
  private pass: GPUComputePassEncoder | undefined
  private readonly layouts = new Map<KernelName, GPUBindGroupLayout>()
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
    for (const [name, pipeline] of pipelines) this.layouts.set(name, pipeline.getBindGroupLayout(0))
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
    const prepared: Prepared = { uniforms, written: [], usedBy: -1, weights: [], groups: [] }
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
    if (length > tensor.length) {
      throw new Error(`packed runtime (webgpu): reading ${length} values from a tensor of ${tensor.length}`)
    }
    const bytes = length * 4
    const staging = this.staging.take(Math.max(4, bytes))
    try {
      this.commands().copyBufferToBuffer(tensor.buffer, 0, staging, 0, bytes)
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

  /** The encoder outside any compute pass (for clears, copies and the binary conv's own pass). */
  private commands(): GPUCommandEncoder {
    this.pass?.end()
    this.pass = undefined
    return this.pending()
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.pending().beginComputePass({ label: 'packed steps' })
    return this.pass
  }

  private flush(): void {
    if (!this.encoder) return
    const encoder = this.commands()
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
      this.commands().clearBuffer(output.buffer, 0, dims.batch * ho * wo * co * 4)
      return
    }
    if (step.op === 'binconv') {
      prepared.binconv!.encode(this.commands(), inputs[0].buffer, output.buffer, dims.batch)
      return
    }
    const passes = passesOf(step, dims)
    this.setParams(
      prepared,
      passes.map((pass) => pass.params)
    )
    const pass = this.computePass()
    prepared.usedBy = this.serial
    passes.forEach(({ kernel, params }, i) => {
      // Binding order = the kernels' @binding numbers: params, the input(s), the weights, the output.
      const sources = step.op === 'concat' ? [inputs[i]] : inputs
      const buffers = [prepared.uniforms[i], ...sources.map((t) => t.buffer), ...prepared.weights, output.buffer]
      const cached = prepared.groups[i]
      let group = cached?.group
      if (!cached || cached.buffers.some((buffer, j) => buffer !== buffers[j])) {
        group = this.device.createBindGroup({
          layout: this.layouts.get(kernel)!,
          entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } }))
        })
        prepared.groups[i] = { buffers, group }
      }
      pass.setPipeline(this.pipelines.get(kernel)!)
      pass.setBindGroup(0, group!)
      pass.dispatchWorkgroups(...workgroups(params[0]))
    })
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.pass = undefined
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
