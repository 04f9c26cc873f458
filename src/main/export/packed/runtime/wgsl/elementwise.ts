import { ENTRY, PRELUDE } from './common'

/**
 * Element-wise kernels over NHWC float tensors. Each computes what reference.ts computes, in float32, in the same
 * order of operations (BN: ((x − μ)·inv)·γ + β, each step rounded, as the engine's eval batch norm).
 */

/** y = x > 0 ? x : 0 (select, not max(): max of NaN is implementation-defined, the reference gives 0). */
export const RELU = /* wgsl */ `${PRELUDE}
struct Params { total: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let v = x[i];
  y[i] = select(0.0, v, v > 0.0);
}
`

export const ADD = /* wgsl */ `${PRELUDE}
struct Params { total: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  y[i] = a[i] + b[i];
}
`

/**
 * Eval batch norm per channel. bn holds [mean | inv | γ | β], C values each; γ = 1 and β = 0 where the BN is not
 * affine, which leaves every value exactly as without them.
 */
export const BN = /* wgsl */ `${PRELUDE}
struct Params { total: u32, channels: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bn: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let c = i % p.channels;
  let C = p.channels;
  y[i] = ((x[i] - bn[c]) * bn[C + c]) * bn[2u * C + c] + bn[3u * C + c];
}
`

/** One part of a channel concat: part [pixels, Cpart] into y [pixels, Ctotal] at channel offset. */
export const CONCAT = /* wgsl */ `${PRELUDE}
struct Params { total: u32, partChannels: u32, totalChannels: u32, offset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let pixel = i / p.partChannels;
  let c = i % p.partChannels;
  y[pixel * p.totalChannels + p.offset + c] = x[i];
}
`
