// The binary conv of the packed session: BN → sign → pack (one pass), tap-major bit streams per output row, and the
// XNOR/popcount dot with register blocking. Exact: every output is ReLU(α·dot) with dot the integer
//   dot = Σ popcount(ma & mw) − 2·Σ popcount((sa ^ sw) & ma & mw)
// over the in-image taps (bits.ts convention: sign bit 1 = −1, mask bit 1 = nonzero), which without weight zeros is
// valid − 2·Σ popcount((sa ^ sw) & ma), valid = the number of nonzero activations the output sees. One vpternlogq
// computes (sa ^ sw) & ma, so the activation mask (zero padding, sign(0) = 0) costs nothing in the AVX-512 loop.
//
// Three kernels, chosen at run time from the CPU (never at build time, so the addon runs on any x86-64):
//   avx512: VPOPCNTQ on 8 output channels a vector, 4 pixels × 4 groups (32 channels) of accumulators in registers;
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
#include <utility>
#include <ctime>

#include "../clones.h"
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

// acc[p][g]: the popcount sums of P pixels × G groups of 8 output channels (64-bit lanes), written out to y.
template <int P, int G>
inline void epilogueAvx512(const __m512i (&acc)[P][G], const int32_t* valid, int g0, const float* alpha, int cout,
                           float* y, int yStride, bool accumulate) {
  // Two groups (16 channels) a vector where it can: the 64-bit counts narrowed to 32 bits (they are far
  // below 2^31), then dot = valid − 2·count, ×α, ReLU, (+ y), one masked store of 16 floats.
  const __m512 zero = _mm512_setzero_ps();
  for (int p = 0; p < P; ++p) {
    const __m512i v0 = _mm512_set1_epi32(valid[p]);
    float* yp = y + int64_t(p) * yStride;
    for (int g = 0; g < G; g += 2) {
      const int o = (g0 + g) * 8;
      const int lanes = std::min(g + 1 < G ? 16 : 8, cout - o);
      const __mmask16 live = lanes >= 16 ? __mmask16(0xffff) : __mmask16((1u << lanes) - 1);
      const __m256i lo = _mm512_cvtepi64_epi32(acc[p][g]);
      const __m256i hi = g + 1 < G ? _mm512_cvtepi64_epi32(acc[p][g + 1]) : _mm256_setzero_si256();
      const __m512i counts = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      const __m512i dot = _mm512_sub_epi32(v0, _mm512_slli_epi32(counts, 1));
      __m512 r = _mm512_mul_ps(_mm512_loadu_ps(alpha + o), _mm512_cvtepi32_ps(dot));
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

// The same planes from the per-channel thresholds: one xor and two compares per 16 channels.
void packThresholdAvx512(const float* x, int xStride, int64_t pixels, int cin, int wq, const float* lo,
                         const float* hi, const uint32_t* flip, uint64_t* sign, uint64_t* mask, int64_t planeStride,
                         int32_t* count) {
  // Each chunk's two 16-bit compare masks land in order in a small buffer; on a little-endian machine four of them
  // are the pixel's 64-bit word, so no shifting or merging per chunk.
  constexpr int kMaxWords = 64;  // C ≤ 4096 (larger: the arithmetic path)
  uint16_t sbits[4 * kMaxWords], mbits[4 * kMaxWords];
  const int full = cin / 16, chunks = (cin + 15) / 16;
  const __mmask16 tail = __mmask16((1u << (cin & 15)) - 1);
  for (int k = chunks; k < 4 * wq; ++k) sbits[k] = mbits[k] = 0;
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    for (int k = 0; k < full; ++k) {
      const int c = 16 * k;
      const __m512 v = _mm512_castsi512_ps(
          _mm512_xor_si512(_mm512_castps_si512(_mm512_loadu_ps(xp + c)), _mm512_loadu_si512(flip + c)));
      const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_loadu_ps(lo + c), _CMP_LT_OQ);
      const __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_loadu_ps(hi + c), _CMP_GE_OQ);
      sbits[k] = neg;
      mbits[k] = neg | pos;
    }
    if (full < chunks) {
      const int c = 16 * full;
      const __m512 v = _mm512_castsi512_ps(
          _mm512_xor_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(tail, xp + c)), _mm512_loadu_si512(flip + c)));
      const __mmask16 neg = _mm512_mask_cmp_ps_mask(tail, v, _mm512_loadu_ps(lo + c), _CMP_LT_OQ);
      const __mmask16 pos = _mm512_mask_cmp_ps_mask(tail, v, _mm512_loadu_ps(hi + c), _CMP_GE_OQ);
      sbits[full] = neg;
      mbits[full] = neg | pos;
    }
    int nonzero = 0;
    for (int j = 0; j < wq; ++j) {
      uint64_t sw, mw;
      std::memcpy(&sw, sbits + 4 * j, 8);
      std::memcpy(&mw, mbits + 4 * j, 8);
      sign[j * planeStride + p] = sw;
      mask[j * planeStride + p] = mw;
      nonzero += int(_mm_popcnt_u64(mw));
    }
    count[p] = nonzero;
  }
}

// C ≤ 64 (one word a pixel), the common case of a cell's ops: CH chunks of 16 unrolled, thresholds kept in registers.
template <int CH>
void packSmallAvx512(const float* x, int xStride, int64_t pixels, int cin, const float* lo, const float* hi,
                     const uint32_t* flip, uint64_t* sign, uint64_t* mask, int32_t* count) {
  __m512 vlo[CH], vhi[CH];
  __m512i vflip[CH];
  __mmask16 live[CH];
  for (int k = 0; k < CH; ++k) {
    const int c = 16 * k;
    live[k] = cin - c >= 16 ? __mmask16(0xffff) : __mmask16((1u << (cin - c)) - 1);
    vlo[k] = _mm512_loadu_ps(lo + c);
    vhi[k] = _mm512_loadu_ps(hi + c);
    vflip[k] = _mm512_loadu_si512(flip + c);
  }
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    uint64_t sw = 0, mw = 0;
    for (int k = 0; k < CH; ++k) {
      const __m512 v = _mm512_castsi512_ps(
          _mm512_xor_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(live[k], xp + 16 * k)), vflip[k]));
      const __mmask16 neg = _mm512_mask_cmp_ps_mask(live[k], v, vlo[k], _CMP_LT_OQ);
      const __mmask16 pos = _mm512_mask_cmp_ps_mask(live[k], v, vhi[k], _CMP_GE_OQ);
      sw |= uint64_t(neg) << (16 * k);
      mw |= uint64_t(neg | pos) << (16 * k);
    }
    sign[p] = sw;
    mask[p] = mw;
    count[p] = int32_t(_mm_popcnt_u64(mw));
  }
}

// P pixels × G groups of 8 output channels: P·G accumulators stay in registers over the whole stream.
template <int P, int G>
inline void blockAvx512(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const uint64_t* w,
                        int kq, int g0, const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  __m512i acc[P][G];
  for (int p = 0; p < P; ++p)
    for (int g = 0; g < G; ++g) acc[p][g] = _mm512_setzero_si512();
  const uint64_t* wg = w + int64_t(g0) * kq * 8;
  for (int q = 0; q < kq; ++q) {
    __m512i wv[G];
    for (int g = 0; g < G; ++g) wv[g] = _mm512_loadu_si512(wg + (int64_t(g) * kq + q) * 8);
    for (int p = 0; p < P; ++p) {
      const __m512i sv = _mm512_set1_epi64(int64_t(s[int64_t(q) * qStride + p]));
      const __m512i mv = _mm512_set1_epi64(int64_t(m[int64_t(q) * qStride + p]));
      // 0x28 = (A ^ B) & C: the disagreeing nonzero positions.
      for (int g = 0; g < G; ++g)
        acc[p][g] = _mm512_add_epi64(acc[p][g], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(sv, wv[g], mv, 0x28)));
    }
  }
  epilogueAvx512<P, G>(acc, valid, g0, alpha, cout, y, yStride, accumulate);
}

template <int P>
inline void groupsAvx512(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, const uint64_t* w,
                         int kq, int groups, const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  const int blocks = (groups + 4) / 5;
  for (int b = 0, g = 0; b < blocks; ++b) {
    const int size = (groups - g) / (blocks - b) + ((groups - g) % (blocks - b) ? 1 : 0);
    switch (size) {
      case 5: blockAvx512<P, 5>(s, m, qStride, valid, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      case 4: blockAvx512<P, 4>(s, m, qStride, valid, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      case 3: blockAvx512<P, 3>(s, m, qStride, valid, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      case 2: blockAvx512<P, 2>(s, m, qStride, valid, w, kq, g, alpha, cout, y, yStride, accumulate); break;
      default: blockAvx512<P, 1>(s, m, qStride, valid, w, kq, g, alpha, cout, y, yStride, accumulate); break;
    }
    g += size;
  }
}

void rowAvx512(const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, int pixels, const uint64_t* w,
               int kq, int groups, const float* alpha, int cout, float* y, int yStride, bool accumulate) {
  int p = 0;
  for (; p + 4 <= pixels; p += 4)
    groupsAvx512<4>(s + p, m + p, qStride, valid + p, w, kq, groups, alpha, cout,
                    y + int64_t(p) * yStride, yStride, accumulate);
  for (; p < pixels; ++p)
    groupsAvx512<1>(s + p, m + p, qStride, valid + p, w, kq, groups, alpha, cout,
                    y + int64_t(p) * yStride, yStride, accumulate);
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
  epilogueAvx512<P, G>(acc, valid, g0, alpha, cout, y, yStride, accumulate);
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
  if (cpuHasAvx512()) return BinaryIsa::Avx512;
  if (cpuHasAvx512Bw()) return BinaryIsa::Avx512Bw;
  if (cpuHasAvx2()) return BinaryIsa::Avx2;
  return BinaryIsa::Scalar;
}

const char* isaName(BinaryIsa isa) {
  switch (isa) {
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
    return rowAvx512(s, m, qStride, valid, pixels, w, kq, groups, alpha, cout, y, yStride, accumulate);
  if (!wmask && isa == BinaryIsa::Avx512Bw)
    return rowAvx512Bw(s, m, qStride, valid, pixels, w, kq, groups, alpha, cout, y, yStride, accumulate);
  if (!wmask && isa == BinaryIsa::Avx2)
    return rowAvx2(s, m, qStride, valid, pixels, w, kq, groups, alpha, cout, y, yStride, accumulate);
#endif
  rowScalar(s, m, qStride, valid, pixels, w, wmask, kq, groups, alpha, cout, y, yStride, accumulate);
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
  wq_ = wordsOf(g.cin);
  kbits_ = g.k * g.k * g.cin;
  oneByOne_ = g.k == 1 && g.stride == 1 && g.pad == 0;
  // A 1×1 conv reads the packed pixels in place (stream = the pixel's words); others build tap-major streams with one
  // spare word for the shifted appends.
  kq_ = oneByOne_ ? wq_ : wordsOf(kbits_);
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
        const int bit = t * g.cin + c;
        const size_t at = (size_t(grp) * kq_ + (bit >> 6)) * 8 + lane;
        if (neg && live) wsign_[at] |= uint64_t(1) << (bit & 63);
        if (live) wmask[at] |= uint64_t(1) << (bit & 63);
      }
    }
  }
  if (zeros) wmask_ = std::move(wmask);
}

int64_t BinConvLayer::weightBytes() const {
  return int64_t(sizeof(uint64_t)) * int64_t(wsign_.size() + wmask_.size()) +
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
  return pixels * wq_ * 2 + (pixels + 1) / 2 + 1 + rowWords() * threads;
}

int64_t BinConvLayer::rowWords() const { return oneByOne_ ? 0 : int64_t(g.wo) * kqs_ * 2 + (g.wo + 1) / 2 + 1; }

void BinConvLayer::pack(const float* x, int xStride, int64_t pixels, uint64_t* sign, uint64_t* mask,
                        int32_t* count, int threads, Team* team, BinaryIsa isa) const {
  auto packRange = [&](int64_t p0, int64_t p1) {
    const float* xs = x + p0 * xStride;
#if defined(__x86_64__)
    if (isa == BinaryIsa::Avx512 && !lo_.empty() && wq_ == 1) {
      const float* lo = lo_.data();
      const float* hi = hi_.data();
      const uint32_t* fl = flip_.data();
      switch ((g.cin + 15) / 16) {
        case 1: return packSmallAvx512<1>(xs, xStride, p1 - p0, g.cin, lo, hi, fl, sign + p0, mask + p0, count + p0);
        case 2: return packSmallAvx512<2>(xs, xStride, p1 - p0, g.cin, lo, hi, fl, sign + p0, mask + p0, count + p0);
        case 3: return packSmallAvx512<3>(xs, xStride, p1 - p0, g.cin, lo, hi, fl, sign + p0, mask + p0, count + p0);
        default: return packSmallAvx512<4>(xs, xStride, p1 - p0, g.cin, lo, hi, fl, sign + p0, mask + p0, count + p0);
      }
    }
    if (isa == BinaryIsa::Avx512 && !lo_.empty() && wq_ <= 64)
      return packThresholdAvx512(xs, xStride, p1 - p0, g.cin, wq_, lo_.data(), hi_.data(), flip_.data(), sign + p0,
                                 mask + p0, pixels, count + p0);
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

void BinConvLayer::buildGeometryMasks() {
  const int wo = g.wo;
  std::vector<int> keys;
  rowPattern_.assign(g.ho, 0);
  for (int oy = 0; oy < g.ho; ++oy) {
    int key = 0;
    for (int ky = 0; ky < g.k; ++ky) {
      const int iy = oy * g.stride - g.pad + ky * g.dilation;
      if (iy >= 0 && iy < g.h) key |= 1 << ky;
    }
    auto found = std::find(keys.begin(), keys.end(), key);
    rowPattern_[oy] = int(found - keys.begin());
    if (found != keys.end()) continue;
    keys.push_back(key);
    geoMask_.resize(keys.size() * size_t(kqs_) * wo, 0);
    geoValid_.resize(keys.size() * size_t(wo), 0);
    uint64_t* m = geoMask_.data() + (keys.size() - 1) * size_t(kqs_) * wo;
    int32_t* valid = geoValid_.data() + (keys.size() - 1) * size_t(wo);
    for (int ky = 0; ky < g.k; ++ky) {
      if (!(key >> ky & 1)) continue;
      for (int kx = 0; kx < g.k; ++kx) {
        const int tapBit = (ky * g.k + kx) * g.cin;
        for (int ox = 0; ox < wo; ++ox) {
          const int ix = ox * g.stride - g.pad + kx * g.dilation;
          if (ix < 0 || ix >= g.w) continue;
          valid[ox] += g.cin;
          for (int c = 0; c < g.cin; ++c) {
            const int bit = tapBit + c;
            m[int64_t(bit >> 6) * wo + ox] |= uint64_t(1) << (bit & 63);
          }
        }
      }
    }
  }
}

void BinConvLayer::rowStreams(const uint64_t* sign, const uint64_t* mask, const int32_t* count, int64_t planeStride,
                              int n, int oy, uint64_t* s, uint64_t* m, int32_t* valid, bool signOnly) const {
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
      const int lo = ix0 >= 0 ? 0 : (-ix0 + g.stride - 1) / g.stride;
      const int hi = g.w - 1 - ix0 < 0 ? 0 : std::min(wo, (g.w - 1 - ix0) / g.stride + 1);
      if (lo >= hi) continue;
      const int64_t p0 = rowBase + int64_t(lo) * g.stride + ix0;
      if (!signOnly)
        for (int ox = lo; ox < hi; ++ox) valid[ox] += count[p0 + int64_t(ox - lo) * g.stride];
      const int tapBit = (ky * g.k + kx) * g.cin;
      for (int j = 0; j < wq_; ++j) {
        const int bit = tapBit + 64 * j, q = bit >> 6, r = bit & 63;
        const uint64_t* fs = sign + j * planeStride + p0;
        const uint64_t* fm = mask + j * planeStride + p0;
        uint64_t* sLo = s + int64_t(q) * wo + lo;
        uint64_t* mLo = m + int64_t(q) * wo + lo;
        if (g.stride == 1) {
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
  // row's masks and valid counts come from its geometry pattern.
  bool signOnly = !oneByOne_;
  for (int64_t p = 0; p < pixels && signOnly; ++p) signOnly = count[p] == g.cin;
  // A 1×1 conv reads the packed planes in place; others build each output row's tap-major streams first.
  auto dotRow = [&](int row, const uint64_t* s, const uint64_t* m, int64_t qStride, const int32_t* valid) {
    float* yr = y + int64_t(row) * g.wo * yStride;
    binaryRow(isa, s, m, int(qStride), valid, g.wo, wsign_.data(), wmask, kq_, groups_, alpha_.data(), g.cout, yr,
              yStride, accumulate);
  };
  // Streams of one output row into s (and m, valid unless signOnly); returns the m and valid the dot must read.
  auto streams = [&](int row, uint64_t* s, uint64_t* m, int32_t* valid) -> std::pair<const uint64_t*, const int32_t*> {
    const int oy = row % g.ho;
    rowStreams(sign, mask, count, pixels, row / g.ho, oy, s, m, valid, signOnly);
    if (!signOnly) return {m, valid};
    const size_t pattern = size_t(rowPattern_[oy]);
    return {geoMask_.data() + pattern * kqs_ * g.wo, geoValid_.data() + pattern * g.wo};
  };
  auto doRows = [&](int r0, int r1, int thread) {
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
    for (int i = 0; i < reps; ++i)
      binaryRow(isa, s.data(), m.data(), pixels, valid.data(), pixels, wsign_.data(), wmask, kq_, groups_,
                alpha_.data(), g.cout, y.data(), groups_ * 8, false);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(pixels) * g.cout * kbits_ * reps / sec);
  }
  return best;
}

}  // namespace bnas::packed
