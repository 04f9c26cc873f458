// Binary convolution on bit-packed signs: y = Σ sign(x)·sign(w) · α[o], exactly the float result of
// conv(sign(x), sign(w)·α) with sign(0) = 0 and zero padding.
//
// Packing convention (also used by packSigns for export): along channels, 32 values per uint32 word, channel c in
// bit c % 32 of word c / 32, ceil(C / 32) words per pixel. Two bit-planes:
//   signs:   bit = 1 means the value is negative (−1), 0 means positive or zero;
//   nonzero: bit = 1 means the value is not zero; 0 means it is 0 (sign(0) = 0) or a padding bit.
// Channel bits past C are 0 in both planes. Spatial padding is zero, i.e. nonzero = 0: those taps are skipped.
// A product of two ternary values is nonzero where both nonzero bits are set and negative where the sign bits
// differ, so per word: Σ = popcount(m) − 2·popcount((sx ^ sw) & m) with m = nx & nw. Integer sums are exact; the
// only rounding is the final multiply by α.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace bnas {
namespace {

constexpr int kLanes = 16;  // output channels per AVX-512 vector of int32

std::atomic<bool> scalarForced{false};

bool hasVpopcntdq() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
  return has && !scalarForced.load();
#else
  return false;
#endif
}

struct PackedFilter {
  int wpp = 0, coutPad = 0;
  std::vector<uint32_t> signs, nonzero;  // [kh][kw][word][coutPad]
  std::vector<float> alpha;              // [coutPad], zero past C_out
};

PackedFilter packFilter(const ConvGeometry& g, const float* w, const float* alpha) {
  PackedFilter f;
  f.wpp = wordsPerPixel(g.cin);
  f.coutPad = (g.cout + kLanes - 1) / kLanes * kLanes;
  const size_t size = static_cast<size_t>(g.kh) * g.kw * f.wpp * f.coutPad;
  f.signs.assign(size, 0);
  f.nonzero.assign(size, 0);
  for (int t = 0; t < g.kh * g.kw; ++t) {
    for (int ci = 0; ci < g.cin; ++ci) {
      for (int o = 0; o < g.cout; ++o) {
        const float v = w[(static_cast<size_t>(t) * g.cin + ci) * g.cout + o];
        const size_t at = (static_cast<size_t>(t) * f.wpp + ci / 32) * f.coutPad + o;
        const uint32_t bit = 1u << (ci % 32);
        if (v < 0) f.signs[at] |= bit;
        if (v != 0) f.nonzero[at] |= bit;
      }
    }
  }
  f.alpha.assign(f.coutPad, 0.0f);
  for (int o = 0; o < g.cout; ++o) f.alpha[o] = alpha[o];
  return f;
}

inline bool tapRow(const ConvGeometry& g, int oy, int ky, int& r) {
  r = oy * g.sh - g.pt + ky * g.dh;
  return r >= 0 && r < g.h;
}

inline bool tapCol(const ConvGeometry& g, int ox, int kx, int& c) {
  c = ox * g.sw - g.pl + kx * g.dw;
  return c >= 0 && c < g.w;
}

void binaryRowScalar(const ConvGeometry& g, const PackedFilter& f, const uint32_t* xs, const uint32_t* xm, float* y,
                     int b, int oy, std::vector<int32_t>& nz, std::vector<int32_t>& neg) {
  for (int ox = 0; ox < g.ow; ++ox) {
    std::fill(nz.begin(), nz.end(), 0);
    std::fill(neg.begin(), neg.end(), 0);
    for (int ky = 0; ky < g.kh; ++ky) {
      int r;
      if (!tapRow(g, oy, ky, r)) continue;
      for (int kx = 0; kx < g.kw; ++kx) {
        int c;
        if (!tapCol(g, ox, kx, c)) continue;
        const size_t pixel = (static_cast<size_t>(b) * g.h + r) * g.w + c;
        for (int j = 0; j < f.wpp; ++j) {
          const uint32_t sx = xs[pixel * f.wpp + j], mx = xm[pixel * f.wpp + j];
          const size_t at = (static_cast<size_t>(ky * g.kw + kx) * f.wpp + j) * f.coutPad;
          for (int o = 0; o < g.cout; ++o) {
            const uint32_t m = mx & f.nonzero[at + o];
            nz[o] += __builtin_popcount(m);
            neg[o] += __builtin_popcount((sx ^ f.signs[at + o]) & m);
          }
        }
      }
    }
    float* out = y + ((static_cast<size_t>(b) * g.oh + oy) * g.ow + ox) * g.cout;
    for (int o = 0; o < g.cout; ++o) out[o] = static_cast<float>(nz[o] - 2 * neg[o]) * f.alpha[o];
  }
}

// Taps k in [begin, end) with 0 <= o·stride − pad + k·dilation < size: the in-image part of a window.
inline void validTaps(int o, int stride, int pad, int dilation, int kernel, int size, int& begin, int& end) {
  const int origin = o * stride - pad;
  begin = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
  const int last = size - 1 - origin;  // largest k·dilation allowed
  end = last < 0 ? 0 : std::min(kernel, last / dilation + 1);
  if (end < begin) end = begin;
}

#if defined(__x86_64__) && defined(__GNUC__)
// One output row. Only in-image taps are visited (ranges computed per row/column, no per-tap tests). When the filter
// has no zero weights (the usual case), m = nonzero_x, whose popcount is the same for every output channel: one
// scalar popcount per tap instead of a vector one.
__attribute__((target("avx512f,avx512vpopcntdq"))) void binaryRowAvx512(const ConvGeometry& g,
                                                                        const PackedFilter& f, const uint32_t* xs,
                                                                        const uint32_t* xm, float* y, int b, int oy,
                                                                        bool filterDense) {
  int ky0, ky1;
  validTaps(oy, g.sh, g.pt, g.dh, g.kh, g.h, ky0, ky1);
  for (int ox = 0; ox < g.ow; ++ox) {
    int kx0, kx1;
    validTaps(ox, g.sw, g.pl, g.dw, g.kw, g.w, kx0, kx1);
    float* out = y + ((static_cast<size_t>(b) * g.oh + oy) * g.ow + ox) * g.cout;
    const int rowOrigin = oy * g.sh - g.pt;
    const int colOrigin = ox * g.sw - g.pl;
    for (int o0 = 0; o0 < f.coutPad; o0 += kLanes) {
      __m512i nz = _mm512_setzero_si512();
      __m512i neg = _mm512_setzero_si512();
      int nzScalar = 0;
      for (int ky = ky0; ky < ky1; ++ky) {
        const int r = rowOrigin + ky * g.dh;
        for (int kx = kx0; kx < kx1; ++kx) {
          const int c = colOrigin + kx * g.dw;
          const size_t pixel = (static_cast<size_t>(b) * g.h + r) * g.w + c;
          const size_t tap = static_cast<size_t>(ky * g.kw + kx) * f.wpp;
          for (int j = 0; j < f.wpp; ++j) {
            const uint32_t sxWord = xs[pixel * f.wpp + j], mxWord = xm[pixel * f.wpp + j];
            const size_t at = (tap + j) * f.coutPad + o0;
            const __m512i sx = _mm512_set1_epi32(static_cast<int>(sxWord));
            const __m512i mx = _mm512_set1_epi32(static_cast<int>(mxWord));
            const __m512i differ = _mm512_xor_si512(sx, _mm512_loadu_si512(f.signs.data() + at));
            if (filterDense) {
              nzScalar += __builtin_popcount(mxWord);
              neg = _mm512_add_epi32(neg, _mm512_popcnt_epi32(_mm512_and_si512(differ, mx)));
            } else {
              const __m512i m = _mm512_and_si512(mx, _mm512_loadu_si512(f.nonzero.data() + at));
              nz = _mm512_add_epi32(nz, _mm512_popcnt_epi32(m));
              neg = _mm512_add_epi32(neg, _mm512_popcnt_epi32(_mm512_and_si512(differ, m)));
            }
          }
        }
      }
      if (filterDense) nz = _mm512_set1_epi32(nzScalar);
      const __m512i sum = _mm512_sub_epi32(nz, _mm512_slli_epi32(neg, 1));
      const __m512 value = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_loadu_ps(f.alpha.data() + o0));
      const int remaining = g.cout - o0;
      const __mmask16 keep = remaining >= kLanes ? 0xFFFF : static_cast<__mmask16>((1u << remaining) - 1);
      _mm512_mask_storeu_ps(out + o0, keep, value);
    }
  }
}
#endif

}  // namespace

int wordsPerPixel(int channels) { return (channels + 31) / 32; }

namespace {

void packSignsScalar(const float* x, int64_t pixels, int channels, uint32_t* signs, uint32_t* nonzero) {
  const int wpp = wordsPerPixel(channels);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p) {
    const float* in = x + p * channels;
    for (int j = 0; j < wpp; ++j) {
      uint32_t s = 0, m = 0;
      const int end = std::min(channels, (j + 1) * 32);
      for (int c = j * 32; c < end; ++c) {
        const uint32_t bit = 1u << (c % 32);
        s |= in[c] < 0 ? bit : 0u;
        m |= in[c] != 0 ? bit : 0u;
      }
      signs[p * wpp + j] = s;
      nonzero[p * wpp + j] = m;
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// 16 channels per compare: the compare masks are exactly the bit-planes (bit i = channel i of the chunk).
__attribute__((target("avx512f"))) void packSignsAvx512(const float* x, int64_t pixels, int channels,
                                                        uint32_t* signs, uint32_t* nonzero) {
  const int wpp = wordsPerPixel(channels);
  const __m512 zero = _mm512_setzero_ps();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p) {
    const float* in = x + p * channels;
    for (int j = 0; j < wpp; ++j) {
      uint32_t s = 0, m = 0;
      for (int half = 0; half < 2; ++half) {
        const int begin = j * 32 + half * 16;
        const int count = std::min(16, channels - begin);
        if (count <= 0) break;
        const __mmask16 valid = count == 16 ? 0xFFFF : static_cast<__mmask16>((1u << count) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(valid, in + begin);
        s |= static_cast<uint32_t>(_mm512_mask_cmp_ps_mask(valid, v, zero, _CMP_LT_OQ)) << (half * 16);
        // NEQ_UQ: NaN counts as nonzero, like the scalar path's in[c] != 0.
        m |= static_cast<uint32_t>(_mm512_mask_cmp_ps_mask(valid, v, zero, _CMP_NEQ_UQ)) << (half * 16);
      }
      signs[p * wpp + j] = s;
      nonzero[p * wpp + j] = m;
    }
  }
}
#endif

}  // namespace

void packSigns(const float* x, int64_t pixels, int channels, uint32_t* signs, uint32_t* nonzero) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (hasVpopcntdq()) return packSignsAvx512(x, pixels, channels, signs, nonzero);
#endif
  packSignsScalar(x, pixels, channels, signs, nonzero);
}

void forceScalarBinaryConv(bool scalar) { scalarForced.store(scalar); }

const char* binaryConvPath() { return hasVpopcntdq() ? "avx512-vpopcntdq" : "scalar-popcount"; }

void binaryConv2d(const ConvGeometry& g, const float* x, const float* w, const float* alpha, float* y) {
  const PackedFilter f = packFilter(g, w, alpha);
  const int64_t pixels = static_cast<int64_t>(g.n) * g.h * g.w;
  std::vector<uint32_t> xs(static_cast<size_t>(pixels) * f.wpp), xm(static_cast<size_t>(pixels) * f.wpp);
  packSigns(x, pixels, g.cin, xs.data(), xm.data());
  const bool vector = hasVpopcntdq();
  // Dense filter: every real channel bit of every nonzero word is set (no exact-zero weights).
  bool filterDense = true;
  for (size_t t = 0; t < f.nonzero.size() && filterDense; ++t) {
    const size_t word = (t / f.coutPad) % f.wpp;
    const int o = static_cast<int>(t % f.coutPad);
    if (o >= g.cout) continue;
    const int bits = std::min(32, g.cin - static_cast<int>(word) * 32);
    const uint32_t full = bits == 32 ? 0xFFFFFFFFu : ((1u << bits) - 1);
    filterDense = f.nonzero[t] == full;
  }
#pragma omp parallel
  {
    std::vector<int32_t> nz(g.cout), neg(g.cout);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; ++b) {
      for (int oy = 0; oy < g.oh; ++oy) {
#if defined(__x86_64__) && defined(__GNUC__)
        if (vector) {
          binaryRowAvx512(g, f, xs.data(), xm.data(), y, b, oy, filterDense);
          continue;
        }
#endif
        binaryRowScalar(g, f, xs.data(), xm.data(), y, b, oy, nz, neg);
      }
    }
  }
}

}  // namespace bnas
