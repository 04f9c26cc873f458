import { ENTRY, PRELUDE } from './common'

/** The classifier: y[n, o] = Σ_i x[n, i]·W[i, o] + b[o], weights [in][out]. */
export const LINEAR = /* wgsl */ `${PRELUDE}
struct Params { total: u32, fin: u32, fout: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let o = i % p.fout;
  let n = i / p.fout;
  var sum = 0.0;
  for (var k = 0u; k < p.fin; k++) {
    sum += x[n * p.fin + k] * weight[k * p.fout + o];
  }
  y[i] = sum + bias[o];
}
`
