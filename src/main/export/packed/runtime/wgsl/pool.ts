import { ENTRY, PRELUDE } from './common'

/**
 * 3×3 pools with padding 1, as the engine's (PyTorch's) ops: max pads with −∞ (so only in-image values count), average
 * divides by the number of in-image taps (count_include_pad=False).
 */
export const POOL = /* wgsl */ `${PRELUDE}
struct Params { total: u32, h: u32, w: u32, c: u32, ho: u32, wo: u32, stride: u32, isMax: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let ch = i % p.c;
  let pixel = i / p.c;
  let ox = pixel % p.wo;
  let oy = (pixel / p.wo) % p.ho;
  let n = pixel / (p.wo * p.ho);
  var best = 0.0;
  var sum = 0.0;
  var count = 0u;
  for (var ky = 0u; ky < 3u; ky++) {
    let iy = i32(oy * p.stride + ky) - 1;
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let ix = i32(ox * p.stride + kx) - 1;
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let v = x[((n * p.h + u32(iy)) * p.w + u32(ix)) * p.c + ch];
      best = select(v, max(best, v), count > 0u);
      sum += v;
      count++;
    }
  }
  // Every window holds at least one in-image tap (padding 1 < kernel 3), so count ≥ 1 and best is one of the values.
  y[i] = select(sum / f32(count), best, p.isMax == 1u);
}
`

/** Global average pool: [N, H·W, C] → [N, C]. */
export const GAP = /* wgsl */ `${PRELUDE}
struct Params { total: u32, hw: u32, c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let ch = i % p.c;
  let n = i / p.c;
  var sum = 0.0;
  for (var q = 0u; q < p.hw; q++) {
    sum += x[(n * p.hw + q) * p.c + ch];
  }
  y[i] = sum / f32(p.hw);
}
`
