import { ENTRY, PRELUDE } from './common'

/**
 * The float convolution (stems, preprocess convs, the reduction cells' 2×2 stride-2 residual conv with bias): NHWC
 * input, weights [kh][kw][C_in][C_out], PyTorch's zero padding, stride and dilation. One thread per output value, C_out
 * fastest, so neighbouring threads read neighbouring weights. The bias buffer holds zeros when the conv has none.
 */
export const CONV = /* wgsl */ `${PRELUDE}
struct Params {
  total: u32, h: u32, w: u32, cin: u32,
  ho: u32, wo: u32, cout: u32, kernel: u32,
  stride: u32, pad: u32, dilation: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let co = i % p.cout;
  let pixel = i / p.cout;
  let ox = pixel % p.wo;
  let oy = (pixel / p.wo) % p.ho;
  let n = pixel / (p.wo * p.ho);
  var acc = 0.0;
  for (var ky = 0u; ky < p.kernel; ky++) {
    // Signed: the first taps of a padded window lie above or left of the image.
    let iy = i32(oy * p.stride + ky * p.dilation) - i32(p.pad);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.kernel; kx++) {
      let ix = i32(ox * p.stride + kx * p.dilation) - i32(p.pad);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let xb = ((n * p.h + u32(iy)) * p.w + u32(ix)) * p.cin;
      let wb = (ky * p.kernel + kx) * p.cin * p.cout + co;
      for (var ci = 0u; ci < p.cin; ci++) {
        acc += x[xb + ci] * weight[wb + ci * p.cout];
      }
    }
  }
  y[i] = acc + bias[co];
}
`

/**
 * The same convolution, 4 output channels a thread, for C_out a multiple of 4 (every conv of the method's networks when
 * C is even): each input value is read once for 4 channels and the weights as vec4. Per channel, the same sum in the
 * same order as CONV.
 */
export const CONV_VEC4 = /* wgsl */ `${PRELUDE}
struct Params {
  total: u32, h: u32, w: u32, cin: u32,
  ho: u32, wo: u32, cout4: u32, kernel: u32,
  stride: u32, pad: u32, dilation: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let co4 = i % p.cout4;
  let pixel = i / p.cout4;
  let ox = pixel % p.wo;
  let oy = (pixel / p.wo) % p.ho;
  let n = pixel / (p.wo * p.ho);
  var acc = vec4<f32>(0.0);
  for (var ky = 0u; ky < p.kernel; ky++) {
    let iy = i32(oy * p.stride + ky * p.dilation) - i32(p.pad);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.kernel; kx++) {
      let ix = i32(ox * p.stride + kx * p.dilation) - i32(p.pad);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let xb = ((n * p.h + u32(iy)) * p.w + u32(ix)) * p.cin;
      let wb = (ky * p.kernel + kx) * p.cin * p.cout4 + co4;
      for (var ci = 0u; ci < p.cin; ci++) {
        acc += x[xb + ci] * weight[wb + ci * p.cout4];
      }
    }
  }
  y[i] = acc + bias[co4];
}
`
