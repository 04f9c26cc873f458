/** The geometry of one binary conv layer, as the WGSL kernels take it (PyTorch's: symmetric zero padding). */
export interface BinaryConvGeometry {
  inH: number
  inW: number
  inC: number
  outH: number
  outW: number
  outC: number
  kernel: number
  stride: number
  dilation: number
  pad: number
}

/** 32-bit words per pixel of a packed plane: ⌈C/32⌉. */
export function wordsPerPixel(channels: number): number {
  return Math.ceil(channels / 32)
}

export function describeGeometry(g: BinaryConvGeometry): string {
  return (
    `${g.inH}×${g.inW}×${g.inC} → ${g.outH}×${g.outW}×${g.outC}, kernel ${g.kernel}, stride ${g.stride}, ` +
    `dilation ${g.dilation}, pad ${g.pad}`
  )
}

/**
 * Throws unless the geometry is one the kernels compute: positive integer sizes, PyTorch's output size
 * ⌊(in + 2·pad − dilation·(k − 1) − 1) / stride⌋ + 1 on both axes. Any kernel size, stride and dilation work (they
 * are uniforms); the tests cover those of the method (kernel 1, 2, 3, 5, stride 1|2, dilation 1|2) and 7 and 9.
 */
export function checkBinaryConvGeometry(g: BinaryConvGeometry): void {
  const positive = ['inH', 'inW', 'inC', 'outH', 'outW', 'outC', 'kernel', 'stride', 'dilation'] as const
  const bad = positive.filter((key) => !Number.isInteger(g[key]) || g[key] < 1)
  if (!Number.isInteger(g.pad) || g.pad < 0) bad.push('pad' as never)
  if (bad.length > 0) {
    throw new Error(
      `binary conv geometry not supported (${describeGeometry(g)}): ${bad.join(', ')} must be positive whole numbers (pad: 0 or more)`
    )
  }
  const out = (size: number): number => Math.floor((size + 2 * g.pad - g.dilation * (g.kernel - 1) - 1) / g.stride) + 1
  if (out(g.inH) !== g.outH || out(g.inW) !== g.outW) {
    throw new Error(
      `binary conv geometry not supported (${describeGeometry(g)}): symmetric padding gives ${out(g.inH)}×${out(g.inW)} outputs`
    )
  }
}
