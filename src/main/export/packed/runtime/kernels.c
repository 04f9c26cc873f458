// Kernels of the packed 1-bit runtime, compiled to WebAssembly with SIMD (scripts/build-packed-wasm.sh):
//   clang --target=wasm32 -msimd128 -O3 -nostdlib
// No libc: memory is managed by the TypeScript side (wasm.ts), which passes pointers into this module's memory.
// Tensors are NHWC float32; bit planes follow ../bits.ts (32 values a word, sign bit 1 = -1, mask bit 1 = nonzero,
// padding = 0 in both planes). Every function here has a pure-TS twin in reference.ts that the tests compare with.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// BN exactly as the engine's eval batch norm: ((x - mean) * inv) * gamma + beta, each op rounded to float32
// (no FMA contraction: wasm has none without relaxed-simd). gamma/beta may be null (affine = false).
static inline float bn_value(float x, float mean, float inv, const float* gamma, const float* beta, int c) {
  float y = (x - mean) * inv;
  if (gamma) y = y * gamma[c];
  if (beta) y = y + beta[c];
  return y;
}

EXPORT(bn_f32)
void bn_f32(const float* x, float* y, int pixels, int c, const float* mean, const float* inv, const float* gamma,
            const float* beta) {
  for (int p = 0; p < pixels; p++)
    for (int ch = 0; ch < c; ch++) y[p * c + ch] = bn_value(x[p * c + ch], mean[ch], inv[ch], gamma, beta, ch);
}

// BN, sign, and packing into sign / nonzero planes: [pixels][words].
EXPORT(bn_sign_pack)
void bn_sign_pack(const float* x, int pixels, int c, int words, const float* mean, const float* inv,
                  const float* gamma, const float* beta, uint32_t* sign, uint32_t* mask) {
  for (int p = 0; p < pixels; p++) {
    const float* row = x + p * c;
    for (int w = 0; w < words; w++) {
      uint32_t s = 0, m = 0;
      int end = c - w * 32;
      if (end > 32) end = 32;
      for (int b = 0; b < end; b++) {
        int ch = w * 32 + b;
        float v = bn_value(row[ch], mean[ch], inv[ch], gamma, beta, ch);
        s |= (uint32_t)(v < 0.0f) << b;
        m |= (uint32_t)(v != 0.0f) << b;
      }
      sign[p * words + w] = s;
      mask[p * words + w] = m;
    }
  }
}

static inline v128_t popcnt_add16(v128_t acc, v128_t v) {
  return wasm_i16x8_add(acc, wasm_u16x8_extadd_pairwise_u8x16(wasm_i8x16_popcnt(v)));
}

static inline int hsum16(v128_t acc) {
  v128_t s = wasm_i32x4_extadd_pairwise_i16x8(acc);
  return wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1) + wasm_i32x4_extract_lane(s, 2) +
         wasm_i32x4_extract_lane(s, 3);
}

// Binary convolution on packed planes. Weights: [cout][kpad] words (kpad = taps * words rounded up to a multiple of
// 4, zero-filled), optional weight mask of the same layout (null when no weight is 0). For each output pixel the
// input patch is gathered into patch_s / patch_m (out-of-image taps and padding words = 0, i.e. the value 0), then
// dot = P - 2 * popcount((ps ^ ws) & pm) with P = popcount(pm) (no zero weights), or
// dot = popcount(pm & wm) - 2 * popcount((ps ^ ws) & pm & wm) with zero weights. y = ReLU(alpha * dot).
EXPORT(bin_conv)
void bin_conv(const uint32_t* sign, const uint32_t* mask, int n, int h, int w, int words, int k, int stride, int pad,
              int dil, int ho, int wo, const uint32_t* wsign, const uint32_t* wmask, int cout, int kpad,
              const float* alpha, float* y, uint32_t* patch_s, uint32_t* patch_m) {
  const int vecs = kpad / 4;
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      for (int ox = 0; ox < wo; ox++) {
        int at = 0;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * stride - pad + ky * dil;
          for (int kx = 0; kx < k; kx++) {
            int ix = ox * stride - pad + kx * dil;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              for (int j = 0; j < words; j++) patch_s[at + j] = patch_m[at + j] = 0;
            } else {
              const int base = ((b * h + iy) * w + ix) * words;
              for (int j = 0; j < words; j++) {
                patch_s[at + j] = sign[base + j];
                patch_m[at + j] = mask[base + j];
              }
            }
            at += words;
          }
        }
        for (; at < kpad; at++) patch_s[at] = patch_m[at] = 0;
        float* out = y + ((b * ho + oy) * wo + ox) * cout;
        const v128_t* ps = (const v128_t*)patch_s;
        const v128_t* pm = (const v128_t*)patch_m;
        if (!wmask) {
          v128_t pacc = wasm_i16x8_splat(0);
          for (int v = 0; v < vecs; v++) pacc = popcnt_add16(pacc, pm[v]);
          const int present = hsum16(pacc);
          int o = 0;
          // Four output channels per pass: each patch vector is loaded once for four weight rows.
          for (; o + 4 <= cout; o += 4) {
            const v128_t* w0 = (const v128_t*)(wsign + (o + 0) * kpad);
            const v128_t* w1 = (const v128_t*)(wsign + (o + 1) * kpad);
            const v128_t* w2 = (const v128_t*)(wsign + (o + 2) * kpad);
            const v128_t* w3 = (const v128_t*)(wsign + (o + 3) * kpad);
            v128_t a0 = wasm_i16x8_splat(0), a1 = a0, a2 = a0, a3 = a0;
            for (int v = 0; v < vecs; v++) {
              v128_t s = ps[v], m = pm[v];
              a0 = popcnt_add16(a0, wasm_v128_and(wasm_v128_xor(s, w0[v]), m));
              a1 = popcnt_add16(a1, wasm_v128_and(wasm_v128_xor(s, w1[v]), m));
              a2 = popcnt_add16(a2, wasm_v128_and(wasm_v128_xor(s, w2[v]), m));
              a3 = popcnt_add16(a3, wasm_v128_and(wasm_v128_xor(s, w3[v]), m));
            }
            float r0 = alpha[o + 0] * (float)(present - 2 * hsum16(a0));
            float r1 = alpha[o + 1] * (float)(present - 2 * hsum16(a1));
            float r2 = alpha[o + 2] * (float)(present - 2 * hsum16(a2));
            float r3 = alpha[o + 3] * (float)(present - 2 * hsum16(a3));
            out[o + 0] = r0 > 0.0f ? r0 : 0.0f;
            out[o + 1] = r1 > 0.0f ? r1 : 0.0f;
            out[o + 2] = r2 > 0.0f ? r2 : 0.0f;
            out[o + 3] = r3 > 0.0f ? r3 : 0.0f;
          }
          for (; o < cout; o++) {
            const v128_t* wv = (const v128_t*)(wsign + o * kpad);
            v128_t a = wasm_i16x8_splat(0);
            for (int v = 0; v < vecs; v++) a = popcnt_add16(a, wasm_v128_and(wasm_v128_xor(ps[v], wv[v]), pm[v]));
            float r = alpha[o] * (float)(present - 2 * hsum16(a));
            out[o] = r > 0.0f ? r : 0.0f;
          }
        } else {
          for (int o = 0; o < cout; o++) {
            const v128_t* wv = (const v128_t*)(wsign + o * kpad);
            const v128_t* wm = (const v128_t*)(wmask + o * kpad);
            v128_t a = wasm_i16x8_splat(0), c = a;
            for (int v = 0; v < vecs; v++) {
              v128_t m = wasm_v128_and(pm[v], wm[v]);
              c = popcnt_add16(c, m);
              a = popcnt_add16(a, wasm_v128_and(wasm_v128_xor(ps[v], wv[v]), m));
            }
            float r = alpha[o] * (float)(hsum16(c) - 2 * hsum16(a));
            out[o] = r > 0.0f ? r : 0.0f;
          }
        }
      }
    }
  }
}

// Float convolution with PyTorch geometry (symmetric zero padding, stride, dilation), weights [k][k][cin][cout],
// optional bias. The inner loop over output channels is contiguous and vectorises.
EXPORT(conv_f32)
void conv_f32(const float* x, int n, int h, int w, int cin, const float* wt, const float* bias, int cout, int k,
              int stride, int pad, int dil, int ho, int wo, float* y) {
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      for (int ox = 0; ox < wo; ox++) {
        float* out = y + ((b * ho + oy) * wo + ox) * cout;
        for (int co = 0; co < cout; co++) out[co] = 0.0f;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * stride - pad + ky * dil;
          if (iy < 0 || iy >= h) continue;
          for (int kx = 0; kx < k; kx++) {
            int ix = ox * stride - pad + kx * dil;
            if (ix < 0 || ix >= w) continue;
            const float* in = x + ((b * h + iy) * w + ix) * cin;
            const float* wk = wt + (ky * k + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++) {
              const float xv = in[ci];
              const float* row = wk + ci * cout;
              for (int co = 0; co < cout; co++) out[co] += xv * row[co];
            }
          }
        }
        if (bias)
          for (int co = 0; co < cout; co++) out[co] += bias[co];
      }
    }
  }
}

EXPORT(relu_f32)
void relu_f32(const float* x, float* y, int len) {
  for (int i = 0; i < len; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

EXPORT(add_f32)
void add_f32(const float* a, const float* b, float* y, int len) {
  for (int i = 0; i < len; i++) y[i] = a[i] + b[i];
}

EXPORT(fill_zero)
void fill_zero(float* y, int len) {
  for (int i = 0; i < len; i++) y[i] = 0.0f;
}

// Copies src [pixels][csrc] into channels [offset, offset + csrc) of dst [pixels][ctotal].
EXPORT(concat_into)
void concat_into(float* dst, const float* src, int pixels, int ctotal, int csrc, int offset) {
  for (int p = 0; p < pixels; p++)
    for (int c = 0; c < csrc; c++) dst[p * ctotal + offset + c] = src[p * csrc + c];
}

// 3x3 pool, padding 1: max pads with -inf (never wins), avg divides by the in-image taps (count_include_pad=False).
EXPORT(pool3x3)
void pool3x3(const float* x, float* y, int n, int h, int w, int c, int stride, int ho, int wo, int is_max) {
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      for (int ox = 0; ox < wo; ox++) {
        float* out = y + ((b * ho + oy) * wo + ox) * c;
        int y0 = oy * stride - 1, x0 = ox * stride - 1;
        int ya = y0 < 0 ? 0 : y0, yb = y0 + 3 > h ? h : y0 + 3;
        int xa = x0 < 0 ? 0 : x0, xb = x0 + 3 > w ? w : x0 + 3;
        const float count = (float)((yb - ya) * (xb - xa));
        for (int ch = 0; ch < c; ch++) out[ch] = is_max ? -__builtin_inff() : 0.0f;
        for (int iy = ya; iy < yb; iy++) {
          for (int ix = xa; ix < xb; ix++) {
            const float* in = x + ((b * h + iy) * w + ix) * c;
            if (is_max) {
              for (int ch = 0; ch < c; ch++) out[ch] = in[ch] > out[ch] ? in[ch] : out[ch];
            } else {
              for (int ch = 0; ch < c; ch++) out[ch] += in[ch];
            }
          }
        }
        if (!is_max)
          for (int ch = 0; ch < c; ch++) out[ch] /= count;
      }
    }
  }
}

EXPORT(gap_f32)
void gap_f32(const float* x, float* y, int n, int hw, int c) {
  for (int b = 0; b < n; b++) {
    float* out = y + b * c;
    for (int ch = 0; ch < c; ch++) out[ch] = 0.0f;
    for (int p = 0; p < hw; p++)
      for (int ch = 0; ch < c; ch++) out[ch] += x[(b * hw + p) * c + ch];
    for (int ch = 0; ch < c; ch++) out[ch] /= (float)hw;
  }
}

// y[n][out] = x[n][in] . W[in][out] + bias
EXPORT(linear_f32)
void linear_f32(const float* x, const float* wt, const float* bias, float* y, int n, int fin, int fout) {
  for (int b = 0; b < n; b++) {
    float* out = y + b * fout;
    for (int o = 0; o < fout; o++) out[o] = bias[o];
    for (int i = 0; i < fin; i++) {
      const float xv = x[b * fin + i];
      for (int o = 0; o < fout; o++) out[o] += xv * wt[i * fout + o];
    }
  }
}

// Throughput probes for bench's boundMs: `reps` passes of XNOR+popcount over `vecs` 128-bit vectors (returns a count
// so nothing is optimised away), and of float multiply-adds over `len` floats into 4 accumulators.
EXPORT(probe_popcount)
int probe_popcount(const uint32_t* a, const uint32_t* b, int vecs, int reps) {
  const v128_t* va = (const v128_t*)a;
  const v128_t* vb = (const v128_t*)b;
  int total = 0;
  for (int r = 0; r < reps; r++) {
    v128_t a0 = wasm_i16x8_splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (int v = 0; v + 4 <= vecs; v += 4) {
      a0 = popcnt_add16(a0, wasm_v128_xor(va[v], vb[v]));
      a1 = popcnt_add16(a1, wasm_v128_xor(va[v + 1], vb[v + 1]));
      a2 = popcnt_add16(a2, wasm_v128_xor(va[v + 2], vb[v + 2]));
      a3 = popcnt_add16(a3, wasm_v128_xor(va[v + 3], vb[v + 3]));
    }
    total += hsum16(a0) + hsum16(a1) + hsum16(a2) + hsum16(a3);
  }
  return total;
}

EXPORT(probe_fma)
float probe_fma(const float* a, const float* b, int len, int reps) {
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
  const v128_t* va = (const v128_t*)a;
  const v128_t* vb = (const v128_t*)b;
  for (int r = 0; r < reps; r++) {
    for (int v = 0; v + 4 <= len / 4; v += 4) {
      s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(va[v], vb[v]));
      s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(va[v + 1], vb[v + 1]));
      s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(va[v + 2], vb[v + 2]));
      s3 = wasm_f32x4_add(s3, wasm_f32x4_mul(va[v + 3], vb[v + 3]));
    }
  }
  v128_t s = wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3));
  return wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 2) +
         wasm_f32x4_extract_lane(s, 3);
}
