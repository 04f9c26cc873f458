/**
 * WGSL sources of the binary convolution (plain WebGPU, no TF.js: the packed runtime runs them in a browser too).
 *
 * Packed planes (the convention of src/main/export/packed/bits.ts): channel c of a pixel is bit c % 32 of word c / 32;
 * every word is stored as a vec2<u32> (sign, nonzero), sign bit 1 = −1, nonzero bit 0 = the value 0 (sign(0) = 0, the
 * channels past C and the taps outside the image). Interleaving the two planes puts both words of a tap in one 8-byte
 * load. Activations are [N][H][W][words], weights [C_out][kh][kw][words].
 *
 * Every geometry number is a uniform, not a shader constant, so 3 pipelines per device serve every layer. Measured on
 * lavapipe (shader cache off, batch 32, 16×16×64 → 64, 3×3): the conv shader with the geometry as constants took
 * ~1.3 s to its first result (LLVM unrolls the constant loops) against ~0.3 s with uniforms, and ran no faster
 * (24–33 ms CPU per run against 25–29 ms). One specialised shader per layer shape would cost seconds per network.
 *
 * Invocations are laid out in 1-D over the output and dispatched as a 2-D grid (x ≤ 65535 workgroups, the WebGPU
 * minimum limit), recombined with num_workgroups: one layer of batch 64 at 32×32×256 has 16 M outputs.
 */

/** Workgroup size of every kernel here (a multiple of the SIMD width of lavapipe, NVIDIA, AMD, Intel and Apple). */
export const WORKGROUP = 64

const linearIndex = /* wgsl */ `
fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * ${WORKGROUP}u;
}`

/**
 * Float NHWC activations → packed (sign, nonzero) words, one invocation per (pixel, word), with an optional
 * per-channel batch norm before the sign, computed as the packed reference runtime's bnValue:
 * ((x − μ)·inv)·γ + β, each op rounded to float32. WGSL's f32 +, −, × are correctly rounded, but a compiler may
 * contract a·b + c into a fused multiply-add (one rounding instead of two), which could flip the sign of a value
 * within half an ulp of 0. So the final "+ β" is never computed: sign(fl(q + β)) equals the sign of the exact q + β
 * (IEEE addition is exact when its result is 0 and never changes sign by rounding), which is the exact comparison of
 * q with −β. The two multiplies and the subtraction cannot be contracted (no a·b + c shape is left). (lavapipe does
 * not contract, and even rounds WGSL's own fma() twice, so the test of this case in test/webgpu/binary-conv.test.ts
 * guards other GPUs: it fails when a zero sum reads as nonzero.) Without
 * batch norm (bn = 0) the sign is taken of x itself. What can still differ from the reference: subnormals (WGSL allows
 * a GPU to flush them to zero, so |x − μ| or a product below 2⁻¹²⁶ may read as 0 there) and NaN (sign(NaN) = 0 in the
 * reference; WGSL does not promise how comparisons with NaN are compiled).
 * The bn buffer is [mean(C), inv(C), gamma(C), beta(C)]; with no affine part γ = 1 and β = 0, which give the same
 * signs exactly (q·1 = q, and q compared with −0 is q compared with 0).
 */
export const PACK_WGSL = /* wgsl */ `
struct Params {
  total: u32,    // pixels × words
  channels: u32,
  words: u32,
  bn: u32,       // 1: batch norm before the sign
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bn: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<vec2<u32>>;
${linearIndex}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.total) { return; }
  let pixel = i / p.words;
  let c0 = (i % p.words) * 32u;
  let count = min(32u, p.channels - c0);
  let base = pixel * p.channels + c0;
  let C = p.channels;
  var s = 0u;
  var nz = 0u;
  for (var b = 0u; b < count; b++) {
    let v = x[base + b];
    var neg: bool;
    var pos: bool;
    if (p.bn != 0u) {
      let c = c0 + b;
      let q = ((v - bn[c]) * bn[C + c]) * bn[2u * C + c];
      let minus_beta = -bn[3u * C + c];
      neg = q < minus_beta;
      pos = q > minus_beta;
    } else {
      neg = v < 0.0;
      pos = v > 0.0;
    }
    let bit = 1u << b;
    if (neg) { s |= bit; }
    if (neg || pos) { nz |= bit; }
  }
  packed[i] = vec2<u32>(s, nz);
}`

/**
 * Float filter [kh, kw, C_in, C_out] (TF.js's layout) → packed weights [C_out][kh][kw][words], one invocation per
 * (output channel, tap, word); sign(0) = 0 goes to the nonzero plane as in bits.ts's packConvWeight.
 */
export const WEIGHT_PACK_WGSL = /* wgsl */ `
struct Params {
  total: u32,    // C_out × taps × words
  cin: u32,
  cout: u32,
  words: u32,
  taps: u32,
  _p0: u32, _p1: u32, _p2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<vec2<u32>>;
${linearIndex}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.total) { return; }
  let word = i % p.words;
  let tap = (i / p.words) % p.taps;
  let co = i / (p.words * p.taps);
  let c0 = word * 32u;
  let count = min(32u, p.cin - c0);
  var s = 0u;
  var nz = 0u;
  for (var b = 0u; b < count; b++) {
    let v = w[(tap * p.cin + c0 + b) * p.cout + co];
    let bit = 1u << b;
    if (v < 0.0) { s |= bit; nz |= bit; } else if (v > 0.0) { nz |= bit; }
  }
  packed[i] = vec2<u32>(s, nz);
}`

/** Output channels per conv invocation (see CONV_WGSL). */
export const CO_TILE = 8

/**
 * The convolution on packed planes: for each output, dot = Σ popcount(m) − 2·Σ popcount((sa ^ sw) & m) with
 * m = nonzero_a & nonzero_w over the in-image taps (exact integers), then y = α[co]·dot rounded once to float32 (the
 * packed reference's fround(α·dot)), ReLU optional.
 *
 * One invocation computes CO_TILE = 8 consecutive output channels of one output pixel: each activation word it loads
 * serves 8 weight words (register tiling). Process CPU time of one batch-32 16×16×64 → 64 3×3 layer on lavapipe
 * (scripts/bench/wgsl-binary-conv.ts --binary-only): 1 channel per invocation ≈ 62 ms, 4 ≈ 31 ms, 8 ≈ 26 ms,
 * 16 ≈ 31 ms. Channel tiles vary fastest, so a workgroup covers a few neighbouring pixels of one row (8 for
 * C_out = 64): its invocations mostly agree on the tap bounds (little divergence), load overlapping activation words
 * (cache hits) and read consecutive weight rows. A tile reaching past C_out (C_out not a multiple of 8) recomputes the last channel and does not store it. Weights stay in global
 * memory: with C_out = 64 a workgroup (8 pixels × 8 channel tiles) already reads each weight word once, so staging
 * them in workgroup memory would add a copy and a barrier without saving a load; and a layer's packed weights
 * (C_out·k²·⌈C_in/32⌉·8 bytes: 100 KB for 5×5, 256 → 256) do not fit the 16 KB every device has.
 */
export const CONV_WGSL = /* wgsl */ `
struct Params {
  total: u32,    // N × outH × outW × ⌈outC / CO_TILE⌉
  in_h: u32,
  in_w: u32,
  words: u32,
  out_h: u32,
  out_w: u32,
  out_c: u32,
  kernel: u32,
  stride: u32,
  dilation: u32,
  pad: u32,
  relu: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> act: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> wts: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> alpha: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${linearIndex}

fn ternary_dot(a: vec2<u32>, w: vec2<u32>) -> i32 {
  let m = a.y & w.y;
  return i32(countOneBits(m)) - 2i * i32(countOneBits((a.x ^ w.x) & m));
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= p.total) { return; }
  let tiles = (p.out_c + ${CO_TILE - 1}u) / ${CO_TILE}u;
  let co0 = (i % tiles) * ${CO_TILE}u;
  let pixel = i / tiles;
  let ox = pixel % p.out_w;
  let r = pixel / p.out_w;
  let oy = r % p.out_h;
  let n = r / p.out_h;
  let k = p.kernel;
  let words = p.words;
  let row = k * k * words;
  let last = p.out_c - 1u;
  var base: array<u32, ${CO_TILE}>;
  for (var q = 0u; q < ${CO_TILE}u; q++) { base[q] = min(co0 + q, last) * row; }
  let iy0 = i32(oy * p.stride) - i32(p.pad);
  let ix0 = i32(ox * p.stride) - i32(p.pad);
  let d = i32(p.dilation);
  var dot: array<i32, ${CO_TILE}>;
  for (var ky = 0u; ky < k; ky++) {
    let iy = iy0 + i32(ky) * d;
    if (iy < 0 || iy >= i32(p.in_h)) { continue; }
    for (var kx = 0u; kx < k; kx++) {
      let ix = ix0 + i32(kx) * d;
      if (ix < 0 || ix >= i32(p.in_w)) { continue; }
      let a = ((n * p.in_h + u32(iy)) * p.in_w + u32(ix)) * words;
      let t = (ky * k + kx) * words;
      for (var j = 0u; j < words; j++) {
        let av = act[a + j];
        for (var q = 0u; q < ${CO_TILE}u; q++) { dot[q] += ternary_dot(av, wts[base[q] + t + j]); }
      }
    }
  }
  let out = pixel * p.out_c;
  for (var q = 0u; q < ${CO_TILE}u; q++) {
    let co = co0 + q;
    if (co >= p.out_c) { break; }
    var v = alpha[co] * f32(dot[q]);
    if (p.relu != 0u) { v = select(0.0, v, v > 0.0); } // as the reference: v > 0 ? v : +0
    y[out + co] = v;
  }
}`
