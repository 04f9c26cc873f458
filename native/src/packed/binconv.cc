// The binary conv of the packed session: BN → sign → pack (one pass), tap-major bit streams per output row, and the
// XNOR/popcount dot with register blocking. Exact: every output is ReLU(α·dot) with dot the integer
//   dot = Σ popcount(ma & mw) − 2·Σ popcount((sa ^ sw) & ma & mw)
// over the in-image taps (bits.ts convention: sign bit 1 = −1, mask bit 1 = nonzero), which without weight zeros is
// valid − 2·Σ popcount((sa ^ sw) & ma), valid = the number of nonzero activations the output sees. One vpternlogq
// computes (sa ^ sw) & ma, so the activation mask (zero padding, sign(0) = 0) costs nothing in the AVX-512 loop.
//
// Four kernels, chosen at run time from the CPU (never at build time, so the addon runs on any x86-64):
//   avx512: VPOPCNTQ on 8 output channels a vector, 4 pixels × up to 5 groups (40 channels) of accumulators in
//           registers; one-plane (no mask) where neither the input nor the weights hold an exact zero;
//   avx512bw: the vpshufb popcount below on 512 bits (AVX-512 without VPOPCNTDQ);
//   avx2:   vpshufb nibble popcount (Muła) accumulated in bytes, widened with vpsadbw every 31 words;
//   scalar: __builtin_popcountll, also the path for layers whose binary weights hold exact zeros.
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <ctime>

#include "../clones.h"
#include "chunks.h"
#include "plan.h"

namespace bnas::packed {

namespace {

inline int wordsOf(int bits) { return (bits + 63) / 64; }

#if defined(__x86_64__) || defined(__i386__)
bool cpuHasAvx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vpopcntdq");
}
bool cpuHasAvx2() { return __builtin_cpu_supports("avx2"); }
// AVX-512 without VPOPCNTDQ (Skylake-SP, Cascade Lake: common in clouds).
bool cpuHasAvx512Bw() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#else
bool cpuHasAvx512Bw() { return false; }
bool cpuHasAvx512() { return false; }
bool cpuHasAvx2() { return false; }
#endif

// ---------------------------------------------------------------- scalar (portable) ----------------------------------

// Packed planes are word-planar: word j of pixel p is at plane[j * planeStride + p], so the words of consecutive pixels
// are contiguous and the row streams below are built with vector loads and shifts.
void packScalar(const float* x, int xStride, int64_t pixels, int cin, int wq, const Bn& bn, uint64_t* sign,
                uint64_t* mask, int64_t planeStride, int32_t* count) {
  const bool gamma = !bn.gamma.empty(), beta = !bn.beta.empty();
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    int nonzero = 0;
    for (int j = 0; j < wq; ++j) {
      uint64_t sw = 0, mw = 0;
      for (int c = 64 * j; c < std::min(cin, 64 * j + 64); ++c) {
        // The engine's eval BN, each op rounded to float32: ((x − μ)·inv)·γ + β.
        float v = (xp[c] - bn.mean[c]) * bn.inv[c];
        if (gamma) v = v * bn.gamma[c];
        if (beta) v = v + bn.beta[c];
        const uint64_t bit = uint64_t(1) << (c & 63);
        if (v < 0) sw |= bit;
        if (v < 0 || v > 0) mw |= bit;
      }
      sign[j * planeStride + p] = sw;
      mask[j * planeStride + p] = mw;
      nonzero += __builtin_popcountll(mw);
    }
    count[p] = nonzero;
  }
}

// Handles every case, weight zeros included: dot = Σ popcount(m & wm) − 2·Σ popcount((s ^ w) & m & wm).
void rowScalar(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, int pixels, const uint64_t* w,
               const uint64_t* wmask, int kq, int groups, const float* alpha, int cout, float* y, int yStride,
               bool accumulate) {
  for (int p = 0; p < pixels; ++p) {
    const uint64_t* sp = s + p;
    const uint64_t* mp = m + p;
    float* yp = y + int64_t(p) * yStride;
    for (int o = 0; o < cout; ++o) {
      const int g = o >> 3, lane = o & 7;
      const uint64_t* wg = w + int64_t(g) * kq * 8 + lane;
      int64_t dot;
      if (wmask) {
        const uint64_t* mg = wmask + int64_t(g) * kq * 8 + lane;
        int64_t both = 0, differ = 0;
        for (int q = 0; q < kq; ++q) {
          const uint64_t live = mp[int64_t(q) * qStride] & mg[q * 8];
          both += __builtin_popcountll(live);
          differ += __builtin_popcountll((sp[int64_t(q) * qStride] ^ wg[q * 8]) & live);
        }
        dot = both - 2 * differ;
      } else {
        int64_t differ = 0;
        for (int q = 0; q < kq; ++q) {
          const int64_t at = int64_t(q) * qStride;
          differ += __builtin_popcountll((sp[at] ^ wg[q * 8]) & mp[at]);
        }
        dot = valid[p] - 2 * differ;
      }
      const float v = alpha[o] * float(dot);
      const float r = v > 0 ? v : 0.0f;
      yp[o] = accumulate ? yp[o] + r : r;
    }
  }
}

}  // namespace

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX-512 epilogue ---------------------------------
// Shared by the VPOPCNTDQ and the AVX-512BW kernels; built for the smaller target, so both may inline it.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw")
namespace {

// acc[p][g]: the popcount sums of P pixels × G groups of 8 output channels (64-bit lanes), written out to y. With a
// border (the one-plane dot), pixels whose taps fall outside the image first take off the count those taps added.
template <int P, int G>
inline void epilogueAvx512(const __m512i (&acc)[P][G], const int32_t* valid, const Border* border, int g0,
                           const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  // Two groups (16 channels) a vector where it can: the even 32-bit halves of both groups' 64-bit counts (they are
  // far below 2^31) in one vpermt2d, then dot = valid − 2·count, ×α, ReLU, (+ y), one masked store of 16 floats.
  const __m512 zero = _mm512_setzero_ps(), two = _mm512_set1_ps(2.0f);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  // α once for the block's pixels (the stores to y could alias it: the compiler would load it again per pixel).
  __m512 al[(G + 1) / 2];
  for (int g = 0; g < G; g += 2) al[g / 2] = _mm512_loadu_ps(alpha + (g0 + g) * 8);
  for (int p = 0; p < P; ++p) {
    const __m512 v0 = _mm512_set1_ps(float(valid[p]));
    const int32_t* corr = border && border->at[p] ? border->corr + int64_t(border->col[p]) * border->stride : nullptr;
    float* yp = y + int64_t(p) * yStride;
    for (int g = 0; g < G; g += 2) {
      const int o = (g0 + g) * 8;
      const int lanes = std::min(g + 1 < G ? 16 : 8, cout - o);
      const __mmask16 live = lanes >= 16 ? __mmask16(0xffff) : __mmask16((1u << lanes) - 1);
      __m512i counts = g + 1 < G ? _mm512_permutex2var_epi32(acc[p][g], even, acc[p][g + 1])
                                 : _mm512_maskz_permutexvar_epi32(0x00ff, even, acc[p][g]);
      if (corr) counts = _mm512_sub_epi32(counts, _mm512_loadu_si512(corr + o));
      // valid − 2·count in float32 by one FMA: exact, every value is an integer far below 2^24.
      const __m512 dot = _mm512_fnmadd_ps(two, _mm512_cvtepi32_ps(counts), v0);
      __m512 r = _mm512_mul_ps(al[g / 2], dot);
      r = _mm512_max_ps(r, zero);  // +0 for −0 and NaN, as the reference's v > 0 ? v : 0
      if (accumulate) r = _mm512_add_ps(_mm512_maskz_loadu_ps(live, yp + o), r);
      _mm512_mask_storeu_ps(yp + o, live, r);
    }
  }
}

}  // namespace
#pragma GCC pop_options

// ---------------------------------------------------------------- AVX-512 --------------------------------------------
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx512vpopcntdq,popcnt")
namespace {

// The planes from the per-channel thresholds: two compares per 16 channels (and an xor where some channel's γ is
// negative: Flip), each word's four 16-bit compare masks put together in general registers. CH ≤ 12 chunks unrolled
// with their thresholds kept in registers (with vflip, 3·CH ≤ 36: the compiler reloads a few where Flip and CH > 10);
// loading them per chunk made the pack of 32×32×144 1.8× slower (15.5 against 8.8 µs). Wider inputs run in passes of
// 12 chunks (3 words) over the pixels, the passes after the first adding to count.
template <int CH, bool Flip>
void packRegsAvx512(const float* x, int xStride, int64_t pixels, int cin, const float* lo, const float* hi,
                    const uint32_t* flip, uint64_t* sign, uint64_t* mask, int64_t planeStride, int32_t* count,
                    bool addCount) {
  constexpr int W = (CH + 3) / 4;
  __m512 vlo[CH], vhi[CH];
  __m512i vflip[CH];
  __mmask16 live[CH];
  loadPassThresholds<CH>(lo, hi, flip, cin, vlo, vhi, vflip, live);
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    uint64_t sw[W] = {}, mw[W] = {};
    for (int k = 0; k < CH; ++k) {
      __m512 v = _mm512_maskz_loadu_ps(live[k], xp + 16 * k);
      if constexpr (Flip) v = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), vflip[k]));
      const uint64_t neg = _cvtmask16_u32(_mm512_mask_cmp_ps_mask(live[k], v, vlo[k], _CMP_LT_OQ));
      const uint64_t pos = _cvtmask16_u32(_mm512_mask_cmp_ps_mask(live[k], v, vhi[k], _CMP_GE_OQ));
      sw[k / 4] |= neg << (16 * (k % 4));
      mw[k / 4] |= (neg | pos) << (16 * (k % 4));
    }
    int nonzero = 0;
    for (int j = 0; j < W; ++j) {
      sign[j * planeStride + p] = sw[j];
      mask[j * planeStride + p] = mw[j];
      nonzero += int(_mm_popcnt_u64(mw[j]));
    }
    count[p] = addCount ? count[p] + nonzero : nonzero;
  }
}

// P pixels × G groups of 8 output channels: P·G accumulators stay in registers over the whole stream. Masked: one
// vpternlogq ((s ^ w) & m) + vpopcntq + vpaddq per 512 bits. One-plane (m == nullptr, an input without zeros and
// weights without zeros): vpxorq with the stream word broadcast from memory, non-destructive, so no register copy
// per accumulator as the three-input vpternlogq needs; the border pixels' out-of-image taps are corrected in the
// epilogue (LCE's zero-padding correction).
template <int P, int G, bool Masked>
inline void blockAvx512(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const Border* border,
                        const uint64_t* w, int kq, int g0, const float* alpha, int cout, float* y, int yStride,
                        bool accumulate) {
  __m512i acc[P][G];
  for (int p = 0; p < P; ++p)
    for (int g = 0; g < G; ++g) acc[p][g] = _mm512_setzero_si512();
  const uint64_t* wg = w + int64_t(g0) * kq * 8;
  for (int q = 0; q < kq; ++q) {
    __m512i wv[G];
    for (int g = 0; g < G; ++g) wv[g] = _mm512_loadu_si512(wg + (int64_t(g) * kq + q) * 8);
    for (int p = 0; p < P; ++p) {
      const __m512i sv = _mm512_set1_epi64(int64_t(s[int64_t(q) * qStride + p]));
      if constexpr (Masked) {
        const __m512i mv = _mm512_set1_epi64(int64_t(m[int64_t(q) * qStride + p]));
        // 0x28 = (A ^ B) & C: the disagreeing nonzero positions.
        for (int g = 0; g < G; ++g)
          acc[p][g] = _mm512_add_epi64(acc[p][g], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(sv, wv[g], mv, 0x28)));
      } else {
        for (int g = 0; g < G; ++g)
          acc[p][g] = _mm512_add_epi64(acc[p][g], _mm512_popcnt_epi64(_mm512_xor_si512(sv, wv[g])));
      }
    }
  }
  epilogueAvx512<P, G>(acc, valid, border, g0, alpha, cout, y, yStride, accumulate);
}

template <int P, bool Masked>
inline void groupsAvx512(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const Border* border,
                         const uint64_t* w, int kq, int groups, const float* alpha, int cout, float* y, int yStride,
                         bool accumulate) {
  const int blocks = (groups + 4) / 5;
  for (int b = 0, g = 0; b < blocks; ++b) {
    const int size = (groups - g) / (blocks - b) + ((groups - g) % (blocks - b) ? 1 : 0);
    switch (size) {
      case 5: blockAvx512<P, 5, Masked>(s, m, qStride, valid, border, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      case 4: blockAvx512<P, 4, Masked>(s, m, qStride, valid, border, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      case 3: blockAvx512<P, 3, Masked>(s, m, qStride, valid, border, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      case 2: blockAvx512<P, 2, Masked>(s, m, qStride, valid, border, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      default: blockAvx512<P, 1, Masked>(s, m, qStride, valid, border, w, kq, g, alpha, cout, y, yStride, accumulate); break;
    }
    g += size;
  }
}

// appendTap (below) with masked loads and stores: no scalar tail for the border taps' runs of wo − 1 or wo − 2
// pixels, and a direct call where the clone would go through its resolver.
// hi may be null where the tap's bits end inside word lo (nothing spills).
__attribute__((noinline)) void appendTapAvx512(const uint64_t* __restrict src, int count, uint64_t* __restrict lo,
                                                uint64_t* __restrict hi, int r) {
  const __m512i left = _mm512_set1_epi64(r), right = _mm512_set1_epi64(64 - r);
  for (int i = 0; i < count; i += 8) {
    const __mmask8 live = count - i >= 8 ? __mmask8(0xff) : __mmask8((1u << (count - i)) - 1);
    const __m512i v = _mm512_maskz_loadu_epi64(live, src + i);
    _mm512_mask_storeu_epi64(lo + i, live,
                             _mm512_or_si512(_mm512_maskz_loadu_epi64(live, lo + i), _mm512_sllv_epi64(v, left)));
    if (r && hi)
      _mm512_mask_storeu_epi64(hi + i, live,
                               _mm512_or_si512(_mm512_maskz_loadu_epi64(live, hi + i), _mm512_srlv_epi64(v, right)));
  }
}

template <bool Masked>
void rowAvx512(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const Border* border,
               int pixels, const uint64_t* w, int kq, int groups, const float* alpha, int cout, float* y, int yStride,
               bool accumulate) {
  int p = 0;
  for (; p + 4 <= pixels; p += 4) {
    const Border shifted = border ? border->from(p) : Border{};
    groupsAvx512<4, Masked>(s + p, m ? m + p : nullptr, qStride, valid + p, border ? &shifted : nullptr, w, kq,
                            groups, alpha, cout, y + int64_t(p) * yStride, yStride, accumulate);
  }
  for (; p < pixels; ++p) {
    const Border shifted = border ? border->from(p) : Border{};
    groupsAvx512<1, Masked>(s + p, m ? m + p : nullptr, qStride, valid + p, border ? &shifted : nullptr, w, kq,
                            groups, alpha, cout, y + int64_t(p) * yStride, yStride, accumulate);
  }
}

}  // namespace
#pragma GCC pop_options

// ---------------------------------------------------------------- AVX2 -----------------------------------------------
#pragma GCC push_options
#pragma GCC target("avx2,popcnt")
namespace {

// The thresholds' compares (see packThresholdAvx512) with 8 channels a vector; the byte masks laid end to end.
void packThresholdAvx2(const float* x, int xStride, int64_t pixels, int cin, int wq, const float* lo, const float* hi,
                       const uint32_t* flip, uint64_t* sign, uint64_t* mask, int64_t planeStride, int32_t* count) {
  constexpr int kMaxWords = 64;
  uint8_t sbits[8 * kMaxWords], mbits[8 * kMaxWords];
  const int full = cin / 8, chunks = (cin + 7) / 8;
  for (int k = chunks; k < 8 * wq; ++k) sbits[k] = mbits[k] = 0;
  alignas(32) float tailX[8];
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    for (int k = 0; k < chunks; ++k) {
      const int c = 8 * k;
      const float* src = xp + c;
      if (k == full) {  // the last, partial chunk: copy its values, NaN past C (compares false: bits 0)
        for (int i = 0; i < 8; ++i) tailX[i] = c + i < cin ? src[i] : std::numeric_limits<float>::quiet_NaN();
        src = tailX;
      }
      const __m256 v = _mm256_castsi256_ps(_mm256_xor_si256(
          _mm256_castps_si256(_mm256_loadu_ps(src)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(flip + c))));
      const unsigned neg = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_loadu_ps(lo + c), _CMP_LT_OQ)));
      const unsigned pos = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_loadu_ps(hi + c), _CMP_GE_OQ)));
      sbits[k] = uint8_t(neg);
      mbits[k] = uint8_t(neg | pos);
    }
    int nonzero = 0;
    for (int j = 0; j < wq; ++j) {
      uint64_t sw, mw;
      std::memcpy(&sw, sbits + 8 * j, 8);
      std::memcpy(&mw, mbits + 8 * j, 8);
      sign[j * planeStride + p] = sw;
      mask[j * planeStride + p] = mw;
      nonzero += int(_mm_popcnt_u64(mw));
    }
    count[p] = nonzero;
  }
}

inline __m256i popcountBytes(__m256i t, __m256i lut, __m256i low) {
  const __m256i lo = _mm256_and_si256(t, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

// P pixels × one group (two vectors of 4 output channels).
template <int P>
inline void blockAvx2(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const uint64_t* wg,
                      int kq, int o, const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i acc[P][2];
  for (int p = 0; p < P; ++p) acc[p][0] = acc[p][1] = _mm256_setzero_si256();
  for (int q0 = 0; q0 < kq; q0 += 31) {  // a byte holds at most 31 steps of 8
    const int q1 = std::min(kq, q0 + 31);
    __m256i bytes[P][2];
    for (int p = 0; p < P; ++p) bytes[p][0] = bytes[p][1] = _mm256_setzero_si256();
    for (int q = q0; q < q1; ++q) {
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wg + q * 8));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wg + q * 8 + 4));
      for (int p = 0; p < P; ++p) {
        const __m256i sv = _mm256_set1_epi64x(int64_t(s[int64_t(q) * qStride + p]));
        const __m256i mv = _mm256_set1_epi64x(int64_t(m[int64_t(q) * qStride + p]));
        bytes[p][0] = _mm256_add_epi8(bytes[p][0], popcountBytes(_mm256_and_si256(_mm256_xor_si256(sv, w0), mv), lut, low));
        bytes[p][1] = _mm256_add_epi8(bytes[p][1], popcountBytes(_mm256_and_si256(_mm256_xor_si256(sv, w1), mv), lut, low));
      }
    }
    const __m256i z = _mm256_setzero_si256();
    for (int p = 0; p < P; ++p) {
      acc[p][0] = _mm256_add_epi64(acc[p][0], _mm256_sad_epu8(bytes[p][0], z));
      acc[p][1] = _mm256_add_epi64(acc[p][1], _mm256_sad_epu8(bytes[p][1], z));
    }
  }
  const int lanes = std::min(8, cout - o);
  const __m256i laneIds = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), laneIds);
  const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  for (int p = 0; p < P; ++p) {
    // Counts are far below 2^31: the low dword of each 64-bit lane is the value.
    const __m256i lo = _mm256_permutevar8x32_epi32(acc[p][0], evens);
    const __m256i hi = _mm256_permutevar8x32_epi32(acc[p][1], evens);
    const __m256i counts = _mm256_permute2x128_si256(lo, hi, 0x20);
    const __m256i dot = _mm256_sub_epi32(_mm256_set1_epi32(valid[p]), _mm256_slli_epi32(counts, 1));
    __m256 r = _mm256_mul_ps(_mm256_loadu_ps(alpha + o), _mm256_cvtepi32_ps(dot));
    r = _mm256_max_ps(r, _mm256_setzero_ps());
    float* yp = y + int64_t(p) * yStride + o;
    if (accumulate) r = _mm256_add_ps(_mm256_maskload_ps(yp, live), r);
    _mm256_maskstore_ps(yp, live, r);
  }
}

void rowAvx2(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, int pixels, const uint64_t* w,
             int kq, int groups, const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  for (int g = 0; g < groups; ++g) {
    const uint64_t* wg = w + int64_t(g) * kq * 8;
    int p = 0;
    for (; p + 2 <= pixels; p += 2)
      blockAvx2<2>(s + p, m + p, qStride, valid + p, wg, kq, g * 8, alpha, cout,
                   y + int64_t(p) * yStride, yStride, accumulate);
    for (; p < pixels; ++p)
      blockAvx2<1>(s + p, m + p, qStride, valid + p, wg, kq, g * 8, alpha, cout,
                   y + int64_t(p) * yStride, yStride, accumulate);
  }
}

}  // namespace
#pragma GCC pop_options
// ---------------------------------------------------------------- AVX-512BW (no VPOPCNTDQ) ----------------------------
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,popcnt")
namespace {

// Muła's nibble popcount on 512 bits (vpshufb per 128-bit lane), counts summed in bytes and widened with vpsadbw every
// 31 words; (s ^ w) & m in one vpternlogq. P pixels × G groups of 8 output channels.
template <int P, int G>
inline void blockAvx512Bw(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const uint64_t* w,
                          int kq, int g0, const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
  const __m512i low = _mm512_set1_epi8(0x0f);
  __m512i acc[P][G];
  for (int p = 0; p < P; ++p)
    for (int g = 0; g < G; ++g) acc[p][g] = _mm512_setzero_si512();
  const uint64_t* wg = w + int64_t(g0) * kq * 8;
  for (int q0 = 0; q0 < kq; q0 += 31) {
    const int q1 = std::min(kq, q0 + 31);
    __m512i bytes[P][G];
    for (int p = 0; p < P; ++p)
      for (int g = 0; g < G; ++g) bytes[p][g] = _mm512_setzero_si512();
    for (int q = q0; q < q1; ++q) {
      __m512i wv[G];
      for (int g = 0; g < G; ++g) wv[g] = _mm512_loadu_si512(wg + (int64_t(g) * kq + q) * 8);
      for (int p = 0; p < P; ++p) {
        const __m512i sv = _mm512_set1_epi64(int64_t(s[int64_t(q) * qStride + p]));
        const __m512i mv = _mm512_set1_epi64(int64_t(m[int64_t(q) * qStride + p]));
        for (int g = 0; g < G; ++g) {
          const __m512i t = _mm512_ternarylogic_epi64(sv, wv[g], mv, 0x28);
          const __m512i lo = _mm512_and_si512(t, low), hi = _mm512_and_si512(_mm512_srli_epi16(t, 4), low);
          bytes[p][g] = _mm512_add_epi8(bytes[p][g],
                                        _mm512_add_epi8(_mm512_shuffle_epi8(lut, lo), _mm512_shuffle_epi8(lut, hi)));
        }
      }
    }
    for (int p = 0; p < P; ++p)
      for (int g = 0; g < G; ++g)
        acc[p][g] = _mm512_add_epi64(acc[p][g], _mm512_sad_epu8(bytes[p][g], _mm512_setzero_si512()));
  }
  epilogueAvx512<P, G>(acc, valid, nullptr, g0, alpha, cout, y, yStride, accumulate);
}

template <int P>
inline void groupsAvx512Bw(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const uint64_t* w,
                           int kq, int groups, const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  int g = 0;
  for (; g + 2 <= groups; g += 2) blockAvx512Bw<P, 2>(s, m, qStride, valid, w, kq, g, alpha, cout, y, yStride, accumulate);
  if (g < groups) blockAvx512Bw<P, 1>(s, m, qStride, valid, w, kq, g, alpha, cout, y, yStride, accumulate);
}

void rowAvx512Bw(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, int pixels,
                 const uint64_t* w, int kq, int groups, const float* alpha, int cout, float* y, int yStride,
                 bool accumulate) {
  int p = 0;
  for (; p + 4 <= pixels; p += 4)
    groupsAvx512Bw<4>(s + p, m + p, qStride, valid + p, w, kq, groups, alpha, cout, y + int64_t(p) * yStride, yStride,
                      accumulate);
  for (; p < pixels; ++p)
    groupsAvx512Bw<1>(s + p, m + p, qStride, valid + p, w, kq, groups, alpha, cout, y + int64_t(p) * yStride, yStride,
                      accumulate);
}

}  // namespace
#pragma GCC pop_options
#endif  // __x86_64__

BinaryIsa bestBinaryIsa() {
  if (cpuHasAvx512() && amxAvailable()) return BinaryIsa::Amx;
  if (cpuHasAvx512()) return BinaryIsa::Avx512;
  if (cpuHasAvx512Bw()) return BinaryIsa::Avx512Bw;
  if (cpuHasAvx2()) return BinaryIsa::Avx2;
  return BinaryIsa::Scalar;
}

const char* isaName(BinaryIsa isa) {
  switch (isa) {
    case BinaryIsa::Amx: return "amx-int8";
    case BinaryIsa::Avx512: return "avx512-vpopcntdq";
    case BinaryIsa::Avx512Bw: return "avx512bw-vpshufb";
    case BinaryIsa::Avx2: return "avx2-vpshufb";
    default: return "scalar";
  }
}

void binaryRow(BinaryIsa isa, const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, int pixels,
               const uint64_t* w, const uint64_t* wmask, int kq, int groups, const float* alpha, int cout, float* y,
               int yStride, bool accumulate) {
#if defined(__x86_64__)
  if (!wmask && isa == BinaryIsa::Avx512)
    return rowAvx512<true>(s, m, qStride, valid, nullptr, pixels, w, kq, groups, alpha, cout, y, yStride, accumulate);
  if (!wmask && isa == BinaryIsa::Avx512Bw)
    return rowAvx512Bw(s, m, qStride, valid, pixels, w, kq, groups, alpha, cout, y, yStride, accumulate);
  if (!wmask && isa == BinaryIsa::Avx2)
    return rowAvx2(s, m, qStride, valid, pixels, w, kq, groups, alpha, cout, y, yStride, accumulate);
#endif
  rowScalar(s, m, qStride, valid, pixels, w, wmask, kq, groups, alpha, cout, y, yStride, accumulate);
}

bool binaryRowOnePlane(BinaryIsa isa, const uint64_t* s, int qStride, const int32_t* valid, const Border* border,
                       int pixels, const uint64_t* w, int kq, int groups, const float* alpha, int cout, float* y,
                       int yStride, bool accumulate) {
#if defined(__x86_64__)
  if (isa == BinaryIsa::Avx512) {
    rowAvx512<false>(s, nullptr, qStride, valid, border, pixels, w, kq, groups, alpha, cout, y, yStride, accumulate);
    return true;
  }
#endif
  return false;
}

// ---------------------------------------------------------------- the layer ------------------------------------------

namespace {
std::vector<float> padded(const std::vector<float>& v, size_t n) {
  if (v.empty()) return v;
  std::vector<float> out(n, 0.0f);
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}
uint32_t bitsOf(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}
float floatOf(uint32_t b) {
  float v;
  std::memcpy(&v, &b, 4);
  return v;
}
// Floats in order as integers: −inf … −0, +0 … +inf map to increasing keys (NaNs fall outside that range).
int64_t keyOf(float v) {
  const uint32_t b = bitsOf(v);
  return (b >> 31) ? -int64_t(b & 0x7fffffffu) - 1 : int64_t(b);
}
float floatOfKey(int64_t k) { return k < 0 ? floatOf(uint32_t(-(k + 1)) | 0x80000000u) : floatOf(uint32_t(k)); }

// The smallest float x in [−inf, +inf] with pred(x), for a pred that is false then true along the float order.
template <typename Pred>
float firstTrue(Pred pred) {
  int64_t lo = keyOf(-std::numeric_limits<float>::infinity()), hi = keyOf(std::numeric_limits<float>::infinity());
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (pred(floatOfKey(mid))) hi = mid;
    else lo = mid + 1;
  }
  return floatOfKey(lo);
}
}  // namespace

// BN in float32 is ((x − μ)·inv)·γ + β, each op rounded: every step is monotone in x, so the whole is non-decreasing
// when γ > 0 (or absent) and non-increasing when γ < 0. Then sign(BN(x)) is two compares of x against per-channel
// thresholds found once by bisection over the floats, exactly: neg ⟺ x < lo, pos ⟺ x ≥ hi (x negated when γ < 0).
// Where that cannot hold (γ = 0, a non-finite parameter) the layer keeps the arithmetic.
static bool thresholds(const Bn& bn, int cin, std::vector<float>& lo, std::vector<float>& hi,
                       std::vector<uint32_t>& flip) {
  const size_t cpad = size_t((cin + 15) / 16 * 16);
  lo.assign(cpad, 0.0f);
  hi.assign(cpad, 0.0f);
  flip.assign(cpad, 0u);
  for (int c = 0; c < cin; ++c) {
    const float mean = bn.mean[c], inv = bn.inv[c];
    const bool hasGamma = !bn.gamma.empty(), hasBeta = !bn.beta.empty();
    const float gamma = hasGamma ? bn.gamma[c] : 1.0f, beta = hasBeta ? bn.beta[c] : 0.0f;
    if (!std::isfinite(mean) || !std::isfinite(inv) || !(inv > 0) || !std::isfinite(gamma) || !std::isfinite(beta) ||
        gamma == 0)
      return false;
    const bool negate = gamma < 0;
    auto f = [&](float x) {
      if (negate) x = -x;
      float v = (x - mean) * inv;
      if (hasGamma) v = v * gamma;
      if (hasBeta) v = v + beta;
      return v;
    };
    // At ±inf f is ±inf (or NaN where x − μ overflows: not reached, x is ±inf only at the ends), so both exist.
    lo[c] = firstTrue([&](float x) { return f(x) >= 0; });
    hi[c] = firstTrue([&](float x) { return f(x) > 0; });
    flip[c] = negate ? 0x80000000u : 0u;
    // Check the claim on the neighbours of each threshold (cheap, and a wrong threshold would be silent).
    for (float t : {lo[c], hi[c]}) {
      for (float x : {std::nextafter(t, -INFINITY), t, std::nextafter(t, INFINITY)}) {
        const float v = f(x);
        if ((v < 0) != (x < lo[c]) || (v > 0) != (x >= hi[c])) return false;
      }
    }
  }
  return true;
}

BinConvLayer::BinConvLayer(const Geometry& geometry, const Bn& bn, const float* alpha, const uint32_t* sign,
                           const uint32_t* mask)
    : g(geometry) {
  if (g.cin < 1 || g.cout < 1 || g.k < 1 || g.stride < 1 || g.dilation < 1 || g.pad < 0)
    throw std::invalid_argument("binary conv: invalid geometry");
  // BN vectors padded to a multiple of 16 so the vector loops load whole registers.
  const size_t cpad = size_t((g.cin + 15) / 16 * 16);
  bn_ = {padded(bn.mean, cpad), padded(bn.inv, cpad), padded(bn.gamma, cpad), padded(bn.beta, cpad)};
  if (!thresholds(bn_, g.cin, lo_, hi_, flip_)) lo_.clear(), hi_.clear(), flip_.clear();
  flips_ = std::any_of(flip_.begin(), flip_.end(), [](uint32_t f) { return f != 0; });
  wq_ = wordsOf(g.cin);
  kbits_ = g.k * g.k * g.cin;
  oneByOne_ = g.k == 1 && g.stride == 1 && g.pad == 0;
  // A 1×1 conv reads the packed pixels in place (stream = the pixel's words); others build tap-major streams with one
  // spare word for the shifted appends.
  kq_ = oneByOne_ ? wq_ : wordsOf(kbits_);
  // Row-aligned where it costs no word (see plan.h); stride-1 layers of that kind read image-wide horizontal streams.
  if (g.k > 1 && g.k * wordsOf(g.k * g.cin) <= kq_) {
    wpr_ = wordsOf(g.k * g.cin);
    kq_ = g.k * wpr_;
    imageStreams_ = g.stride == 1;
    top_ = g.pad;
    const int bottom = std::max(0, (g.ho - 1) - g.pad + (g.k - 1) * g.dilation - (g.h - 1));
    const int rows = top_ + g.h + bottom;
    slotRows_ = (rows + g.dilation - 1) / g.dilation;
    slots_ = slotRows_ * g.dilation;
  }
  kqs_ = oneByOne_ ? wq_ : kq_ + 1;
  groups_ = (g.cout + 7) / 8;
  if (!oneByOne_) buildGeometryMasks();
  alpha_.assign(size_t(groups_) * 8 + 8, 0.0f);  // + 8: the epilogue loads 16 at a time
  std::copy(alpha, alpha + g.cout, alpha_.begin());

  const int taps = g.k * g.k;
  const int wordsIn = (g.cin + 31) / 32;
  wsign_.assign(size_t(groups_) * kq_ * 8, 0);
  bool zeros = false;
  std::vector<uint64_t> wmask(size_t(groups_) * kq_ * 8, 0);
  for (int o = 0; o < g.cout; ++o) {
    const int grp = o >> 3, lane = o & 7;
    for (int t = 0; t < taps; ++t) {
      for (int c = 0; c < g.cin; ++c) {
        const size_t word = (size_t(o) * taps + t) * wordsIn + (c >> 5);
        const bool neg = (sign[word] >> (c & 31)) & 1u;
        const bool live = mask ? ((mask[word] >> (c & 31)) & 1u) : true;
        if (!live) zeros = true;
        const int bit = tapBit(t / g.k, t % g.k) + c;
        const size_t at = (size_t(grp) * kq_ + (bit >> 6)) * 8 + lane;
        if (neg && live) wsign_[at] |= uint64_t(1) << (bit & 63);
        if (live) wmask[at] |= uint64_t(1) << (bit & 63);
      }
    }
  }
  if (zeros) wmask_ = std::move(wmask);
  if (!oneByOne_) buildBorderCorrections();
  // The int8 tile kernel where the CPU has it and it gains: stride-1 k×k layers (k > 1) whose BN has thresholds, int8
  // weights up to 64 KB. 1×1 layers gain nothing (the nine 32×32×144 → 36 of latest_cell: 0.193–0.210 against
  // 0.196–0.200 ms; the int8 input is 8× the bits to write, for little K), and the 8×8×144 3×3 layers ran slower
  // (781–805 against 865 G/s: 189 KB of int8 weights each for 64 pixels) and would add 9.6 MB.
  if (g.stride == 1 && g.k > 1 && !lo_.empty() && AmxBinConv::weightBytesFor(g) <= (64 << 10) && cpuHasAvx512() &&
      amxAvailable())
    amx_ = std::make_shared<const AmxBinConv>(g, lo_, hi_, flip_, flips_, alpha_, [&](int o, int t, int c) {
      const size_t word = (size_t(o) * taps + t) * wordsIn + (c >> 5);
      const bool live = mask ? ((mask[word] >> (c & 31)) & 1u) : true;
      return !live ? 0 : ((sign[word] >> (c & 31)) & 1u) ? -1 : 1;
    });
}

void BinConvLayer::buildBorderCorrections() {
  const int wo = g.wo, taps = g.k * g.k;
  corrStride_ = groups_ * 8 + 16;  // the epilogue loads 16 channels at a time
  // −1 bits of output channel o at tap t: its stream bits [t·cin, (t+1)·cin).
  std::vector<int32_t> tapNeg(size_t(taps) * g.cout, 0);
  for (int o = 0; o < g.cout; ++o)
    for (int t = 0; t < taps; ++t)
      for (int c = 0; c < g.cin; ++c) {
        const int bit = tapBit(t / g.k, t % g.k) + c;
        const size_t at = (size_t(o >> 3) * kq_ + (bit >> 6)) * 8 + (o & 7);
        tapNeg[size_t(t) * g.cout + o] += int32_t(wsign_[at] >> (bit & 63) & 1);
      }
  // A pixel's correction depends on which kernel rows (its row pattern) and which kernel columns (its column pattern)
  // fall inside the image: a table per pair of patterns, a few KB, not one per pixel of a row (3 MB over latest_cell).
  std::vector<int> colKeys;
  colPattern_.assign(size_t(wo), 0);
  for (int ox = 0; ox < wo; ++ox) colPattern_[ox] = uint8_t(patternOf(colKeys, tapsInside(ox, g.w)));
  if (colKeys.size() > 255) throw std::invalid_argument("binary conv: too many column border patterns");
  colPatterns_ = int(colKeys.size());
  const int all = (1 << g.k) - 1;
  geoBorder_.assign(patternKeys_.size() * size_t(wo), 0);
  geoCorr_.assign(patternKeys_.size() * colKeys.size() * corrStride_, 0);
  for (size_t pattern = 0; pattern < patternKeys_.size(); ++pattern) {
    const int rowKey = patternKeys_[pattern];
    for (int ox = 0; ox < wo; ++ox)
      geoBorder_[pattern * wo + ox] = rowKey != all || colKeys[colPattern_[ox]] != all;
    for (size_t col = 0; col < colKeys.size(); ++col) {
      int32_t* corr = geoCorr_.data() + (pattern * colKeys.size() + col) * corrStride_;
      for (int ky = 0; ky < g.k; ++ky)
        for (int kx = 0; kx < g.k; ++kx) {
          if ((rowKey >> ky & 1) && (colKeys[col] >> kx & 1)) continue;
          for (int o = 0; o < g.cout; ++o) corr[o] += tapNeg[size_t(ky * g.k + kx) * g.cout + o];
        }
    }
  }
}

Border BinConvLayer::borderOfRow(int oy) const {
  if (oneByOne_) return {};
  const size_t pattern = size_t(rowPattern_[oy]);
  return {geoBorder_.data() + pattern * g.wo, geoCorr_.data() + pattern * colPatterns_ * corrStride_,
          colPattern_.data(), corrStride_};
}

int64_t BinConvLayer::weightBytes() const {
  return (amx_ ? amx_->weightBytes() : 0) + int64_t(sizeof(uint64_t)) * int64_t(wsign_.size() + wmask_.size()) +
         int64_t(sizeof(int32_t)) * int64_t(geoCorr_.size() + geoValid_.size()) +
         int64_t(sizeof(uint64_t)) * int64_t(geoMask_.size()) + int64_t(geoBorder_.size() + colPattern_.size()) +
         int64_t(sizeof(float)) * int64_t(alpha_.size() + bn_.mean.size() + bn_.inv.size() + bn_.gamma.size() +
                                           bn_.beta.size());
}

int64_t threadCpuNs() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
#else  // no per-thread CPU clock (Windows): wall time
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
#endif
}

// Scratch: the packed input planes (sign, mask: [wq][pixels] words; nonzero counts), then per thread one output
// row of streams ([kq + 1][wo] words each for sign and mask, and the row's valid counts).
int64_t BinConvLayer::scratchWords(int n, int threads) const {
  const int64_t pixels = int64_t(n) * g.h * g.w;
  const int64_t popcount = pixels * wq_ * 2 + (pixels + 1) / 2 + 1 + rowWords() * threads;
  return amx_ ? std::max(popcount, amx_->scratchBytes(n, threads) / 8 + 1) : popcount;
}

// Per thread: one output row's streams, or the image's horizontal streams (row-aligned stride-1 layers).
int64_t BinConvLayer::rowWords() const {
  if (oneByOne_) return 0;
  const int64_t row = int64_t(g.wo) * kqs_ * 2 + (g.wo + 1) / 2 + 1;
  return imageStreams_ ? std::max(row, int64_t(slots_) * wpr_ * g.wo) : row;
}

void BinConvLayer::pack(const float* x, int xStride, int64_t pixels, uint64_t* sign, uint64_t* mask,
                        int32_t* count, int threads, Team* team, BinaryIsa isa) const {
  auto packRange = [&](int64_t p0, int64_t p1) {
    const float* xs = x + p0 * xStride;
#if defined(__x86_64__)
    if (isa == BinaryIsa::Avx512 && !lo_.empty()) {
      const float* lo = lo_.data();
      const float* hi = hi_.data();
      const uint32_t* fl = flip_.data();
      // 12 chunks (3 words) a pass with their thresholds in registers, one instance per chunk count.
      const int chunks = (g.cin + 15) / 16;
      for (int k0 = 0; k0 < chunks; k0 += kMaxPassChunks) {
        auto regs = [&](auto size) {
          constexpr int CH = decltype(size)::value;
          const int c0 = 16 * k0;
          const int64_t w0 = int64_t(k0 / 4) * pixels;
          if (flips_)
            return packRegsAvx512<CH, true>(xs + c0, xStride, p1 - p0, g.cin - c0, lo + c0, hi + c0, fl + c0,
                                            sign + w0 + p0, mask + w0 + p0, pixels, count + p0, k0 > 0);
          packRegsAvx512<CH, false>(xs + c0, xStride, p1 - p0, g.cin - c0, lo + c0, hi + c0, fl + c0, sign + w0 + p0,
                                    mask + w0 + p0, pixels, count + p0, k0 > 0);
        };
        withPassChunks(chunks - k0, regs);
      }
      return;
    }
    // AVX-512 without VPOPCNTDQ packs with the AVX2 code (the AVX-512 packers are built for the VPOPCNTDQ target).
    if ((isa == BinaryIsa::Avx2 || isa == BinaryIsa::Avx512Bw) && !lo_.empty() && wq_ <= 64)
      return packThresholdAvx2(xs, xStride, p1 - p0, g.cin, wq_, lo_.data(), hi_.data(), flip_.data(), sign + p0,
                               mask + p0, pixels, count + p0);
#endif
    // No thresholds (a channel with γ = 0 or a non-finite parameter) or C > 4096: the arithmetic, one value at a time.
    packScalar(xs, xStride, p1 - p0, g.cin, wq_, bn_, sign + p0, mask + p0, pixels, count + p0);
  };
  // Small inputs are packed by one thread: a parallel region costs more than the work.
  if (threads <= 1 || !team || pixels * g.cin < (1 << 15)) return packRange(0, pixels);
  team->parallel(threads, [&](int t) { packRange(pixels * t / threads, pixels * (t + 1) / threads); });
}

namespace {
// One tap's words for a run of output pixels, OR-ed into the streams at bit offset r of word rows lo and hi (= lo+1).
// Plain loops over contiguous words: the compiler vectorizes them (cloned per ISA).
BNAS_CLONES
void appendTap(const uint64_t* __restrict src, int count, uint64_t* __restrict lo, uint64_t* __restrict hi, int r) {
  if (r == 0) {
    for (int i = 0; i < count; ++i) lo[i] |= src[i];
    return;
  }
  for (int i = 0; i < count; ++i) {
    lo[i] |= src[i] << r;
    hi[i] |= src[i] >> (64 - r);
  }
}

void appendTapStrided(const uint64_t* src, int step, int count, uint64_t* lo, uint64_t* hi, int r) {
  for (int i = 0; i < count; ++i) {
    const uint64_t v = src[int64_t(i) * step];
    lo[i] |= v << r;
    if (r) hi[i] |= v >> (64 - r);
  }
}
}  // namespace

int BinConvLayer::tapsInside(int o, int extent) const {
  int key = 0;
  for (int t = 0; t < g.k; ++t) {
    const int i = o * g.stride - g.pad + t * g.dilation;
    if (i >= 0 && i < extent) key |= 1 << t;
  }
  return key;
}

int BinConvLayer::patternOf(std::vector<int>& keys, int key) {
  const auto found = std::find(keys.begin(), keys.end(), key);
  if (found != keys.end()) return int(found - keys.begin());
  keys.push_back(key);
  return int(keys.size()) - 1;
}

std::pair<int, int> BinConvLayer::columnsInside(int kx) const {
  const int ix0 = kx * g.dilation - g.pad;  // input column of output column 0
  const int lo = ix0 >= 0 ? 0 : (-ix0 + g.stride - 1) / g.stride;
  const int hi = g.w - 1 - ix0 < 0 ? 0 : std::min(g.wo, (g.w - 1 - ix0) / g.stride + 1);
  return {lo, hi};
}

void BinConvLayer::buildGeometryMasks() {
  const int wo = g.wo;
  std::vector<int>& keys = patternKeys_;
  keys.clear();
  rowPattern_.assign(g.ho, 0);
  for (int oy = 0; oy < g.ho; ++oy) {
    const size_t known = keys.size();
    const int key = tapsInside(oy, g.h);
    rowPattern_[oy] = patternOf(keys, key);
    if (keys.size() == known) continue;  // a set of kernel rows seen before
    geoMask_.resize(keys.size() * size_t(kqs_) * wo, 0);
    geoValid_.resize(keys.size() * size_t(wo), 0);
    uint64_t* m = geoMask_.data() + (keys.size() - 1) * size_t(kqs_) * wo;
    int32_t* valid = geoValid_.data() + (keys.size() - 1) * size_t(wo);
    for (int ky = 0; ky < g.k; ++ky) {
      if (!(key >> ky & 1)) continue;
      for (int kx = 0; kx < g.k; ++kx) {
        const int first = tapBit(ky, kx);
        for (int ox = 0; ox < wo; ++ox) {
          const int ix = ox * g.stride - g.pad + kx * g.dilation;
          if (ix < 0 || ix >= g.w) continue;
          valid[ox] += g.cin;
          for (int c = 0; c < g.cin; ++c) {
            const int bit = first + c;
            m[int64_t(bit >> 6) * wo + ox] |= uint64_t(1) << (bit & 63);
          }
        }
      }
    }
  }
}

void BinConvLayer::horizontalRows(const uint64_t* sign, int64_t planeStride, int n, int iy0, int iy1,
                                  uint64_t* buf) const {
  const int wo = g.wo;
  for (int iy = iy0; iy < iy1; ++iy) {
    uint64_t* row = buf + slotOf(iy) * wpr_ * wo;
    std::memset(row, 0, sizeof(uint64_t) * size_t(wpr_) * wo);
    if (iy < 0 || iy >= g.h) continue;  // a kernel row outside the image: zero bits (the border correction's taps)
    const int64_t rowBase = (int64_t(n) * g.h + iy) * g.w;
    for (int kx = 0; kx < g.k; ++kx) {
      const int ix0 = kx * g.dilation - g.pad;
      const auto [lo, hi] = columnsInside(kx);
      if (lo >= hi) continue;
      for (int j = 0; j < wq_; ++j) {
        const int bit = kx * g.cin + 64 * j, q = bit >> 6, r = bit & 63;
        const int bits = std::min(64, g.cin - 64 * j);
        uint64_t* dst = row + int64_t(q) * wo + lo;
        // The tap's bits end inside the kernel row's words: a spill goes to word q + 1 of this row, never past it.
        uint64_t* spill = r + bits > 64 ? dst + wo : nullptr;
#if defined(__x86_64__)
        appendTapAvx512(sign + j * planeStride + rowBase + lo + ix0, hi - lo, dst, spill, r);
#endif
      }
    }
  }
}

void BinConvLayer::rowStreams(const uint64_t* sign, const uint64_t* mask, const int32_t* count, int64_t planeStride,
                              int n, int oy, uint64_t* s, uint64_t* m, int32_t* valid, bool signOnly,
                              BinaryIsa isa) const {
  const int wo = g.wo;
  std::memset(s, 0, sizeof(uint64_t) * size_t(wo) * kqs_);
  if (!signOnly) {
    std::memset(m, 0, sizeof(uint64_t) * size_t(wo) * kqs_);
    std::fill(valid, valid + wo, 0);
  }
  for (int ky = 0; ky < g.k; ++ky) {
    const int iy = oy * g.stride - g.pad + ky * g.dilation;
    // Taps outside the image are the value 0: zero bits in both planes, and nothing added to `valid`.
    if (iy < 0 || iy >= g.h) continue;
    const int64_t rowBase = (int64_t(n) * g.h + iy) * g.w;
    for (int kx = 0; kx < g.k; ++kx) {
      const int ix0 = kx * g.dilation - g.pad;  // input column of output column 0
      const auto [lo, hi] = columnsInside(kx);
      if (lo >= hi) continue;
      const int64_t p0 = rowBase + int64_t(lo) * g.stride + ix0;
      if (!signOnly)
        for (int ox = lo; ox < hi; ++ox) valid[ox] += count[p0 + int64_t(ox - lo) * g.stride];
      const int first = tapBit(ky, kx);
      for (int j = 0; j < wq_; ++j) {
        const int bit = first + 64 * j, q = bit >> 6, r = bit & 63;
        const uint64_t* fs = sign + j * planeStride + p0;
        const uint64_t* fm = mask + j * planeStride + p0;
        uint64_t* sLo = s + int64_t(q) * wo + lo;
        uint64_t* mLo = m + int64_t(q) * wo + lo;
        if (g.stride == 1 && isa == BinaryIsa::Avx512) {
#if defined(__x86_64__)
          appendTapAvx512(fs, hi - lo, sLo, sLo + wo, r);
          if (!signOnly) appendTapAvx512(fm, hi - lo, mLo, mLo + wo, r);
#endif
        } else if (g.stride == 1) {
          appendTap(fs, hi - lo, sLo, sLo + wo, r);
          if (!signOnly) appendTap(fm, hi - lo, mLo, mLo + wo, r);
        } else {
          appendTapStrided(fs, g.stride, hi - lo, sLo, sLo + wo, r);
          if (!signOnly) appendTapStrided(fm, g.stride, hi - lo, mLo, mLo + wo, r);
        }
      }
    }
  }
}

void BinConvLayer::run(const float* x, int xStride, float* y, int yStride, bool accumulate, int n, uint64_t* scratch,
                       int threads, Team* team, BinaryIsa isa, RunStats* stats) const {
  if (isa == BinaryIsa::Amx) {
    if (amx_)
      return amx_->run(x, xStride, y, yStride, accumulate, n, reinterpret_cast<int8_t*>(scratch), threads, team,
                       stats);
    isa = BinaryIsa::Avx512;  // a layer the tile kernel does not take
  }
  const int64_t pixels = int64_t(n) * g.h * g.w;
  uint64_t* sign = scratch;
  uint64_t* mask = sign + pixels * wq_;
  int32_t* count = reinterpret_cast<int32_t*>(mask + pixels * wq_);
  uint64_t* rows = mask + pixels * wq_ + (pixels + 1) / 2 + 1;
  int64_t t0 = stats ? threadCpuNs() : 0;
  pack(x, xStride, pixels, sign, mask, count, threads, team, isa);
  if (stats) {
    const int64_t t1 = threadCpuNs();
    stats->packNs += t1 - t0;
    t0 = t1;
  }
  const uint64_t* wmask = wmask_.empty() ? nullptr : wmask_.data();
  const int totalRows = n * g.ho;
  // No exact zero in the input (the usual case: BN output is rarely exactly 0): only sign streams are built, and each
  // row's masks and valid counts come from its geometry pattern; with weights without zeros too, the dot needs no
  // mask plane at all (the one-plane kernel, where the ISA has it).
  bool noZeros = true;
  for (int64_t p = 0; p < pixels && noZeros; ++p) noZeros = count[p] == g.cin;
  const bool signOnly = !oneByOne_ && noZeros;
  const bool onePlane = noZeros && !wmask && isa == BinaryIsa::Avx512;
  // A 1×1 conv reads the packed planes in place; others build each output row's tap-major streams first.
  auto dotRow = [&](int row, const uint64_t* s, const uint64_t* m, int64_t qStride, const int32_t* valid) {
    float* yr = y + int64_t(row) * g.wo * yStride;
    if (onePlane) {
      const Border border = borderOfRow(row % g.ho);
      if (binaryRowOnePlane(isa, s, int(qStride), valid, border.at ? &border : nullptr, g.wo, wsign_.data(), kq_,
                            groups_, alpha_.data(), g.cout, yr, yStride, accumulate))
        return;
    }
    binaryRow(isa, s, m, int(qStride), valid, g.wo, wsign_.data(), wmask, kq_, groups_, alpha_.data(), g.cout, yr,
              yStride, accumulate);
  };
  // Streams of one output row into s (and m, valid unless signOnly); returns the m and valid the dot must read.
  auto streams = [&](int row, uint64_t* s, uint64_t* m, int32_t* valid) -> std::pair<const uint64_t*, const int32_t*> {
    const int oy = row % g.ho;
    rowStreams(sign, mask, count, pixels, row / g.ho, oy, s, m, valid, signOnly, isa);
    if (!signOnly) return {m, valid};
    const size_t pattern = size_t(rowPattern_[oy]);
    return {geoMask_.data() + pattern * kqs_ * g.wo, geoValid_.data() + pattern * g.wo};
  };
  // Row-aligned stride-1 layers on the one-plane dot: each input row's horizontal streams are built once, in buf, and
  // output row oy reads kernel row ky's words from input row oy − pad + ky·dilation.
  const bool image = imageStreams_ && onePlane;
  auto imageDot = [&](int row, const uint64_t* buf) {
    const int oy = row % g.ho;
    const Border border = borderOfRow(oy);
    const int32_t* valid = geoValid_.data() + size_t(rowPattern_[oy]) * g.wo;
    binaryRowOnePlane(isa, buf + slotOf(oy - g.pad) * wpr_ * g.wo, g.wo, valid, border.at ? &border : nullptr, g.wo,
                      wsign_.data(), kq_, groups_, alpha_.data(), g.cout, y + int64_t(row) * g.wo * yStride, yStride,
                      accumulate);
  };
  // The input rows that output rows [oy0, oy1) of image img read.
  auto imageStreams = [&](int img, int oy0, int oy1, uint64_t* buf) {
    horizontalRows(sign, pixels, img, oy0 - g.pad, oy1 - g.pad + (g.k - 1) * g.dilation, buf);
  };
  auto imageRows = [&](int r0, int r1, uint64_t* buf) {
    for (int row = r0; row < r1;) {
      const int img = row / g.ho, end = std::min(r1, (img + 1) * g.ho);
      imageStreams(img, row - img * g.ho, end - img * g.ho, buf);
      for (; row < end; ++row) imageDot(row, buf);
    }
  };
  auto doRows = [&](int r0, int r1, int thread) {
    if (image) return imageRows(r0, r1, rows + rowWords() * thread);
    uint64_t* s = rows + rowWords() * thread;
    uint64_t* m = s + int64_t(g.wo) * kqs_;
    int32_t* valid = reinterpret_cast<int32_t*>(m + int64_t(g.wo) * kqs_);
    for (int row = r0; row < r1; ++row) {
      if (oneByOne_) {
        const int64_t p0 = int64_t(row) * g.w;  // 1×1, stride 1: output row = input row
        dotRow(row, sign + p0, mask + p0, pixels, count + p0);
        continue;
      }
      const auto [mr, vr] = streams(row, s, m, valid);
      dotRow(row, s, mr, g.wo, vr);
    }
  };
  if (stats && image) {
    for (int img = 0; img < n; ++img) {
      const int64_t t1 = threadCpuNs();
      imageStreams(img, 0, g.ho, rows);
      const int64_t t2 = threadCpuNs();
      for (int oy = 0; oy < g.ho; ++oy) imageDot(img * g.ho + oy, rows);
      stats->streamsNs += t2 - t1;
      stats->dotNs += threadCpuNs() - t2;
    }
    return;
  }
  if (stats) {
    // Profiling (one thread): every row's streams first, then every row's dot, so each phase is timed once (a clock
    // read per row would cost more than a row).
    const int64_t perRow = rowWords();
    thread_local std::vector<uint64_t> all;  // kept between calls: allocating it would be timed as streams
    thread_local std::vector<std::pair<const uint64_t*, const int32_t*>> masks;
    if (all.size() < size_t(perRow) * totalRows + 1) all.resize(size_t(perRow) * totalRows + 1);
    if (masks.size() < size_t(totalRows)) masks.resize(totalRows);
    const int64_t t1 = threadCpuNs();
    for (int row = 0; row < totalRows && !oneByOne_; ++row) {
      uint64_t* s = all.data() + perRow * row;
      masks[row] = streams(row, s, s + int64_t(g.wo) * kqs_, reinterpret_cast<int32_t*>(s + int64_t(g.wo) * kqs_ * 2));
    }
    const int64_t t2 = threadCpuNs();
    for (int row = 0; row < totalRows; ++row) {
      if (oneByOne_) {
        const int64_t p0 = int64_t(row) * g.w;
        dotRow(row, sign + p0, mask + p0, pixels, count + p0);
        continue;
      }
      dotRow(row, all.data() + perRow * row, masks[row].first, g.wo, masks[row].second);
    }
    stats->streamsNs += t2 - t1;
    stats->dotNs += threadCpuNs() - t2;
    return;
  }
  if (threads <= 1 || !team || totalRows < 2) return doRows(0, totalRows, 0);
  // Rows split in contiguous ranges, one per thread: each thread's streams and outputs stay in its own cache.
  team->parallel(threads, [&](int t) {
    doRows(int(int64_t(totalRows) * t / threads), int(int64_t(totalRows) * (t + 1) / threads), t);
  });
}

double BinConvLayer::probeMacsPerSecond(BinaryIsa isa, int reps) const {
  if (isa == BinaryIsa::Amx) {
    if (amx_) return amx_->probeMacsPerSecond(reps);
    isa = BinaryIsa::Avx512;
  }
  // One output row of random streams, built once: the popcount loop and its epilogue alone, on this shape.
  std::mt19937_64 rng(7);
  const int pixels = std::max(g.wo, 4);
  std::vector<uint64_t> s(size_t(pixels) * kqs_), m(size_t(pixels) * kqs_, ~uint64_t(0));  // [q][pixels]
  for (auto& v : s) v = rng();
  std::vector<int32_t> valid(pixels, kbits_);
  std::vector<float> y(size_t(pixels) * groups_ * 8);
  const uint64_t* wmask = wmask_.empty() ? nullptr : wmask_.data();
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    // The kernel a run takes on an input without zeros: the one-plane dot where the ISA has it.
    for (int i = 0; i < reps; ++i)
      if (wmask || !binaryRowOnePlane(isa, s.data(), pixels, valid.data(), nullptr, pixels, wsign_.data(), kq_,
                                      groups_, alpha_.data(), g.cout, y.data(), groups_ * 8, false))
        binaryRow(isa, s.data(), m.data(), pixels, valid.data(), pixels, wsign_.data(), wmask, kq_, groups_,
                  alpha_.data(), g.cout, y.data(), groups_ * 8, false);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(pixels) * g.cout * kbits_ * reps / sec);
  }
  return best;
}

}  // namespace bnas::packed
