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

// BN, sign, and packing into sign / nonzero planes: [pixels][words]. Four channels at a time with f32x4 (the same
// float32 ops in the same order as bn_value, so the signs are bit-identical), the scalar loop for a channel tail.
// Returns how many values are exactly 0 (0 lets bin_conv skip the mask plane inside the image).
EXPORT(bn_sign_pack)
int bn_sign_pack(const float* x, int pixels, int c, int words, const float* mean, const float* inv,
                  const float* gamma, const float* beta, uint32_t* sign, uint32_t* mask) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  int zeros = 0;
  for (int p = 0; p < pixels; p++) {
    const float* row = x + p * c;
    for (int w = 0; w < words; w++) {
      uint32_t s = 0, m = 0;
      int end = c - w * 32;
      if (end > 32) end = 32;
      int b = 0;
      for (; b + 4 <= end; b += 4) {
        int ch = w * 32 + b;
        v128_t v = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(row + ch), wasm_v128_load(mean + ch)),
                                  wasm_v128_load(inv + ch));
        if (gamma) v = wasm_f32x4_mul(v, wasm_v128_load(gamma + ch));
        if (beta) v = wasm_f32x4_add(v, wasm_v128_load(beta + ch));
        s |= (uint32_t)wasm_i32x4_bitmask(wasm_f32x4_lt(v, zero)) << b;
        m |= (uint32_t)wasm_i32x4_bitmask(wasm_f32x4_ne(v, zero)) << b;
      }
      for (; b < end; b++) {
        int ch = w * 32 + b;
        float v = bn_value(row[ch], mean[ch], inv[ch], gamma, beta, ch);
        s |= (uint32_t)(v < 0.0f) << b;
        m |= (uint32_t)(v != 0.0f) << b;
      }
      sign[p * words + w] = s;
      mask[p * words + w] = m;
      zeros += end - __builtin_popcount(m);
    }
  }
  return zeros;
}

// ORs `bits` bits of src (32-bit words, bits past `bits` are 0) into the 64-bit stream at bit offset `off`.
static inline void put_bits(uint64_t* stream, const uint32_t* src, int bits, int off) {
  for (int j = 0; j * 32 < bits; j++) {
    const int at = off + j * 32;
    const int shift = at & 63;
    const uint64_t v = (uint64_t)src[j];
    stream[at >> 6] |= v << shift;
    if (shift > 32) stream[(at >> 6) + 1] |= v >> (64 - shift);
  }
}

// Binary convolution on packed planes. The taps of one output pixel are laid end to end as one bit stream of
// taps * cin bits (tap-major, channels within a tap), in 64-bit words, so no bits are wasted on per-tap padding;
// weights are streams of the same layout, [cout][len] u64 words (optional weight mask alike, null when no weight is
// 0). Out-of-image taps stay 0 in both planes, i.e. the value 0. dot = P - 2 * popcount((ps ^ ws) & pm) with
// P = popcount(pm), or with a weight mask dot = popcount(pm & wm) - 2 * popcount((ps ^ ws) & pm & wm).
// y = ReLU(alpha * dot). popcount is the scalar i64.popcnt (one instruction on x86 and ARM), four outputs per pass.
EXPORT(bin_conv)
void bin_conv(const uint32_t* sign, const uint32_t* mask, int n, int h, int w, int words, int cin, int k, int stride,
              int pad, int dil, int ho, int wo, const uint64_t* wsign, const uint64_t* wmask, int cout, int len,
              const float* alpha, float* y, uint64_t* ps, uint64_t* pm, int dense) {
  const int taps = k * k;
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      for (int ox = 0; ox < wo; ox++) {
        float* out = y + ((b * ho + oy) * wo + ox) * cout;
        const int y0 = oy * stride - pad, x0 = ox * stride - pad, span = (k - 1) * dil;
        if (dense && !wmask && y0 >= 0 && x0 >= 0 && y0 + span < h && x0 + span < w) {
          // Every tap in the image and no value 0 anywhere: one plane, dot = taps*cin - 2 * popcount(ps ^ ws).
          for (int i = 0; i < len; i++) ps[i] = 0;
          for (int ky = 0, t = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++, t++)
              put_bits(ps, sign + ((b * h + y0 + ky * dil) * w + x0 + kx * dil) * words, cin, t * cin);
          const int present = taps * cin;
          int o = 0;
          for (; o + 4 <= cout; o += 4) {
            const uint64_t* w0 = wsign + (o + 0) * len;
            const uint64_t* w1 = wsign + (o + 1) * len;
            const uint64_t* w2 = wsign + (o + 2) * len;
            const uint64_t* w3 = wsign + (o + 3) * len;
            int a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int i = 0; i < len; i++) {
              const uint64_t s = ps[i];
              a0 += __builtin_popcountll(s ^ w0[i]);
              a1 += __builtin_popcountll(s ^ w1[i]);
              a2 += __builtin_popcountll(s ^ w2[i]);
              a3 += __builtin_popcountll(s ^ w3[i]);
            }
            float r0 = alpha[o + 0] * (float)(present - 2 * a0);
            float r1 = alpha[o + 1] * (float)(present - 2 * a1);
            float r2 = alpha[o + 2] * (float)(present - 2 * a2);
            float r3 = alpha[o + 3] * (float)(present - 2 * a3);
            out[o + 0] = r0 > 0.0f ? r0 : 0.0f;
            out[o + 1] = r1 > 0.0f ? r1 : 0.0f;
            out[o + 2] = r2 > 0.0f ? r2 : 0.0f;
            out[o + 3] = r3 > 0.0f ? r3 : 0.0f;
          }
          for (; o < cout; o++) {
            const uint64_t* wv = wsign + o * len;
            int a = 0;
            for (int i = 0; i < len; i++) a += __builtin_popcountll(ps[i] ^ wv[i]);
            float r = alpha[o] * (float)(present - 2 * a);
            out[o] = r > 0.0f ? r : 0.0f;
          }
          continue;
        }
        for (int i = 0; i < len; i++) ps[i] = pm[i] = 0;
        int t = 0;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * stride - pad + ky * dil;
          for (int kx = 0; kx < k; kx++, t++) {
            int ix = ox * stride - pad + kx * dil;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const int base = ((b * h + iy) * w + ix) * words;
            put_bits(ps, sign + base, cin, t * cin);
            put_bits(pm, mask + base, cin, t * cin);
          }
        }
        if (!wmask) {
          int present = 0;
          for (int i = 0; i < len; i++) present += __builtin_popcountll(pm[i]);
          int o = 0;
          for (; o + 4 <= cout; o += 4) {
            const uint64_t* w0 = wsign + (o + 0) * len;
            const uint64_t* w1 = wsign + (o + 1) * len;
            const uint64_t* w2 = wsign + (o + 2) * len;
            const uint64_t* w3 = wsign + (o + 3) * len;
            int a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int i = 0; i < len; i++) {
              const uint64_t s = ps[i], m = pm[i];
              a0 += __builtin_popcountll((s ^ w0[i]) & m);
              a1 += __builtin_popcountll((s ^ w1[i]) & m);
              a2 += __builtin_popcountll((s ^ w2[i]) & m);
              a3 += __builtin_popcountll((s ^ w3[i]) & m);
            }
            float r0 = alpha[o + 0] * (float)(present - 2 * a0);
            float r1 = alpha[o + 1] * (float)(present - 2 * a1);
            float r2 = alpha[o + 2] * (float)(present - 2 * a2);
            float r3 = alpha[o + 3] * (float)(present - 2 * a3);
            out[o + 0] = r0 > 0.0f ? r0 : 0.0f;
            out[o + 1] = r1 > 0.0f ? r1 : 0.0f;
            out[o + 2] = r2 > 0.0f ? r2 : 0.0f;
            out[o + 3] = r3 > 0.0f ? r3 : 0.0f;
          }
          for (; o < cout; o++) {
            const uint64_t* wv = wsign + o * len;
            int a = 0;
            for (int i = 0; i < len; i++) a += __builtin_popcountll((ps[i] ^ wv[i]) & pm[i]);
            float r = alpha[o] * (float)(present - 2 * a);
            out[o] = r > 0.0f ? r : 0.0f;
          }
        } else {
          for (int o = 0; o < cout; o++) {
            const uint64_t* wv = wsign + o * len;
            const uint64_t* wm = wmask + o * len;
            int a = 0, c = 0;
            for (int i = 0; i < len; i++) {
              const uint64_t m = pm[i] & wm[i];
              c += __builtin_popcountll(m);
              a += __builtin_popcountll((ps[i] ^ wv[i]) & m);
            }
            float r = alpha[o] * (float)(c - 2 * a);
            out[o] = r > 0.0f ? r : 0.0f;
          }
        }
      }
    }
  }
}

// Float convolution with PyTorch geometry (symmetric zero padding, stride, dilation), weights [k][k][cin][cout],
// optional bias. Register-blocked: P output pixels x 8 output channels are accumulated in f32x4 registers over all
// taps and input channels, so each weight vector is loaded once per P pixels. Out-of-image taps read a zero row.
#define ZERO_ROW 4096
static float zero_row[ZERO_ROW];

static inline void conv_block(const float* const* rows, int P, const float* wt, int cin, int cout, int taps, int co,
                              const float* bias, float* const* outs) {
  v128_t acc[4][2];
  const v128_t b0 = bias ? wasm_v128_load(bias + co) : wasm_f32x4_splat(0.0f);
  const v128_t b1 = bias ? wasm_v128_load(bias + co + 4) : wasm_f32x4_splat(0.0f);
  for (int p = 0; p < P; p++) acc[p][0] = acc[p][1] = wasm_f32x4_splat(0.0f);
  for (int t = 0; t < taps; t++) {
    const float* wk = wt + t * cin * cout + co;
    for (int ci = 0; ci < cin; ci++) {
      const v128_t w0 = wasm_v128_load(wk + ci * cout);
      const v128_t w1 = wasm_v128_load(wk + ci * cout + 4);
      for (int p = 0; p < P; p++) {
        const v128_t xv = wasm_f32x4_splat(rows[p * taps + t][ci]);
        acc[p][0] = wasm_f32x4_add(acc[p][0], wasm_f32x4_mul(xv, w0));
        acc[p][1] = wasm_f32x4_add(acc[p][1], wasm_f32x4_mul(xv, w1));
      }
    }
  }
  for (int p = 0; p < P; p++) {
    wasm_v128_store(outs[p] + co, wasm_f32x4_add(acc[p][0], b0));
    wasm_v128_store(outs[p] + co + 4, wasm_f32x4_add(acc[p][1], b1));
  }
}

EXPORT(conv_f32)
void conv_f32(const float* x, int n, int h, int w, int cin, const float* wt, const float* bias, int cout, int k,
              int stride, int pad, int dil, int ho, int wo, float* y) {
  const int taps = k * k;
  const float* rows[4 * 49];
  float* outs[4];
  const int blocked = cin <= ZERO_ROW && taps <= 49 ? (cout / 8) * 8 : 0;
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      for (int ox0 = 0; ox0 < wo; ox0 += 4) {
        const int P = wo - ox0 < 4 ? wo - ox0 : 4;
        for (int p = 0; p < P; p++) {
          const int ox = ox0 + p;
          outs[p] = y + ((b * ho + oy) * wo + ox) * cout;
          for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
              const int iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
              rows[p * taps + ky * k + kx] =
                  (iy < 0 || iy >= h || ix < 0 || ix >= w) ? zero_row : x + ((b * h + iy) * w + ix) * cin;
            }
          }
        }
        for (int co = 0; co < blocked; co += 8) {
          if (P == 4)
            conv_block(rows, 4, wt, cin, cout, taps, co, bias, outs);
          else
            for (int p = 0; p < P; p++) conv_block(rows + p * taps, 1, wt, cin, cout, taps, co, bias, outs + p);
        }
        for (int p = 0; p < P; p++) {
          for (int co = blocked; co < cout; co++) {
            float acc = 0.0f;
            for (int t = 0; t < taps; t++) {
              const float* row = rows[p * taps + t];
              if (row == zero_row) continue;
              for (int ci = 0; ci < cin; ci++) acc += row[ci] * wt[(t * cin + ci) * cout + co];
            }
            outs[p][co] = bias ? acc + bias[co] : acc;
          }
        }
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

// Throughput probes for bench's boundMs, the same instruction mix as the kernels' inner loops: `reps` passes of
// XNOR + AND + popcount over `len` 64-bit words into four accumulators (returns the count so nothing is optimised
// away), and of float multiply-adds over `len` floats into eight f32x4 accumulators.
EXPORT(probe_popcount)
int probe_popcount(const uint64_t* a, const uint64_t* b, int len, int reps) {
  int a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int r = 0; r < reps; r++) {
    const uint64_t m = ~(uint64_t)r;
    for (int i = 0; i + 4 <= len; i += 4) {
      a0 += __builtin_popcountll((a[i] ^ b[i]) & m);
      a1 += __builtin_popcountll((a[i + 1] ^ b[i + 1]) & m);
      a2 += __builtin_popcountll((a[i + 2] ^ b[i + 2]) & m);
      a3 += __builtin_popcountll((a[i + 3] ^ b[i + 3]) & m);
    }
  }
  return a0 + a1 + a2 + a3;
}

EXPORT(probe_fma)
float probe_fma(const float* a, int len, int reps) {
  v128_t s[8];
  for (int j = 0; j < 8; j++) s[j] = wasm_f32x4_splat(0.0f);
  const v128_t* va = (const v128_t*)a;
  for (int r = 0; r < reps; r++) {
    const v128_t xv = wasm_f32x4_splat((float)r);
    for (int v = 0; v + 8 <= len / 4; v += 8)
      for (int j = 0; j < 8; j++) s[j] = wasm_f32x4_add(s[j], wasm_f32x4_mul(xv, va[v + j]));
  }
  v128_t t = s[0];
  for (int j = 1; j < 8; j++) t = wasm_f32x4_add(t, s[j]);
  return wasm_f32x4_extract_lane(t, 0) + wasm_f32x4_extract_lane(t, 1) + wasm_f32x4_extract_lane(t, 2) +
         wasm_f32x4_extract_lane(t, 3);
}
