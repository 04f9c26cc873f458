/**
 * GPU buffers recycled by size class, so a session does not create buffers for every step of every run: the same
 * model at the same batch asks for the same sizes each run and gets the buffers of the last one back. Size classes
 * are a quarter octave (at most 25% over), so other batches share them too. Idle buffers beyond `idleLimitBytes`
 * are destroyed rather than kept.
 *
 * take() hands out the oldest idle buffer of the class, not the last one given back: every run starts with all of
 * them idle, so each run gets the same buffer for each tensor as the run before, and the backend's bind groups
 * (which name buffers) stay valid from run to run.
 */
export class GpuBufferPool {
  private readonly idle = new Map<number, GPUBuffer[]>()
  /** Creation order, the order take() prefers. */
  private readonly order = new Map<GPUBuffer, number>()
  private made = 0
  private idleBytes = 0
  /** Every buffer made and not destroyed, so dispose() frees buffers still out too. */
  private readonly all = new Set<GPUBuffer>()

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: GPUBufferUsageFlags,
    private readonly label: string,
    private readonly idleLimitBytes = 256 * 2 ** 20
  ) {}

  /** The size class of a request: 256 bytes at least, else rounded up to a quarter of its power of two. */
  static sizeClass(bytes: number): number {
    if (bytes <= 256) return 256
    const step = 2 ** (Math.floor(Math.log2(bytes)) - 2)
    return Math.ceil(bytes / step) * step
  }

  take(bytes: number): GPUBuffer {
    const size = GpuBufferPool.sizeClass(bytes)
    const list = this.idle.get(size)
    if (list && list.length > 0) {
      let oldest = 0
      for (let i = 1; i < list.length; i++) if (this.order.get(list[i])! < this.order.get(list[oldest])!) oldest = i
      const [reused] = list.splice(oldest, 1)
      this.idleBytes -= size
      return reused
    }
    const buffer = this.device.createBuffer({ label: this.label, size, usage: this.usage })
    this.all.add(buffer)
    this.order.set(buffer, this.made++)
    return buffer
  }

  give(buffer: GPUBuffer): void {
    if (!this.all.has(buffer)) return
    if (this.idleBytes + buffer.size > this.idleLimitBytes) {
      this.all.delete(buffer)
      this.order.delete(buffer)
      buffer.destroy()
      return
    }
    const list = this.idle.get(buffer.size) ?? []
    list.push(buffer)
    this.idle.set(buffer.size, list)
    this.idleBytes += buffer.size
  }

  /** Buffers made so far and not destroyed (for tests: flat over repeated runs). */
  get count(): number {
    return this.all.size
  }

  dispose(): void {
    for (const buffer of this.all) buffer.destroy()
    this.all.clear()
    this.order.clear()
    this.idle.clear()
    this.idleBytes = 0
  }
}
