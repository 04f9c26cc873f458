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

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512vpopcntdq"))) void binaryRowAvx512(const ConvGeometry& g,
                                                                        const PackedFilter& f, const uint32_t* xs,
                                                                        const uint32_t* xm, float* y, int b, int oy) {
  for (int ox = 0; ox < g.ow; ++ox) {
    float* out = y + ((static_cast<size_t>(b) * g.oh + oy) * g.ow + ox) * g.cout;
    for (int o0 = 0; o0 < f.coutPad; o0 += kLanes) {
      __m512i nz = _mm512_setzero_si512();
      __m512i neg = _mm512_setzero_si512();
      for (int ky = 0; ky < g.kh; ++ky) {
        int r;
        if (!tapRow(g, oy, ky, r)) continue;
        for (int kx = 0; kx < g.kw; ++kx) {
          int c;
          if (!tapCol(g, ox, kx, c)) continue;
          const size_t pixel = (static_cast<size_t>(b) * g.h + r) * g.w + c;
          for (int j = 0; j < f.wpp; ++j) {
            const __m512i sx = _mm512_set1_epi32(static_cast<int>(xs[pixel * f.wpp + j]));
            const __m512i mx = _mm512_set1_epi32(static_cast<int>(xm[pixel * f.wpp + j]));
            const size_t at = (static_cast<size_t>(ky * g.kw + kx) * f.wpp + j) * f.coutPad + o0;
            const __m512i m = _mm512_and_si512(mx, _mm512_loadu_si512(f.nonzero.data() + at));
            const __m512i differ = _mm512_xor_si512(sx, _mm512_loadu_si512(f.signs.data() + at));
            nz = _mm512_add_epi32(nz, _mm512_popcnt_epi32(m));
            neg = _mm512_add_epi32(neg, _mm512_popcnt_epi32(_mm512_and_si512(differ, m)));
          }
        }
      }
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

void packSigns(const float* x, int64_t pixels, int channels, uint32_t* signs, uint32_t* nonzero) {
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

void forceScalarBinaryConv(bool scalar) { scalarForced.store(scalar); }

const char* binaryConvPath() { return hasVpopcntdq() ? "avx512-vpopcntdq" : "scalar-popcount"; }

void binaryConv2d(const ConvGeometry& g, const float* x, const float* w, const float* alpha, float* y) {
  const PackedFilter f = packFilter(g, w, alpha);
  const int64_t pixels = static_cast<int64_t>(g.n) * g.h * g.w;
  std::vector<uint32_t> xs(static_cast<size_t>(pixels) * f.wpp), xm(static_cast<size_t>(pixels) * f.wpp);
  packSigns(x, pixels, g.cin, xs.data(), xm.data());
  const bool vector = hasVpopcntdq();
#pragma omp parallel
  {
    std::vector<int32_t> nz(g.cout), neg(g.cout);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; ++b) {
      for (int oy = 0; oy < g.oh; ++oy) {
#if defined(__x86_64__) && defined(__GNUC__)
        if (vector) {
          binaryRowAvx512(g, f, xs.data(), xm.data(), y, b, oy);
          continue;
        }
#endif
        binaryRowScalar(g, f, xs.data(), xm.data(), y, b, oy, nz, neg);
      }
    }
  }
}

}  // namespace bnas
