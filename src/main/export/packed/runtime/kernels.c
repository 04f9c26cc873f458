// Kernels of the packed 1-bit runtime, compiled to WebAssembly with SIMD (scripts/build-packed-wasm.sh):
//   clang --target=wasm32 -msimd128 -O3 -nostdlib -fno-vectorize -fno-slp-vectorize
// No libc: memory is managed by the TypeScript side (wasm.ts), which passes pointers into this module's memory.
// Tensors are NHWC float32, each pixel `stride` floats after the previous one (xs, ys: the channel count for a dense
// tensor, more where a tensor is a channel slice of a concat, as wasm.ts's compiled plan places them). Bit planes
// follow ../bits.ts (32 values a word, sign bit 1 = -1, mask bit 1 = nonzero, padding = 0 in both planes). Every
// step has a pure-TS twin in reference.ts that the tests compare with (test/export/packed-wasm.test.ts).
// Probes for bench's bound (probe_binconv, probe_conv_f32) are at the end, with their signatures.
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
void bn_f32(const float* x, int xs, float* y, int ys, int pixels, int c, const float* mean, const float* inv,
            const float* gamma, const float* beta) {
  for (int p = 0; p < pixels; p++) {
    const float* row = x + p * xs;
    float* out = y + p * ys;
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

// BN, sign, and packing into sign / nonzero planes: [pixels][words], by two compares per value. BN of one channel,
// f(x) = ((x - mean) * inv) * gamma + beta in float32, is monotone in x (each rounded op is), so sign(f(x)) is decided
// by where x lies against two thresholds found at load (wasm.ts, bnThresholds, by bisection over the float32 values
// with the same rounded ops): f(x) = 0 exactly for lo <= x <= hi; below lo f is negative (dir = 0, f increasing) or
// positive (dir = ~0, f decreasing), above hi the other sign. So the signs are bit-identical to computing BN first
// (tested at the thresholds), for every finite x. f32x4 compares, 16 channels a step into one i8x16.bitmask (4, then
// 1, for the rest of a word); where f decreases the sign is "above" = nonzero ^ below (the two exclude each other), so
// a word's sign bits are its below bits XOR (its nonzero bits AND the word's dir bits), once per word instead of a
// bitselect per 4 channels.
// Returns how many values are exactly 0 (none: bin_conv needs no mask plane).
#define PACK_MAX_WORDS 128
static uint32_t dir_bits(const uint32_t* dir, int w, int c) {
  uint32_t bits = 0;
  for (int b = 0; b < 32 && w * 32 + b < c; b++) bits |= (dir[w * 32 + b] & 1u) << b;
  return bits;
}
EXPORT(bn_sign_pack)
int bn_sign_pack(const float* x, int xs, int pixels, int c, int words, const float* lo, const float* hi,
                 const uint32_t* dir, uint32_t* sign, uint32_t* mask) {
  uint32_t dirs[PACK_MAX_WORDS];  // the dir bits of the first 4096 channels; wider inputs take theirs per pixel
  for (int w = 0; w < words && w < PACK_MAX_WORDS; w++) dirs[w] = dir_bits(dir, w, c);
  int zeros = 0;
  for (int p = 0; p < pixels; p++) {
    const float* row = x + p * xs;
    for (int w = 0; w < words; w++) {
      uint32_t s = 0, m = 0;
      int end = c - w * 32;
      if (end > 32) end = 32;
      int b = 0;
      // 16 channels a step: the compare lanes narrowed (i32 -> i16 -> i8, saturating keeps 0 and -1) so one
      // i8x16.bitmask takes 16 bits.
      for (; b + 16 <= end; b += 16) {
        const int ch = w * 32 + b;
        v128_t below[4], nonzero[4];
        for (int j = 0; j < 4; j++) {
          const v128_t v = wasm_v128_load(row + ch + 4 * j);
          below[j] = wasm_f32x4_lt(v, wasm_v128_load(lo + ch + 4 * j));
          nonzero[j] = wasm_v128_or(below[j], wasm_f32x4_gt(v, wasm_v128_load(hi + ch + 4 * j)));
        }
        const v128_t b8 = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(below[0], below[1]),
                                                  wasm_i16x8_narrow_i32x4(below[2], below[3]));
        const v128_t n8 = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(nonzero[0], nonzero[1]),
                                                  wasm_i16x8_narrow_i32x4(nonzero[2], nonzero[3]));
        s |= (uint32_t)wasm_i8x16_bitmask(b8) << b;
        m |= (uint32_t)wasm_i8x16_bitmask(n8) << b;
      }
      for (; b + 4 <= end; b += 4) {
        const int ch = w * 32 + b;
        const v128_t v = wasm_v128_load(row + ch);
        const v128_t below = wasm_f32x4_lt(v, wasm_v128_load(lo + ch));
        const v128_t above = wasm_f32x4_gt(v, wasm_v128_load(hi + ch));
        s |= (uint32_t)wasm_i32x4_bitmask(below) << b;
        m |= (uint32_t)wasm_i32x4_bitmask(wasm_v128_or(below, above)) << b;
      }
      for (; b < end; b++) {
        const int ch = w * 32 + b;
        const int below = row[ch] < lo[ch], above = row[ch] > hi[ch];
        s |= (uint32_t)below << b;
        m |= (uint32_t)(below | above) << b;
      }
      sign[p * words + w] = s ^ (m & (w < PACK_MAX_WORDS ? dirs[w] : dir_bits(dir, w, c)));
      mask[p * words + w] = m;
      zeros += end - __builtin_popcount(m);
    }
  }
  return zeros;
}

// im2col of bit planes: the taps of output pixel (b, oy, ox) laid end to end as one stream of taps * cin bits
// (tap-major, channels within a tap, no per-tap word padding: 3x3x36 is 324 bits, 6 words instead of 9 x 2) in `len`
// 64-bit words. Out-of-image taps are 0 (in the mask plane: the value 0). One stream per output pixel, so the dot
// products run over contiguous memory and each stream is built once for all output channels. The stream is built in
// a register (`cur`, `nb` bits filled) and each word stored once; a tap's bits are read 64 at a time (the plane's bits
// past cin are 0, so a whole word can be ORed in). Measured: half the time of ORing each tap into a zeroed stream.
// Whether every tap of a window whose first tap is (y0, x0), spanning `span` rows and columns, lies in an h x w image.
static inline int taps_inside(int y0, int x0, int span, int h, int w) {
  return y0 >= 0 && y0 + span < h && x0 >= 0 && x0 + span < w;
}

// Word i of the stream goes to dst[i * ds] (ds = 4: the one-plane path's streams interleaved by 4 pixels).
struct stream_writer {
  uint64_t cur;  // the word being filled, nb bits of it
  int nb, n;     // n words stored
  uint64_t* dst;
  int ds;
};
// Appends `take` (<= 64) bits, v's low bits (the rest 0).
static inline void stream_put(struct stream_writer* sw, uint64_t v, int take) {
  sw->cur |= v << sw->nb;
  if (sw->nb + take >= 64) {
    sw->dst[sw->n++ * sw->ds] = sw->cur;
    sw->cur = sw->nb ? v >> (64 - sw->nb) : 0;
    sw->nb += take - 64;
  } else {
    sw->nb += take;
  }
}
// Stores the last word and zeros up to len words.
static inline void stream_end(struct stream_writer* sw, int len) {
  if (sw->nb) sw->dst[sw->n++ * sw->ds] = sw->cur;
  while (sw->n < len) sw->dst[sw->n++ * sw->ds] = 0;
}
static void gather(const uint32_t* plane, int b, int h, int w, int words, int cin, int k, int stride, int pad,
                   int dil, int oy, int ox, int len, uint64_t* dst, int ds) {
  const int y0 = oy * stride - pad, x0 = ox * stride - pad;
  struct stream_writer sw = {0, 0, 0, dst, ds};
  for (int ky = 0; ky < k; ky++) {
    const int iy = y0 + ky * dil;
    for (int kx = 0; kx < k; kx++) {
      const int ix = x0 + kx * dil;
      const int inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
      const uint32_t* src = plane + ((b * h + (inside ? iy : 0)) * w + (inside ? ix : 0)) * words;
      for (int j = 0, bits = cin; bits > 0; j += 2, bits -= 64) {
        const int take = bits < 64 ? bits : 64;
        stream_put(&sw, !inside ? 0 : take > 32 ? *(const uint64_t*)(src + j) : (uint64_t)src[j], take);
      }
    }
  }
  stream_end(&sw, len);
}

// gather for a pixel whose taps are all inside the image, where a tap is one read (cin <= 64: the 36-channel layers'
// pixels but their borders): no bounds tests, no read loop (32x32x36 3x3: 6-9% faster than gather, A/B in one process).
static void gather_inside(const uint32_t* plane, int b, int h, int w, int words, int cin, int k, int stride, int pad,
                          int dil, int oy, int ox, int len, uint64_t* dst, int ds) {
  struct stream_writer sw = {0, 0, 0, dst, ds};
  const uint32_t* row = plane + ((b * h + oy * stride - pad) * w + ox * stride - pad) * words;
  for (int ky = 0; ky < k; ky++, row += dil * w * words) {
    const uint32_t* src = row;
    for (int kx = 0; kx < k; kx++, src += dil * words)
      stream_put(&sw, cin > 32 ? *(const uint64_t*)src : (uint64_t)*src, cin);
  }
  stream_end(&sw, len);
}

// ReLU as the reference computes it, v > 0 ? v : +0 (+0 for -0 and NaN): f32x4.pmax(0, v) is 0 < v ? v : 0, the same
// value, and one maxps where f32x4.max's NaN and signed-zero rules cost V8 eight instructions.
static inline v128_t relu4(v128_t v) { return wasm_f32x4_pmax(wasm_f32x4_splat(0.0f), v); }

static inline float relu_scaled(float alpha, int dot) {
  const float r = alpha * (float)dot;
  return r > 0.0f ? r : 0.0f;
}

// Byte counts (each at most 8 * 31) to u32 sums of 4 bytes: u8 pairs to u16 (pmaddubsw), then u16 pairs by a dot with
// ones (pmaddwd, exact: the sums are far below 2^15); V8 lowers u32x4.extadd_pairwise_u16x8 to a 4-op sequence.
static inline v128_t bytes_to_u32(v128_t acc) {
  return wasm_i32x4_dot_i16x8(wasm_u16x8_extadd_pairwise_u8x16(acc), wasm_i16x8_splat(1));
}

// The one-plane dot of P pixels' streams with 4 output channels (o .. o+3). Weights are interleaved [cout/4][len][4]
// u64. Channels o and o+1 run in 128-bit lanes: a stream word is splatted into both i64 lanes and XORed with their
// words; i8x16.popcnt counts bytes, summed in u8 lanes for up to 31 words (8 * 31 < 256), then widened (u8 -> u16 ->
// u32 pairwise). Channels o+2 and o+3 run on scalar i64.popcnt at the same time: V8 lowers i8x16.popcnt to a pshufb
// sequence on the vector ports while the scalar popcount unit sits idle, so the mix keeps both busy (measured: ~5%
// faster than all four in vector lanes, which in turn beat all four scalar, 0.25 vs 0.45-0.55 ms on the 32x32x36 3x3
// layer: 16 scalar accumulators do not fit the registers). A shuffle adds each i64 lane's halves.
// Each weight word is loaded once per P pixels, each stream word once per 4 channels. The P pixels' streams are
// interleaved (word i of pixel p at s[4 * i + p]) and the two scalar counts of a pixel share one i64 (c2 in the low
// half, c3 in the high: each at most 64 * 31), so the loop's addresses are one pointer plus constants and its
// accumulators fit V8's registers (with streams P apart and eight scalar sums, V8 spilled a dozen values a step).
// Inlined where it is called (always_inline: clang had kept it a function, and the call's setup cost the 1x1 layers'
// 3-word streams 10%). Output pixel p at out + p * ys;
// with `acc` the result is added to what is there (a node's sum a + conv(b): IEEE addition commutes, so bit for bit
// the interpreter's add).
//   dot = present - 2 * popcount(s ^ w) - corr: present = taps * cin; corr (null inside the image) takes out what the
//   one-plane formula counts for out-of-image taps, whose stream bits are 0 (see bin_conv).
#define SIMD_BLOCK(P)                                                                                                  \
  static inline __attribute__((always_inline)) void simd_block_##P(                                                    \
      const uint64_t* s, int len, const uint64_t* wb, int present, const float* alpha, float* out, int ys, int acc,    \
      int o, int nout, const int32_t* const* corr) {                                                                   \
    v128_t sum[P];                                                                                                     \
    for (int p = 0; p < P; p++) sum[p] = wasm_i32x4_splat(0);                                                          \
    for (int i0 = 0; i0 < len; i0 += 31) {                                                                             \
      const int i1 = len - i0 < 31 ? len : i0 + 31;                                                                    \
      v128_t a01[P];                                                                                                   \
      uint64_t c23[P];                                                                                                 \
      for (int p = 0; p < P; p++) a01[p] = wasm_i32x4_splat(0), c23[p] = 0;                                            \
      for (int i = i0; i < i1; i++) {                                                                                  \
        const v128_t w01 = wasm_v128_load(wb + 4 * i);                                                                 \
        const uint64_t w2 = wb[4 * i + 2], w3 = wb[4 * i + 3];                                                         \
        for (int p = 0; p < P; p++) {                                                                                  \
          const uint64_t sv = s[4 * i + p];                                                                            \
          const v128_t v = wasm_i64x2_splat(sv);                                                                       \
          a01[p] = wasm_i8x16_add(a01[p], wasm_i8x16_popcnt(wasm_v128_xor(v, w01)));                                   \
          c23[p] += (uint64_t)__builtin_popcountll(sv ^ w2) + ((uint64_t)__builtin_popcountll(sv ^ w3) << 32);         \
        }                                                                                                              \
      }                                                                                                                \
      for (int p = 0; p < P; p++) {                                                                                    \
        /* x: u32 lanes (c0 low, c0 high, c1 low, c1 high); y: (c2, c3, 0, 0) */                                       \
        const v128_t x = bytes_to_u32(a01[p]), y = wasm_i64x2_make(c23[p], 0);                                         \
        sum[p] = wasm_i32x4_add(sum[p], wasm_i32x4_add(wasm_i32x4_shuffle(x, y, 0, 2, 4, 5),                           \
                                                       wasm_i32x4_shuffle(x, y, 1, 3, 6, 7)));                         \
      }                                                                                                                \
    }                                                                                                                  \
    const v128_t pv = wasm_i32x4_splat(present);                                                                       \
    for (int p = 0; p < P; p++) {                                                                                      \
      v128_t dot = wasm_i32x4_sub(pv, wasm_i32x4_shl(sum[p], 1));                                                      \
      if (corr[p]) dot = wasm_i32x4_sub(dot, wasm_v128_load(corr[p] + o));                                            \
      float* dst = out + p * ys + o;                                                                                   \
      if (nout == 4) {                                                                                                 \
        const v128_t r = wasm_f32x4_mul(wasm_v128_load(alpha + o), wasm_f32x4_convert_i32x4(dot));                     \
        const v128_t v = relu4(r);                                                                                     \
        wasm_v128_store(dst, acc ? wasm_f32x4_add(wasm_v128_load(dst), v) : v);                                        \
      } else {                                                                                                         \
        int d[4];                                                                                                      \
        wasm_v128_store(d, dot);                                                                                       \
        for (int j = 0; j < nout; j++) dst[j] = acc ? dst[j] + relu_scaled(alpha[o + j], d[j])                         \
                                                    : relu_scaled(alpha[o + j], d[j]);                                 \
      }                                                                                                                \
    }                                                                                                                  \
  }
SIMD_BLOCK(1)
SIMD_BLOCK(4)

// The two-plane dot of one pixel, used where some activation is exactly 0 or some weight is: m = activation mask
// (& weight mask), dot = popcount(m) - 2 * popcount((s ^ w) & m). Out-of-image taps have m = 0.
static void masked_pixel(const uint64_t* s, const uint64_t* m, int len, const uint64_t* wsign, const uint64_t* wmask,
                         const float* alpha, float* out, int cout, int acc) {
  int present = 0;
  if (!wmask)
    for (int i = 0; i < len; i++) present += __builtin_popcountll(m[i]);
  for (int o = 0; o < cout; o++) {
    const uint64_t* wb = wsign + (o & ~3) * len + (o & 3);
    const uint64_t* wm = wmask ? wmask + (o & ~3) * len + (o & 3) : 0;
    int a = 0, c = present;
    for (int i = 0; i < len; i++) {
      uint64_t mi = m[i];
      if (wm) {
        mi &= wm[4 * i];
        c += __builtin_popcountll(mi);
      }
      a += __builtin_popcountll((s[i] ^ wb[4 * i]) & mi);
    }
    const float r = relu_scaled(alpha[o], c - 2 * a);
    out[o] = acc ? out[o] + r : r;
  }
}

// Binary convolution on packed planes, y = ReLU(alpha * dot), exact integer dots scaled once by alpha.
//   sign, mask: activation planes [n][h][w][words] (bn_sign_pack)
//   wsign, wmask: weight streams [ceil(cout/4)][len][4] u64 (wmask null when no weight is 0; channels past cout 0)
//   wsum: [taps][ceil(cout/4) * 4] i32, cin - 2 * popcount(sign bits of tap t, channel o): what the one-plane formula
//     counts for a tap whose stream bits are 0 (the tap reads as +1 everywhere), i.e. for an out-of-image tap
//   ps, pm: scratch, ceil(wo / 4) * 4 * len u64 each (one output row of streams, in blocks of 4 pixels); corr:
//     scratch, wo * ceil(cout/4) * 4 i32
//   y, ys, acc: output pixels ys floats apart; acc = 1 adds the result to y (a fused node add)
//   dense: 1 when no activation is exactly 0.
// Dense and no weight mask (the usual case): every pixel takes the one-plane path, 4 pixels x 4 channels a pass;
// pixels with out-of-image taps subtract corr = the sum of wsum over those taps (LCE's zero-padding correction), so
// no mask plane is gathered. Otherwise each pixel runs the two-plane masked_pixel.
EXPORT(bin_conv)
void bin_conv(const uint32_t* sign, const uint32_t* mask, int n, int h, int w, int words, int cin, int k, int stride,
              int pad, int dil, int ho, int wo, const uint64_t* wsign, const uint64_t* wmask, const int32_t* wsum,
              int cout, int len, const float* alpha, float* y, int ys, int acc, uint64_t* ps, uint64_t* pm, int32_t* corr,
              int dense) {
  const int present = k * k * cin, cout4 = (cout + 3) & ~3;
  const int plain = dense && !wmask;
  const int32_t* cp[4];
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      float* row = y + (b * ho + oy) * wo * ys;
      if (!plain) {
        for (int ox = 0; ox < wo; ox++) {
          gather(sign, b, h, w, words, cin, k, stride, pad, dil, oy, ox, len, ps + ox * len, 1);
          gather(mask, b, h, w, words, cin, k, stride, pad, dil, oy, ox, len, pm + ox * len, 1);
          masked_pixel(ps + ox * len, pm + ox * len, len, wsign, wmask, alpha, row + ox * ys, cout, acc);
        }
        continue;
      }
      // Pixels with every tap inside on gather_inside where a tap is one read.
      const int span = (k - 1) * dil, y0 = oy * stride - pad, oneRead = k > 1 && cin <= 64;
      for (int ox = 0; ox < wo; ox++) {
        uint64_t* dst = ps + (ox & ~3) * len + (ox & 3);
        if (oneRead && taps_inside(y0, ox * stride - pad, span, h, w))
          gather_inside(sign, b, h, w, words, cin, k, stride, pad, dil, oy, ox, len, dst, 4);
        else
          gather(sign, b, h, w, words, cin, k, stride, pad, dil, oy, ox, len, dst, 4);
      }
      for (int ox0 = 0; ox0 < wo; ox0 += 4) {
        const int P = wo - ox0 < 4 ? wo - ox0 : 4;
        for (int p = 0; p < P; p++) {
          // Out-of-image taps of this pixel: their wsum rows, summed 4 channels at a time.
          const int ox = ox0 + p, x0 = ox * stride - pad;
          cp[p] = 0;
          // Every tap inside (most pixels): nothing to correct, so no walk over the taps.
          if (taps_inside(y0, x0, span, h, w)) continue;
          int32_t* c = corr + ox * cout4;
          int any = 0;
          for (int ky = 0, t = 0; ky < k; ky++) {
            const int iy = y0 + ky * dil;
            for (int kx = 0; kx < k; kx++, t++) {
              const int ix = x0 + kx * dil;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) continue;
              if (!any)
                for (int o = 0; o < cout4; o += 4) wasm_v128_store(c + o, wasm_i32x4_splat(0));
              any = 1;
              for (int o = 0; o < cout4; o += 4)
                wasm_v128_store(c + o, wasm_i32x4_add(wasm_v128_load(c + o), wasm_v128_load(wsum + t * cout4 + o)));
            }
          }
          cp[p] = any ? c : 0;
        }
        for (int o = 0; o < cout4; o += 4) {
          const int nout = cout - o < 4 ? cout - o : 4;
          if (P == 4)
            simd_block_4(ps + ox0 * len, len, wsign + o * len, present, alpha, row + ox0 * ys, ys, acc, o, nout, cp);
          else
            for (int p = 0; p < P; p++)
              simd_block_1(ps + ox0 * len + p, len, wsign + o * len, present, alpha, row + (ox0 + p) * ys, ys, acc,
                           o, nout, cp + p);
        }
      }
    }
  }
}

// Float convolution with PyTorch geometry (symmetric zero padding, stride, dilation), optional bias.
// Register-blocked: CONV_P output pixels x 8 output channels accumulate in f32x4 registers over all taps and input
// channels, so each weight vector is loaded once per CONV_P pixels and each input value once per 8 channels. The loop
// runs image by image, output-channel block outermost within an image, so the block's weights ([taps][cin][8], 36 KiB
// for 2x2x288) stay in cache while every pixel passes over them (the 2x2x288x576 residual conv's weights are 2.6 MiB
// in all), and one image's input (590 KiB for 32x32x144) stays in cache across the blocks.
// Out-of-image taps read a zero row.
#define ZERO_ROW 4096
#ifndef CONV_P
#define CONV_P 4
#endif
static float zero_row[ZERO_ROW];

// wb: weight of (tap t, input channel ci, lane j) at wb[(t * cin + ci) * ldw + j]; 8 lanes, `nout` of them stored.
static inline void conv_tile(const float* const* rows, int P, const float* wb, int ldw, int cin, int taps,
                             const float* bias, float* const* outs, int nout, int relu) {
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
    if (relu) {
      acc[p][0] = relu4(acc[p][0]);
      acc[p][1] = relu4(acc[p][1]);
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
// The tap rows of P pixels from (oy, ox0): rows[p * taps + t] (zero_row for an out-of-image tap).
static void tile_rows(const float* x, int b, int h, int w, int cin, int k, int stride, int pad, int dil, int oy,
                      int ox0, int P, const float** rows) {
  for (int p = 0; p < P; p++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++) {
        const int iy = oy * stride - pad + ky * dil, ix = (ox0 + p) * stride - pad + kx * dil;
        rows[p * k * k + ky * k + kx] =
            (iy < 0 || iy >= h || ix < 0 || ix >= w) ? zero_row : x + ((b * h + iy) * w + ix) * cin;
      }
}

// Weights up to this size (bytes) stay in cache across every block, so the tile's rows are found once for all blocks
// (the stem: 3 input channels, 27 MACs a pixel a channel, where finding 36 rows per block took most of its time).
#define CONV_SMALL_WEIGHTS 65536

static void conv_blocks(const float* x, int n, int h, int w, int cin, const float* wt, int ldw, int bstride,
                        const float* bias, int cout, int blocks, int k, int stride, int pad, int dil, int ho, int wo,
                        float* y, int relu) {
  const int taps = k * k;
  const float* rows[CONV_P * 81];
  float* outs[CONV_P];
  // Blocks a pass over the pixels: all of them where the weights are small, else one.
  const int group = (long long)blocks * bstride * 4 <= CONV_SMALL_WEIGHTS ? blocks : 1;
  for (int b = 0; b < n; b++) {
    for (int c0 = 0; c0 < blocks; c0 += group) {
      for (int oy = 0; oy < ho; oy++) {
        for (int ox0 = 0; ox0 < wo; ox0 += CONV_P) {
          const int P = wo - ox0 < CONV_P ? wo - ox0 : CONV_P;
          tile_rows(x, b, h, w, cin, k, stride, pad, dil, oy, ox0, P, rows);
          for (int c = c0; c < c0 + group; c++) {
            const int co = c * 8, nout = cout - co < 8 ? cout - co : 8;
            for (int p = 0; p < P; p++) outs[p] = y + ((b * ho + oy) * wo + ox0 + p) * cout + co;
            const float* wb = wt + c * bstride;
            const float* bb = bias ? bias + co : 0;
            if (P == CONV_P)
              conv_tile(rows, CONV_P, wb, ldw, cin, taps, bb, outs, nout, relu);
            else
              for (int p = 0; p < P; p++) conv_tile(rows + p * taps, 1, wb, ldw, cin, taps, bb, outs + p, nout, relu);
          }
        }
      }
    }
  }
}

// The runtime's float conv: weights re-laid at load (wasm.ts) as [ceil(cout/8)][k][k][cin][8] (channels past cout
// 0) and bias padded to a multiple of 8. cin <= 4096, k <= 9. Dense input and output; relu = 1 applies ReLU (the
// stem's conv + ReLU in one pass).
EXPORT(conv_f32_blocked)
void conv_f32_blocked(const float* x, int n, int h, int w, int cin, const float* wt, const float* bias, int cout,
                      int k, int stride, int pad, int dil, int ho, int wo, float* y, int relu) {
  const int blocks = (cout + 7) / 8;
  conv_blocks(x, n, h, w, cin, wt, 8, k * k * cin * 8, bias, cout, blocks, k, stride, pad, dil, ho, wo, y, relu);
}

// The same conv on weights as stored, [k][k][cin][cout] (bench's float probe times this): full blocks of 8 channels
// read the weights with stride cout; the cout % 8 last channels run a scalar loop. cin <= 4096, k <= 9.
EXPORT(conv_f32)
void conv_f32(const float* x, int n, int h, int w, int cin, const float* wt, const float* bias, int cout, int k,
              int stride, int pad, int dil, int ho, int wo, float* y) {
  const int full = cout / 8, taps = k * k;
  conv_blocks(x, n, h, w, cin, wt, cout, 8, bias, cout, full, k, stride, pad, dil, ho, wo, y, 0);
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

// Element-wise steps in f32x4 with a scalar tail (the auto-vectorizer is off, see build-packed-wasm.sh), on `pixels`
// pixels of c channels, strided.
EXPORT(relu_f32)
void relu_f32(const float* x, int xs, float* y, int ys, int pixels, int c) {
  for (int p = 0; p < pixels; p++) {
    const float* a = x + p * xs;
    float* out = y + p * ys;
    int i = 0;
    for (; i + 4 <= c; i += 4) wasm_v128_store(out + i, relu4(wasm_v128_load(a + i)));
    for (; i < c; i++) out[i] = a[i] > 0.0f ? a[i] : 0.0f;
  }
}

static inline void add_row(const float* a, const float* b, float* y, int c) {
  int i = 0;
  for (; i + 4 <= c; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < c; i++) y[i] = a[i] + b[i];
}

EXPORT(add_f32)
void add_f32(const float* a, int as, const float* b, int bs, float* y, int ys, int pixels, int c) {
  for (int p = 0; p < pixels; p++) add_row(a + p * as, b + p * bs, y + p * ys, c);
}

EXPORT(fill_zero)
void fill_zero(float* y, int ys, int pixels, int c) {
  for (int p = 0; p < pixels; p++) {
    float* out = y + p * ys;
    int i = 0;
    for (; i + 4 <= c; i += 4) wasm_v128_store(out + i, wasm_f32x4_splat(0.0f));
    for (; i < c; i++) out[i] = 0.0f;
  }
}

// Copies x into y (a concat's part into its channel slice: y = the concat + offset, ys = its channel count).
EXPORT(copy_f32)
void copy_f32(const float* x, int xs, float* y, int ys, int pixels, int c) {
  for (int p = 0; p < pixels; p++) {
    const float* a = x + p * xs;
    float* out = y + p * ys;
    int i = 0;
    for (; i + 4 <= c; i += 4) wasm_v128_store(out + i, wasm_v128_load(a + i));
    for (; i < c; i++) out[i] = a[i];
  }
}

// 3x3 pool, padding 1: max pads with -inf (never wins), avg divides by the in-image taps (count_include_pad=False).
// Channels in f32x4; the sum runs over the taps in the same order as the reference (row by row).
EXPORT(pool3x3)
void pool3x3(const float* x, int xs, float* y, int ys, int n, int h, int w, int c, int stride, int ho, int wo,
             int is_max) {
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < ho; oy++) {
      for (int ox = 0; ox < wo; ox++) {
        float* out = y + ((b * ho + oy) * wo + ox) * ys;
        int y0 = oy * stride - 1, x0 = ox * stride - 1;
        int ya = y0 < 0 ? 0 : y0, yb = y0 + 3 > h ? h : y0 + 3;
        int xa = x0 < 0 ? 0 : x0, xb = x0 + 3 > w ? w : x0 + 3;
        const float count = (float)((yb - ya) * (xb - xa));
        int ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          v128_t acc = is_max ? wasm_f32x4_splat(-__builtin_inff()) : wasm_f32x4_splat(0.0f);
          for (int iy = ya; iy < yb; iy++) {
            for (int ix = xa; ix < xb; ix++) {
              const v128_t v = wasm_v128_load(x + ((b * h + iy) * w + ix) * xs + ch);
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
              const float v = x[((b * h + iy) * w + ix) * xs + ch];
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
void gap_f32(const float* x, int xs, float* y, int n, int hw, int c) {
  for (int b = 0; b < n; b++) {
    float* out = y + b * c;
    for (int ch = 0; ch < c; ch++) out[ch] = 0.0f;
    for (int p = 0; p < hw; p++) add_row(out, x + (b * hw + p) * xs, out, c);
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

// Throughput probes for bench's bound.
// probe_popcount: `reps` passes of a popcount loop over streams of `len` 64-bit words (a: 5 * len words, b: 4 * len
// words), in one of two forms, for the fastest binary arithmetic this engine reaches here (the bound takes the faster;
// returns a value computed from the counts, so nothing is optimised away):
//   0: XOR + scalar i64.popcnt over one stream into four accumulators (len * 64 MACs a pass);
//   1: the dot's own block, simd_block_4 (4 pixels x 4 channels, two in i8x16.popcnt lanes and two on i64.popcnt), on
//      streams long enough that its epilogue costs little (16 * len * 64 MACs a pass). On a Zen 5 EPYC: 210-265 G/s
//      against 115-160 for form 0, and above what the scalar form said the bound was (its layers ran faster than it).
// probe_fma: float multiply-adds over `len` floats into eight f32x4 accumulators.
static float probe_out[4 * 4];
EXPORT(probe_popcount)
int probe_popcount(const uint64_t* a, const uint64_t* b, int len, int reps, int form) {
  int a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int r = 0; r < reps; r++) {
    // The pass's offset into a keeps the compiler from hoisting a pass out of the loop.
    const uint64_t* s = a + (r & 1) * len;
    if (form == 1) {
      static const float alpha[4] = {1.0f, 1.0f, 1.0f, 1.0f};
      const int32_t* corr[4] = {0, 0, 0, 0};
      simd_block_4(s, len, b, 64 * len, alpha, probe_out, 4, 0, 0, 4, corr);  // ReLU(64 len - 2 popcount)
      a0 += (int)probe_out[r & 15];
    } else {
      for (int i = 0; i + 4 <= len; i += 4) {
        a0 += __builtin_popcountll(s[i] ^ b[i]);
        a1 += __builtin_popcountll(s[i + 1] ^ b[i + 1]);
        a2 += __builtin_popcountll(s[i + 2] ^ b[i + 2]);
        a3 += __builtin_popcountll(s[i + 3] ^ b[i + 3]);
      }
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

// probe_binconv / probe_conv_f32: the runtime's own kernels on one layer shape (batch 1, pseudo-random data made here),
// run `reps` times (after filling the data when `fill` is 1; call once with fill = 1 first): bin_conv on the one-plane path (gather + blocked i8x16.popcnt dots + alpha/ReLU; not the BN/pack,
// which runs once per consumer in the network), and conv_f32_blocked. `scratch` must hold probe_*_bytes(...) bytes,
// 16-byte aligned. They return a value computed from the outputs, so the work is not optimised away. Signatures:
//   int   probe_binconv_bytes(h, w, cin, cout, k, stride, pad, dil)
//   int   probe_binconv(scratch, h, w, cin, cout, k, stride, pad, dil, reps, fill)
//   int   probe_conv_f32_bytes(h, w, cin, cout, k, stride, pad, dil)
//   float probe_conv_f32(scratch, h, w, cin, cout, k, stride, pad, dil, reps, fill)
static inline int out_size(int n, int k, int stride, int pad, int dil) {
  return (n + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}
static inline int align16(int bytes) { return (bytes + 15) & ~15; }
static uint32_t probe_state = 2463534242u;
static inline uint32_t probe_next(void) {  // xorshift32
  probe_state ^= probe_state << 13;
  probe_state ^= probe_state >> 17;
  probe_state ^= probe_state << 5;
  return probe_state;
}

struct bin_layout {
  int words, ho, wo, len, cout4, sign, mask, wsign, wsum, alpha, y, ps, pm, corr, total;
};
static struct bin_layout bin_layout_of(int h, int w, int cin, int cout, int k, int stride, int pad, int dil) {
  struct bin_layout l;
  l.words = (cin + 31) / 32;
  l.ho = out_size(h, k, stride, pad, dil);
  l.wo = out_size(w, k, stride, pad, dil);
  l.len = (k * k * cin + 63) / 64;
  l.cout4 = (cout + 3) & ~3;
  int at = 0;
  l.sign = at, at += align16(h * w * l.words * 4);
  l.mask = at, at += align16(h * w * l.words * 4);
  l.wsign = at, at += align16(l.cout4 * l.len * 8);
  l.wsum = at, at += align16(k * k * l.cout4 * 4);
  l.alpha = at, at += align16(l.cout4 * 4);
  l.y = at, at += align16(l.ho * l.wo * cout * 4);
  l.ps = at, at += align16(((l.wo + 3) & ~3) * l.len * 8);
  l.pm = at, at += align16(l.wo * l.len * 8);
  l.corr = at, at += align16(l.wo * l.cout4 * 4);
  l.total = at;
  return l;
}

EXPORT(probe_binconv_bytes)
int probe_binconv_bytes(int h, int w, int cin, int cout, int k, int stride, int pad, int dil) {
  return bin_layout_of(h, w, cin, cout, k, stride, pad, dil).total;
}

EXPORT(probe_binconv)
int probe_binconv(uint8_t* scratch, int h, int w, int cin, int cout, int k, int stride, int pad, int dil, int reps,
                  int fill) {
  const struct bin_layout l = bin_layout_of(h, w, cin, cout, k, stride, pad, dil);
  uint32_t* sign = (uint32_t*)(scratch + l.sign);
  uint32_t* mask = (uint32_t*)(scratch + l.mask);
  uint64_t* wsign = (uint64_t*)(scratch + l.wsign);
  int32_t* wsum = (int32_t*)(scratch + l.wsum);
  float* alpha = (float*)(scratch + l.alpha);
  for (int p = 0; fill && p < h * w; p++)
    for (int j = 0; j < l.words; j++) {
      const int bits = cin - j * 32 >= 32 ? 32 : cin - j * 32;
      const uint32_t valid = bits == 32 ? 0xffffffffu : (1u << bits) - 1;
      sign[p * l.words + j] = probe_next() & valid;
      mask[p * l.words + j] = valid;
    }
  for (int i = 0; fill && i < l.cout4 * l.len; i++) wsign[i] = ((uint64_t)probe_next() << 32) | probe_next();
  for (int i = 0; fill && i < k * k * l.cout4; i++) wsum[i] = (int32_t)(probe_next() % 9) - 4;
  for (int o = 0; fill && o < l.cout4; o++) alpha[o] = 0.5f;
  float* y = (float*)(scratch + l.y);
  int check = 0;
  for (int r = 0; r < reps; r++) {
    bin_conv(sign, mask, 1, h, w, l.words, cin, k, stride, pad, dil, l.ho, l.wo, wsign, 0, wsum, cout, l.len, alpha,
             y, cout, 0, (uint64_t*)(scratch + l.ps), (uint64_t*)(scratch + l.pm), (int32_t*)(scratch + l.corr), 1);
    check += (int)y[r % (l.ho * l.wo * cout)];
  }
  return check;
}

struct conv_layout {
  int ho, wo, x, wt, bias, y, total;
};
static struct conv_layout conv_layout_of(int h, int w, int cin, int cout, int k, int stride, int pad, int dil) {
  struct conv_layout l;
  const int cout8 = (cout + 7) & ~7;
  l.ho = out_size(h, k, stride, pad, dil);
  l.wo = out_size(w, k, stride, pad, dil);
  int at = 0;
  l.x = at, at += align16(h * w * cin * 4);
  l.wt = at, at += align16(k * k * cin * cout8 * 4);
  l.bias = at, at += align16(cout8 * 4);
  l.y = at, at += align16(l.ho * l.wo * cout * 4);
  l.total = at;
  return l;
}

EXPORT(probe_conv_f32_bytes)
int probe_conv_f32_bytes(int h, int w, int cin, int cout, int k, int stride, int pad, int dil) {
  return conv_layout_of(h, w, cin, cout, k, stride, pad, dil).total;
}

EXPORT(probe_conv_f32)
float probe_conv_f32(uint8_t* scratch, int h, int w, int cin, int cout, int k, int stride, int pad, int dil, int reps,
                     int fill) {
  const struct conv_layout l = conv_layout_of(h, w, cin, cout, k, stride, pad, dil);
  float* x = (float*)(scratch + l.x);
  float* wt = (float*)(scratch + l.wt);
  float* bias = (float*)(scratch + l.bias);
  for (int i = 0; fill && i < h * w * cin; i++) x[i] = (float)(probe_next() % 2001) / 1000.0f - 1.0f;
  for (int i = 0; fill && i < k * k * cin * ((cout + 7) & ~7); i++) wt[i] = (float)(probe_next() % 2001) / 1000.0f - 1.0f;
  for (int i = 0; fill && i < ((cout + 7) & ~7); i++) bias[i] = 0.1f;
  float* y = (float*)(scratch + l.y);
  float check = 0.0f;
  for (int r = 0; r < reps; r++) {
    conv_f32_blocked(x, 1, h, w, cin, wt, bias, cout, k, stride, pad, dil, l.ho, l.wo, y, 0);
    check += y[r % (l.ho * l.wo * cout)];
  }
  return check;
}
