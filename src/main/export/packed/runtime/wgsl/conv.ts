import { ENTRY, PRELUDE } from './common'

/**
 * The float convolution (stems, preprocess convs, the reduction cells' 2×2 stride-2 residual conv with bias): NHWC
 * input, weights [kh][kw][C_in][C_out], PyTorch's zero padding, stride and dilation. One thread per output value, C_out
 * fastest, so neighbouring threads read neighbouring weights. The bias buffer holds zeros when the conv has none.
 *
 * `lanes` 4: 4 output channels a thread, for C_out a multiple of 4 (every conv of the method's networks when C is
 * even): each input value is read once for 4 channels and the weights as vec4. Per channel, the same sum in the same
 * order as with 1 lane. The uniform's `cout` is then C_out / 4.
 */
function convShader(lanes: 1 | 4): string {
  const value = lanes === 4 ? 'vec4<f32>' : 'f32'
  return /* wgsl */ `${PRELUDE}
struct Params {
  total: u32, h: u32, w: u32, cin: u32,
  ho: u32, wo: u32, cout: u32, kernel: u32,
  stride: u32, pad: u32, dilation: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<${value}>;
@group(0) @binding(3) var<storage, read> bias: array<${value}>;
@group(0) @binding(4) var<storage, read_write> y: array<${value}>;
${ENTRY} {
  let i = flatIndex(wid, lid, groups);
  if (i >= p.total) { return; }
  let co = i % p.cout;
  let pixel = i / p.cout;
  let ox = pixel % p.wo;
  let oy = (pixel / p.wo) % p.ho;
  let n = pixel / (p.wo * p.ho);
  var acc = ${value}(0.0);
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
}

export const CONV = convShader(1)
export const CONV_VEC4 = convShader(4)
