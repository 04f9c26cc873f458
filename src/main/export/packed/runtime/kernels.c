// Kernels of the packed 1-bit runtime, compiled to WebAssembly with SIMD (scripts/build-packed-wasm.sh):
//   clang --target=wasm32 -msimd128 -O3 -nostdlib
// No libc: memory is managed by the TypeScript side (wasm.ts), which passes pointers into this module's memory.
// Tensors are NHWC float32; bit planes follow ../bits.ts (32 values a word, sign bit 1 = -1, mask bit 1 = nonzero,
// padding = 0 in both planes). Every function here has a pure-TS twin in reference.ts that the tests compare with.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// Output pixels per register block of the one-plane binary conv (measured: see plain_block).
#ifndef BIN_P
#define BIN_P 4
#endif
#ifdef BIN_SCALAR
#define BLOCK_P plain_block_BIN_P
#define BLOCK_1 plain_block_1
#else
#define BLOCK_P simd_block_BIN_P
#define BLOCK_1 simd_block_1
#endif

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
  for (int p = 0; p < pixels; p++) {
    const float* row = x + p * c;
    float* out = y + p * c;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      v128_t v = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(row + ch), wasm_v128_load(mean + ch)),
                                wasm_v128_load(inv + ch));
      if (gamma) v = wasm_f32x4_mul(v, wasm_v128_load(gamma + ch));
      if (beta) v = wasm_f32x4_add(v, wasm_v128_load(beta + ch));
      wasm_v128_store(out + ch, v);
    }
    for (; ch < c; ch++) out[ch] = bn_value(row[ch], mean[ch], inv[ch], gamma, beta, ch);
  }
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

// ORs `bits` bits of src (32-bit words, bits past `bits` are 0) into the 64-bit stream at bit offset `off`. May OR a
// zero word one past the stream's end (callers leave a word of slack).
static inline void put_bits(uint64_t* stream, const uint32_t* src, int bits, int off) {
  for (int j = 0; j * 32 < bits; j++) {
    const int at = off + j * 32;
    const int shift = at & 63;
    const uint64_t v = (uint64_t)src[j];
    stream[at >> 6] |= v << shift;
    if (shift > 32) stream[(at >> 6) + 1] |= v >> (64 - shift);
  }
}

// im2col of bit planes: the taps of output pixel (b, oy, ox) laid end to end as one stream of taps * cin bits
// (tap-major, channels within a tap, no per-tap word padding: 3x3x36 is 324 bits, 6 words instead of 9 x 2) in `len`
// 64-bit words. Out-of-image taps stay 0 (in the mask plane: the value 0). One stream per output pixel, so the dot
// products below run over contiguous memory and each stream is built once for all output channels.
static void gather(const uint32_t* plane, int b, int h, int w, int words, int cin, int k, int stride, int pad,
                   int dil, int oy, int ox, int len, uint64_t* dst) {
  for (int i = 0; i < len; i++) dst[i] = 0;
  const int y0 = oy * stride - pad, x0 = ox * stride - pad;
  for (int ky = 0, t = 0; ky < k; ky++) {
    const int iy = y0 + ky * dil;
    for (int kx = 0; kx < k; kx++, t++) {
      const int ix = x0 + kx * dil;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      put_bits(dst, plane + ((b * h + iy) * w + ix) * words, cin, t * cin);
    }
  }
}

static inline float relu_scaled(float alpha, int dot) {
  const float r = alpha * (float)dot;
  return r > 0.0f ? r : 0.0f;
}

// The one-plane dot of P pixels' streams with 4 output channels: `P x 4` popcount accumulators, each weight word
// loaded once per P pixels and each stream word once per 4 channels. Weights are interleaved [cout/4][len][4] so one
// pointer walks all four. dot = present - 2 * popcount(s ^ w) (no value 0 among the taps, all taps in the image).
#define PLAIN_BLOCK(P)                                                                                                 \
  static inline void plain_block_##P(const uint64_t* s, int len, const uint64_t* wb, int present, const float* alpha, \
                                     float* out, int cout, int o, int nout) {                                          \
    int acc[P][4] = {{0}};                                                                                             \
    for (int i = 0; i < len; i++) {                                                                                    \
      const uint64_t w0 = wb[4 * i], w1 = wb[4 * i + 1], w2 = wb[4 * i + 2], w3 = wb[4 * i + 3];                       \
      for (int p = 0; p < P; p++) {                                                                                    \
        const uint64_t v = s[p * len + i];                                                                             \
        acc[p][0] += __builtin_popcountll(v ^ w0);                                                                     \
        acc[p][1] += __builtin_popcountll(v ^ w1);                                                                     \
        acc[p][2] += __builtin_popcountll(v ^ w2);                                                                     \
        acc[p][3] += __builtin_popcountll(v ^ w3);                                                                     \
      }                                                                                                                \
    }                                                                                                                  \
    for (int p = 0; p < P; p++)                                                                                        \
      for (int j = 0; j < nout; j++) out[p * cout + o + j] = relu_scaled(alpha[o + j], present - 2 * acc[p][j]);       \
  }
PLAIN_BLOCK(1)
PLAIN_BLOCK(BIN_P)

// The same block in 128-bit lanes: a stream word is splatted into both i64 lanes and XORed with the words of
// channels (o, o+1) and (o+2, o+3); i8x16.popcnt counts bytes, summed in u8 lanes for up to 31 words (8 * 31 < 256)
// and then widened (u8 -> u16 -> u32 pairwise, then the two halves of each i64 lane added with a shuffle).
static inline v128_t bytes_to_u32(v128_t acc) {
  return wasm_u32x4_extadd_pairwise_u16x8(wasm_u16x8_extadd_pairwise_u8x16(acc));
}
#define SIMD_BLOCK(P)                                                                                                  \
  static inline void simd_block_##P(const uint64_t* s, int len, const uint64_t* wb, int present, const float* alpha,  \
                                    float* out, int cout, int o, int nout) {                                           \
    v128_t sum[P];                                                                                                     \
    for (int p = 0; p < P; p++) sum[p] = wasm_i32x4_splat(0);                                                          \
    for (int i0 = 0; i0 < len; i0 += 31) {                                                                             \
      const int i1 = len - i0 < 31 ? len : i0 + 31;                                                                    \
      v128_t a01[P], a23[P];                                                                                           \
      for (int p = 0; p < P; p++) a01[p] = a23[p] = wasm_i32x4_splat(0);                                               \
      for (int i = i0; i < i1; i++) {                                                                                  \
        const v128_t w01 = wasm_v128_load(wb + 4 * i), w23 = wasm_v128_load(wb + 4 * i + 2);                           \
        for (int p = 0; p < P; p++) {                                                                                  \
          const v128_t v = wasm_v128_load64_splat(s + p * len + i);                                                    \
          a01[p] = wasm_i8x16_add(a01[p], wasm_i8x16_popcnt(wasm_v128_xor(v, w01)));                                   \
          a23[p] = wasm_i8x16_add(a23[p], wasm_i8x16_popcnt(wasm_v128_xor(v, w23)));                                   \
        }                                                                                                              \
      }                                                                                                                \
      for (int p = 0; p < P; p++) {                                                                                    \
        const v128_t x = bytes_to_u32(a01[p]), y = bytes_to_u32(a23[p]);                                              \
        sum[p] = wasm_i32x4_add(sum[p], wasm_i32x4_add(wasm_i32x4_shuffle(x, y, 0, 2, 4, 6),                           \
                                                       wasm_i32x4_shuffle(x, y, 1, 3, 5, 7)));                         \
      }                                                                                                                \
    }                                                                                                                  \
    const v128_t pv = wasm_i32x4_splat(present), zero = wasm_f32x4_splat(0.0f);                                       \
    for (int p = 0; p < P; p++) {                                                                                      \
      const v128_t dot = wasm_i32x4_sub(pv, wasm_i32x4_shl(sum[p], 1));                                                \
      if (nout == 4) {                                                                                                 \
        const v128_t r = wasm_f32x4_mul(wasm_v128_load(alpha + o), wasm_f32x4_convert_i32x4(dot));                     \
        wasm_v128_store(out + p * cout + o, wasm_f32x4_max(r, zero));                                                  \
      } else {                                                                                                         \
        int d[4];                                                                                                      \
        wasm_v128_store(d, dot);                                                                                       \
        for (int j = 0; j < nout; j++) out[p * cout + o + j] = relu_scaled(alpha[o + j], d[j]);                        \
      }                                                                                                                \
    }                                                                                                                  \
  }
SIMD_BLOCK(1)
SIMD_BLOCK(BIN_P)

// The two-plane dot of one pixel (some tap out of the image or some value 0): m = activation mask (& weight mask),
// dot = popcount(m) - 2 * popcount((s ^ w) & m).
static inline void masked_pixel(const uint64_t* s, const uint64_t* m, int len, const uint64_t* wsign,
                                const uint64_t* wmask, const float* alpha, float* out, int cout, int cout4) {
  if (!wmask) {
    int present = 0;
    for (int i = 0; i < len; i++) present += __builtin_popcountll(m[i]);
    for (int o = 0; o < cout4; o += 4) {
      const uint64_t* wb = wsign + o * len;
      int a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (int i = 0; i < len; i++) {
        const uint64_t v = s[i], mi = m[i];
        a0 += __builtin_popcountll((v ^ wb[4 * i]) & mi);
        a1 += __builtin_popcountll((v ^ wb[4 * i + 1]) & mi);
        a2 += __builtin_popcountll((v ^ wb[4 * i + 2]) & mi);
        a3 += __builtin_popcountll((v ^ wb[4 * i + 3]) & mi);
      }
      const int acc[4] = {a0, a1, a2, a3};
      const int nout = cout - o < 4 ? cout - o : 4;
      for (int j = 0; j < nout; j++) out[o + j] = relu_scaled(alpha[o + j], present - 2 * acc[j]);
    }
    return;
  }
  for (int o = 0; o < cout; o++) {
    const uint64_t* wb = wsign + (o & ~3) * len + (o & 3);
    const uint64_t* wm = wmask + (o & ~3) * len + (o & 3);
    int a = 0, c = 0;
    for (int i = 0; i < len; i++) {
      const uint64_t mi = m[i] & wm[4 * i];
      c += __builtin_popcountll(mi);
      a += __builtin_popcountll((s[i] ^ wb[4 * i]) & mi);
    }
    out[o] = relu_scaled(alpha[o], c - 2 * a);
  }
}

// Binary convolution on packed planes, y = ReLU(alpha * dot), exact integer dots scaled once by alpha.
//   sign, mask: activation planes [n][h][w][words] (bn_sign_pack)
//   wsign, wmask: weight streams [ceil(cout/4)][len][4] u64 (wmask null when no weight is 0; channels past cout 0)
//   ps, pm: scratch, (wo + 1) * len u64 each (one output row of streams)
//   dense: 1 when no activation is exactly 0, so pixels whose taps all lie in the image take the one-plane path.
// Per output row: the streams of all its pixels are gathered once, then the pixels whose taps all lie in the image
// run BIN_P pixels x 4 channels at a time (plain_block); the others, and every pixel when zeros exist, run masked.
EXPORT(bin_conv)
void bin_conv(const uint32_t* sign, const uint32_t* mask, int n, int h, int w, int words, int cin, int k, int stride,
              int pad, int dil, int ho, int wo, const uint64_t* wsign, const uint64_t* wmask, int cout, int len,
              const float* alpha, float* y, uint64_t* ps, uint64_t* pm, int dense) {
  const int span = (k - 1) * dil, present = k * k * cin, cout4 = (cout + 3) & ~3;
  // Output columns [xa, xb) and rows [ya, yb) whose taps all lie inside the image.
  int xa = (pad + stride - 1) / stride, xb = (w - 1 - span + pad) / stride + 1;
  int ya = (pad + stride - 1) / stride, yb = (h - 1 - span + pad) / stride + 1;
  if (w - 1 - span + pad < 0) xb = 0;
  if (h - 1 - span + pad < 0) yb = 0;
  if (xb > wo) xb = wo;
  if (yb > ho) yb = ho;
  if (xa > xb) xa = xb;
  const int plain = dense && !wmask;
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      float* row = y + (b * ho + oy) * wo * cout;
      const int inner = plain && oy >= ya && oy < yb;
      const int x1 = inner ? xa : wo, x2 = inner ? xb : wo;  // [x1, x2): one-plane pixels of this row
      for (int ox = 0; ox < wo; ox++) {
        gather(sign, b, h, w, words, cin, k, stride, pad, dil, oy, ox, len, ps + ox * len);
        if (ox < x1 || ox >= x2) gather(mask, b, h, w, words, cin, k, stride, pad, dil, oy, ox, len, pm + ox * len);
      }
      for (int ox = 0; ox < wo; ox++)
        if (ox < x1 || ox >= x2)
          masked_pixel(ps + ox * len, pm + ox * len, len, wsign, wmask, alpha, row + ox * cout, cout, cout4);
      int ox = x1;
      for (; ox + BIN_P <= x2; ox += BIN_P)
        for (int o = 0; o < cout4; o += 4)
          BLOCK_P(ps + ox * len, len, wsign + o * len, present, alpha, row + ox * cout, cout, o,
                            cout - o < 4 ? cout - o : 4);
      for (; ox < x2; ox++)
        for (int o = 0; o < cout4; o += 4)
          BLOCK_1(ps + ox * len, len, wsign + o * len, present, alpha, row + ox * cout, cout, o,
                        cout - o < 4 ? cout - o : 4);
    }
  }
}

// Float convolution with PyTorch geometry (symmetric zero padding, stride, dilation), optional bias.
// Register-blocked: CONV_P output pixels x 8 output channels accumulate in f32x4 registers over all taps and input
// channels, so each weight vector is loaded once per CONV_P pixels and each input value once per 8 channels. The loop
// runs output-channel block outermost, so the block's weights ([taps][cin][8], 36 KiB for 2x2x288) stay in cache
// while every pixel passes over them (the network's 2x2x288x576 residual conv weights are 2.6 MiB in all).
// Out-of-image taps read a zero row.
#define ZERO_ROW 4096
#ifndef CONV_P
#define CONV_P 4
#endif
static float zero_row[ZERO_ROW];

// wb: weight of (tap t, input channel ci, lane j) at wb[(t * cin + ci) * ldw + j]; 8 lanes, `nout` of them stored.
static inline void conv_tile(const float* const* rows, int P, const float* wb, int ldw, int cin, int taps,
                             const float* bias, float* const* outs, int nout) {
  v128_t acc[CONV_P][2];
  for (int p = 0; p < P; p++) acc[p][0] = acc[p][1] = wasm_f32x4_splat(0.0f);
  for (int t = 0; t < taps; t++) {
    const float* wk = wb + t * cin * ldw;
    const float* r[CONV_P];
    for (int p = 0; p < P; p++) r[p] = rows[p * taps + t];
    for (int ci = 0; ci < cin; ci++) {
      const v128_t w0 = wasm_v128_load(wk + ci * ldw);
      const v128_t w1 = wasm_v128_load(wk + ci * ldw + 4);
      for (int p = 0; p < P; p++) {
        const v128_t xv = wasm_v128_load32_splat(r[p] + ci);
        acc[p][0] = wasm_f32x4_add(acc[p][0], wasm_f32x4_mul(xv, w0));
        acc[p][1] = wasm_f32x4_add(acc[p][1], wasm_f32x4_mul(xv, w1));
      }
    }
  }
  for (int p = 0; p < P; p++) {
    if (bias) {
      acc[p][0] = wasm_f32x4_add(acc[p][0], wasm_v128_load(bias));
      acc[p][1] = wasm_f32x4_add(acc[p][1], wasm_v128_load(bias + 4));
    }
    if (nout == 8) {
      wasm_v128_store(outs[p], acc[p][0]);
      wasm_v128_store(outs[p] + 4, acc[p][1]);
    } else {
      float tmp[8];
      wasm_v128_store(tmp, acc[p][0]);
      wasm_v128_store(tmp + 4, acc[p][1]);
      for (int j = 0; j < nout; j++) outs[p][j] = tmp[j];
    }
  }
}

// The tile loop. Weights: block cb at wt + cb * bstride, lane stride ldw; `blocks` blocks of 8 channels. bias (when
// not null) must be readable for 8 lanes per block.
static void conv_blocks(const float* x, int n, int h, int w, int cin, const float* wt, int ldw, int bstride,
                        const float* bias, int cout, int blocks, int k, int stride, int pad, int dil, int ho, int wo,
                        float* y) {
  const int taps = k * k;
  const float* rows[CONV_P * 81];
  float* outs[CONV_P];
  for (int cb = 0; cb < blocks; cb++) {
    const int co = cb * 8, nout = cout - co < 8 ? cout - co : 8;
    for (int b = 0; b < n; b++) {
      for (int oy = 0; oy < ho; oy++) {
        for (int ox0 = 0; ox0 < wo; ox0 += CONV_P) {
          const int P = wo - ox0 < CONV_P ? wo - ox0 : CONV_P;
          for (int p = 0; p < P; p++) {
            const int ox = ox0 + p;
            outs[p] = y + ((b * ho + oy) * wo + ox) * cout + co;
            for (int ky = 0; ky < k; ky++) {
              for (int kx = 0; kx < k; kx++) {
                const int iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
                rows[p * taps + ky * k + kx] =
                    (iy < 0 || iy >= h || ix < 0 || ix >= w) ? zero_row : x + ((b * h + iy) * w + ix) * cin;
              }
            }
          }
          const float* wb = wt + cb * bstride;
          const float* bb = bias ? bias + co : 0;
          if (P == CONV_P)
            conv_tile(rows, CONV_P, wb, ldw, cin, taps, bb, outs, nout);
          else
            for (int p = 0; p < P; p++) conv_tile(rows + p * taps, 1, wb, ldw, cin, taps, bb, outs + p, nout);
        }
      }
    }
  }
}

// The runtime's float conv: weights re-laid at load (wasm.ts) as [ceil(cout/8)][k][k][cin][8] (channels past cout
// 0) and bias padded to a multiple of 8. cin <= 4096, k <= 9.
EXPORT(conv_f32_blocked)
void conv_f32_blocked(const float* x, int n, int h, int w, int cin, const float* wt, const float* bias, int cout,
                      int k, int stride, int pad, int dil, int ho, int wo, float* y) {
  const int blocks = (cout + 7) / 8;
  conv_blocks(x, n, h, w, cin, wt, 8, k * k * cin * 8, bias, cout, blocks, k, stride, pad, dil, ho, wo, y);
}

// The same conv on weights as stored, [k][k][cin][cout] (bench's float probe times this): full blocks of 8 channels
// read the weights with stride cout; the cout % 8 last channels run a scalar loop. cin <= 4096, k <= 9.
EXPORT(conv_f32)
void conv_f32(const float* x, int n, int h, int w, int cin, const float* wt, const float* bias, int cout, int k,
              int stride, int pad, int dil, int ho, int wo, float* y) {
  const int full = cout / 8, taps = k * k;
  conv_blocks(x, n, h, w, cin, wt, cout, 8, bias, cout, full, k, stride, pad, dil, ho, wo, y);
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++)
        for (int co = full * 8; co < cout; co++) {
          float acc = 0.0f;
          for (int t = 0; t < taps; t++) {
            const int iy = oy * stride - pad + (t / k) * dil, ix = ox * stride - pad + (t % k) * dil;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const float* row = x + ((b * h + iy) * w + ix) * cin;
            for (int ci = 0; ci < cin; ci++) acc += row[ci] * wt[(t * cin + ci) * cout + co];
          }
          y[((b * ho + oy) * wo + ox) * cout + co] = bias ? acc + bias[co] : acc;
        }
}

// Element-wise steps in f32x4 with a scalar tail (the auto-vectorizer is off, see build-packed-wasm.sh).
EXPORT(relu_f32)
void relu_f32(const float* x, float* y, int len) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i + 4 <= len; i += 4) wasm_v128_store(y + i, wasm_f32x4_max(wasm_v128_load(x + i), zero));
  for (; i < len; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

EXPORT(add_f32)
void add_f32(const float* a, const float* b, float* y, int len) {
  int i = 0;
  for (; i + 4 <= len; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < len; i++) y[i] = a[i] + b[i];
}

EXPORT(fill_zero)
void fill_zero(float* y, int len) {
  int i = 0;
  for (; i + 4 <= len; i += 4) wasm_v128_store(y + i, wasm_f32x4_splat(0.0f));
  for (; i < len; i++) y[i] = 0.0f;
}

static inline void copy_f32(float* dst, const float* src, int len) {
  int i = 0;
  for (; i + 4 <= len; i += 4) wasm_v128_store(dst + i, wasm_v128_load(src + i));
  for (; i < len; i++) dst[i] = src[i];
}

// Copies src [pixels][csrc] into channels [offset, offset + csrc) of dst [pixels][ctotal].
EXPORT(concat_into)
void concat_into(float* dst, const float* src, int pixels, int ctotal, int csrc, int offset) {
  for (int p = 0; p < pixels; p++) copy_f32(dst + p * ctotal + offset, src + p * csrc, csrc);
}

// 3x3 pool, padding 1: max pads with -inf (never wins), avg divides by the in-image taps (count_include_pad=False).
// Channels in f32x4; the sum runs over the taps in the same order as the reference (row by row).
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
        int ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          v128_t acc = is_max ? wasm_f32x4_splat(-__builtin_inff()) : wasm_f32x4_splat(0.0f);
          for (int iy = ya; iy < yb; iy++) {
            for (int ix = xa; ix < xb; ix++) {
              const v128_t v = wasm_v128_load(x + ((b * h + iy) * w + ix) * c + ch);
              // pmax: v if acc < v, as the scalar `in > out ? in : out`
              acc = is_max ? wasm_f32x4_pmax(acc, v) : wasm_f32x4_add(acc, v);
            }
          }
          wasm_v128_store(out + ch, is_max ? acc : wasm_f32x4_div(acc, wasm_f32x4_splat(count)));
        }
        for (; ch < c; ch++) {
          float acc = is_max ? -__builtin_inff() : 0.0f;
          for (int iy = ya; iy < yb; iy++) {
            for (int ix = xa; ix < xb; ix++) {
              const float v = x[((b * h + iy) * w + ix) * c + ch];
              acc = is_max ? (v > acc ? v : acc) : acc + v;
            }
          }
          out[ch] = is_max ? acc : acc / count;
        }
      }
    }
  }
}

EXPORT(gap_f32)
void gap_f32(const float* x, float* y, int n, int hw, int c) {
  for (int b = 0; b < n; b++) {
    float* out = y + b * c;
    for (int ch = 0; ch < c; ch++) out[ch] = 0.0f;
    for (int p = 0; p < hw; p++) add_f32(out, x + (b * hw + p) * c, out, c);
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
