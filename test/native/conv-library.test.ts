import { Command } from 'commander'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { registerBackends } from '../../src/main/cli/commands/backends'
import { describeNativeBackend, loadNativeAddon, nativeAddonStatus } from '../../src/main/engine/native'
import { nativeSuite, randomValues, relativeError } from './compare'

// The addon's conv kernels at the kernel level, on whichever conv library this build has (oneDNN, or its own
// kernels: BNAS_NATIVE_ADDON=native/build-own/build/Release/bnas_native.node, see .ci/run), against direct float64
// loops: odd channel counts (partial SIMD blocks), non-square filters, different strides and dilations per axis,
// asymmetric padding, filters larger than the input.

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('conv library')

interface Geometry {
  n: number
  h: number
  w: number
  cin: number
  cout: number
  kh: number
  kw: number
  sh: number
  sw: number
  dh: number
  dw: number
  pads: [number, number, number, number] // top, left, bottom, right
}

const output = (size: number, k: number, s: number, d: number, before: number, after: number): number =>
  Math.floor((size + before + after - ((k - 1) * d + 1)) / s) + 1

function shapeOf(g: Geometry) {
  const [pt, pl, pb, pr] = g.pads
  return { oh: output(g.h, g.kh, g.sh, g.dh, pt, pb), ow: output(g.w, g.kw, g.sw, g.dw, pl, pr), pt, pl, pb, pr }
}

/** The addon's geometry array (backend.ts convGeometry's order). */
function geometryArray(g: Geometry): Int32Array {
  const { oh, ow, pt, pl, pb, pr } = shapeOf(g)
  return Int32Array.from([g.n, g.h, g.w, g.cin, oh, ow, g.cout, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, pt, pl, pb, pr])
}

/** Calls f(n, oy, ox, ky, kx, iy, ix) for every in-image tap. */
function forEachTap(
  g: Geometry,
  f: (n: number, oy: number, ox: number, ky: number, kx: number, iy: number, ix: number) => void
) {
  const { oh, ow, pt, pl } = shapeOf(g)
  for (let n = 0; n < g.n; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ky = 0; ky < g.kh; ky++)
          for (let kx = 0; kx < g.kw; kx++) {
            const iy = oy * g.sh - pt + ky * g.dh
            const ix = ox * g.sw - pl + kx * g.dw
            if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) f(n, oy, ox, ky, kx, iy, ix)
          }
}

function reference(g: Geometry, x: Float32Array, w: Float32Array, dy: Float32Array) {
  const { oh, ow } = shapeOf(g)
  const y = new Float64Array(g.n * oh * ow * g.cout)
  const dx = new Float64Array(x.length)
  const dw = new Float64Array(w.length)
  forEachTap(g, (n, oy, ox, ky, kx, iy, ix) => {
    const xi = ((n * g.h + iy) * g.w + ix) * g.cin
    const yi = ((n * oh + oy) * ow + ox) * g.cout
    const wi = (ky * g.kw + kx) * g.cin * g.cout
    for (let ci = 0; ci < g.cin; ci++)
      for (let co = 0; co < g.cout; co++) {
        const wv = w[wi + ci * g.cout + co]!
        y[yi + co] += x[xi + ci]! * wv
        dx[xi + ci] += dy[yi + co]! * wv
        dw[wi + ci * g.cout + co] += x[xi + ci]! * dy[yi + co]!
      }
  })
  return { y: Float32Array.from(y), dx: Float32Array.from(dx), dw: Float32Array.from(dw) }
}

const g = (
  n: number,
  h: number,
  w: number,
  cin: number,
  cout: number,
  [kh, kw]: [number, number],
  [sh, sw]: [number, number],
  [dh, dw]: [number, number],
  pads: [number, number, number, number]
): Geometry => ({ n, h, w, cin, cout, kh, kw, sh, sw, dh, dw, pads })

const CASES: Array<[string, Geometry]> = [
  ['3×3, C 3 → 5, padding 1', g(1, 5, 7, 3, 5, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1])],
  ['3×2, strides 2×3, asymmetric padding', g(2, 9, 8, 5, 17, [3, 2], [2, 3], [1, 1], [0, 1, 2, 0])],
  ['5×5 dilation 3, C 16 → 24', g(2, 11, 10, 16, 24, [5, 5], [1, 1], [3, 3], [6, 6, 6, 6])],
  ['3×3 stride 2 and dilation 2 at once', g(1, 9, 9, 8, 8, [3, 3], [2, 2], [2, 2], [2, 2, 2, 2])],
  ['1×1 stride 2, C 40 → 33', g(2, 7, 7, 40, 33, [1, 1], [2, 2], [1, 1], [0, 0, 0, 0])],
  ['5×5 on a 3×3 input', g(1, 3, 3, 4, 6, [5, 5], [1, 1], [1, 1], [2, 2, 2, 2])],
  ['3×3 stride 3, one channel', g(3, 6, 6, 1, 1, [3, 3], [3, 3], [1, 1], [0, 0, 0, 0])],
  ['3×3, C 32 → 64 (full SIMD blocks)', g(2, 8, 8, 32, 64, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1])],
  ['2×2, strides 1×2, dilations 2×1', g(1, 4, 5, 2, 3, [2, 2], [1, 2], [2, 1], [1, 0, 1, 1])]
]

function run(c: Geometry, seed: number) {
  const addon = loadNativeAddon()
  const { oh, ow } = shapeOf(c)
  const x = randomValues(c.n * c.h * c.w * c.cin, seed, 0.05)
  const w = randomValues(c.kh * c.kw * c.cin * c.cout, seed + 1)
  const dy = randomValues(c.n * oh * ow * c.cout, seed + 2)
  const geometry = geometryArray(c)
  // NaN-filled outputs: a kernel that skipped an element fails the comparison.
  const y = new Float32Array(dy.length).fill(NaN)
  const yRelu = new Float32Array(dy.length).fill(NaN)
  const dx = new Float32Array(x.length).fill(NaN)
  const dw = new Float32Array(w.length).fill(NaN)
  addon.conv2dForward(x, w, y, geometry)
  addon.conv2dForward(x, w, yRelu, geometry, true)
  addon.conv2dBackpropInput(dy, w, dx, geometry)
  addon.conv2dBackpropFilter(x, dy, dw, geometry)
  return { actual: { y, yRelu, dx, dw }, expected: reference(c, x, w, dy) }
}

describe.skipIf(!status.available)(`native conv library${skipReason}`, () => {
  afterEach(() => vi.restoreAllMocks())

  it('info() names the conv library, and describeNativeBackend says it', () => {
    const info = loadNativeAddon().info()
    expect(info.convs).toMatch(
      /^(onednn \d+\.\d+\.\d+( \+ own (avx512|avx2|baseline) \(dilated convs, forward up to 16 channels\))?|own (avx512|avx2|baseline|avx512-emulated))$/
    )
    if (info.oneDNN === null) expect(info.convs).toMatch(/^own /)
    else expect(info.convs.startsWith(`onednn ${info.oneDNN}`)).toBe(true)
    // A oneDNN build mixes in the own forward and filter gradient on CPUs without AVX-512 (BNAS_CONV_MIX forces it).
    const mixed = info.convs.includes(' + own ')
    if (info.oneDNN !== null && process.env.BNAS_CONV_MIX === '1') expect(mixed).toBe(true)
    if (process.env.BNAS_CONV_MIX === '0') expect(mixed).toBe(false)
    // CI runs these tests once more with the AVX-512 blocking emulated on baseline x86-64: that run must really use it.
    const asked = process.env.BNAS_OWN_CONV_ISA
    if (info.oneDNN === null && (asked === 'baseline' || asked === 'avx512-emulated'))
      expect(info.convs).toBe(`own ${asked}`)
    expect(describeNativeBackend()).toContain(`convs ${info.convs}`)
    const implementations = loadNativeAddon().convImplementations(geometryArray(CASES[0]![1]))
    if (info.oneDNN === null) expect(implementations).toMatch(/^fwd=own-direct:/)
    else if (!mixed) expect(implementations).toMatch(/^fwd=(?!own)\S+ bwd_data=(?!own)\S+ bwd_filter=(?!own)/)
    else {
      // Mixed: a small dense conv's forward, every dilated conv's forward and filter gradient are the own kernels';
      // wide dense convs and every input gradient oneDNN's.
      const of = (name: string) =>
        loadNativeAddon().convImplementations(geometryArray(CASES.find(([n]) => n === name)![1]))
      expect(implementations).toMatch(/^fwd=own-direct:\S+ bwd_data=(?!own)\S+ bwd_filter=(?!own)/)
      expect(of('5×5 dilation 3, C 16 → 24')).toMatch(/^fwd=own-direct:\S+ bwd_data=(?!own)\S+ bwd_filter=own-direct:/)
      expect(of('3×3, C 32 → 64 (full SIMD blocks)')).toMatch(/^fwd=(?!own)\S+ bwd_data=(?!own)\S+ bwd_filter=(?!own)/)
    }
  })

  it('`bnas backends` prints the conv library, and for the own kernels what oneDNN would add', async () => {
    const program = new Command('bnas').exitOverride()
    registerBackends(program)
    let out = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk)
      return true
    })
    await program.parseAsync(['node', 'bnas', 'backends'])
    const native = out.slice(out.indexOf(' native '), out.indexOf(' wasm '))
    const info = loadNativeAddon().info()
    expect(native).toContain(`found: convs ${info.convs}`)
    if (info.oneDNN === null) expect(native).toMatch(/to use it: .*libdnnl-dev/)
    else expect(native).not.toContain('to use it')
  }, 60_000)

  for (const [name, c] of CASES) {
    it(`${name}: forward, + ReLU, input and filter gradients equal direct float64 sums`, () => {
      const { actual, expected } = run(c, 7)
      expect(relativeError(actual.y, expected.y)).toBeLessThan(1e-5)
      expect(
        relativeError(
          actual.yRelu,
          expected.y.map((v) => Math.max(v, 0))
        )
      ).toBeLessThan(1e-5)
      expect(relativeError(actual.dx, expected.dx)).toBeLessThan(1e-5)
      expect(relativeError(actual.dw, expected.dw)).toBeLessThan(1e-5)
    })
  }

  it('gives the same values on 2 threads (a conv large enough to be split)', () => {
    const addon = loadNativeAddon()
    const before = addon.info().threads
    addon.setThreads(2)
    try {
      const big = g(4, 16, 16, 16, 32, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1])
      const { actual, expected } = run(big, 21)
      expect(relativeError(actual.y, expected.y)).toBeLessThan(1e-5)
      expect(relativeError(actual.dx, expected.dx)).toBeLessThan(1e-5)
      expect(relativeError(actual.dw, expected.dw)).toBeLessThan(1e-5)
    } finally {
      addon.setThreads(before)
    }
  })
})
