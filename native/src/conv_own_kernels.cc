// The direct convolution kernels declared in conv_own.h (see there for the method).
//
// SIMD: the kernels are written once on GCC vector types and compiled three times (AVX-512 + FMA, AVX2 + FMA, and
// baseline x86-64) by explicit target attributes, picked once at run time with __builtin_cpu_supports. Not
// target_clones as in pool.cc: its "avx2" clone has no FMA, which halves a conv's rate. The OpenMP loops stay in
// untargeted code and call the chosen row function, so no outlined parallel region depends on a target attribute.
//
// The build compiles everything with -ffp-contract=off (exact elementwise kernels); here multiply-adds may fuse, as
// in oneDNN's convs: a conv sum's rounding is not specified, and the tests compare with a tolerance.
#pragma GCC diagnostic ignored "-Wpsabi"  // vector arguments of always-inlined helpers: no ABI is crossed
#pragma GCC optimize("fp-contract=fast")

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_own.h"

namespace bnas::own {
namespace {

#define BNAS_INLINE inline __attribute__((always_inline))

template <int CB>
struct VecOf;
template <>
struct VecOf<8> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct VecOf<16> {
  typedef float type __attribute__((vector_size(64)));
};

template <typename V>
BNAS_INLINE V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

// The first n lanes from p, the rest 0 (a partial block of channels).
template <typename V, int CB>
BNAS_INLINE V loadPartial(const float* p, int n) {
  V v = {};
  for (int c = 0; c < n; ++c) v[c] = p[c];
  return v;
}

template <typename V, int CB>
BNAS_INLINE void store(float* p, V v, int n, bool relu) {
  if (relu) {
    const V zero = {};
    v = v > zero ? v : zero;
  }
  if (n == CB) {
    std::memcpy(p, &v, sizeof(V));
  } else {
    for (int c = 0; c < n; ++c) p[c] = v[c];
  }
}

// One output row of the gather kernel: out pixel j (j < jCount, at out + j·outStep) = Σ over taps of in pixel
// c0 + j·inStep of the tap's input row (skipped outside [0, inW)) times the tap's [K, CB] weights.
struct RowTap {
  int64_t rowOffset;  // floats from `in` to the tap's input row
  int c0;             // input pixel of j = 0 (may lie outside the row)
  int tap;            // index into the packed filter
};

struct RowJob {
  const float* in;
  int inW, K, inStep;
  float* out;
  int64_t outStep;
  int jCount;
  const RowTap* taps;
  int ntaps;
  const PackedFilter* w;
  const float* bias;
  bool relu;
};

template <int CB, int P>
BNAS_INLINE void gatherRowImpl(const RowJob& job) {
  using V = typename VecOf<CB>::type;
  const int K = job.K, T = job.w->taps, step = job.inStep;
  const int64_t xs = int64_t(step) * K;  // floats between the input pixels of consecutive j
  // Pixels whose every tap lies inside the input row run without checks, P at a time.
  int jlo = 0, jhi = job.jCount;
  for (int t = 0; t < job.ntaps; ++t) {
    const int c0 = job.taps[t].c0;
    const int lo = c0 >= 0 ? 0 : (-c0 + step - 1) / step;
    const int hi = job.inW - 1 - c0 >= 0 ? (job.inW - 1 - c0) / step + 1 : 0;
    jlo = std::max(jlo, lo);
    jhi = std::min(jhi, hi);
  }
  if (jhi < jlo) jhi = jlo;
  for (int b = 0; b < job.w->blocks; ++b) {
    const int cb0 = b * CB;
    const int nc = std::min(CB, job.w->outChannels - cb0);
    const float* wb = job.w->data.data() + int64_t(b) * T * K * CB;
    const V init = job.bias ? loadPartial<V, CB>(job.bias + cb0, nc) : V{};
    auto checked = [&](int j) {
      V acc = init;
      for (int t = 0; t < job.ntaps; ++t) {
        const int c = job.taps[t].c0 + j * step;
        if (c < 0 || c >= job.inW) continue;
        const float* x = job.in + job.taps[t].rowOffset + int64_t(c) * K;
        const float* w = wb + int64_t(job.taps[t].tap) * K * CB;
        for (int k = 0; k < K; ++k) acc += x[k] * load<V>(w + k * CB);
      }
      store<V, CB>(job.out + j * job.outStep + cb0, acc, nc, job.relu);
    };
    int j = 0;
    for (; j < jlo; ++j) checked(j);
    for (; j + P <= jhi; j += P) {
      V acc[P];
      for (int p = 0; p < P; ++p) acc[p] = init;
      for (int t = 0; t < job.ntaps; ++t) {
        const float* x = job.in + job.taps[t].rowOffset + int64_t(job.taps[t].c0 + j * step) * K;
        const float* w = wb + int64_t(job.taps[t].tap) * K * CB;
        for (int k = 0; k < K; ++k) {
          const V wv = load<V>(w + k * CB);
          for (int p = 0; p < P; ++p) acc[p] += x[p * xs + k] * wv;
        }
      }
      for (int p = 0; p < P; ++p) store<V, CB>(job.out + (j + p) * job.outStep + cb0, acc[p], nc, job.relu);
    }
    for (; j < job.jCount; ++j) checked(j);
  }
}

// P pixels × one vector of CB accumulators: 6 × 16 fills 6 of 32 zmm (12 of 16 ymm on AVX2, the most that leaves
// room for the weight and the broadcast); 8 × 8 likewise.
BNAS_INLINE void gatherRow(const RowJob& job) {
  if (job.w->cb == 16)
    gatherRowImpl<16, 6>(job);
  else
    gatherRowImpl<8, 8>(job);
}

// The filter gradient of one tap over images [n0, n1): tile[r][c] += Σ_pixels x[pixel][ci0 + r] · dy[pixel][cb0 + c]
// for R rows of C_in and one block of C_out, tile = dw + (tap·cin + ci0)·cout + cb0.
template <int CB, int R, bool Full>
BNAS_INLINE void gradTile(const ConvGeometry& g, const float* x, const float* dy, float* tile, int ky, int kx, int n0,
                          int n1, int nc) {
  using V = typename VecOf<CB>::type;
  V acc[R];
  for (int r = 0; r < R; ++r) acc[r] = Full ? load<V>(tile + int64_t(r) * g.cout) : loadPartial<V, CB>(tile + int64_t(r) * g.cout, nc);
  const int colShift = kx * g.dw - g.pl;  // ix = ox·sw + colShift
  const int oxLo = colShift >= 0 ? 0 : (-colShift + g.sw - 1) / g.sw;
  const int oxHi = std::min(g.ow, g.w - 1 - colShift >= 0 ? (g.w - 1 - colShift) / g.sw + 1 : 0);
  for (int n = n0; n < n1; ++n) {
    for (int oy = 0; oy < g.oh; ++oy) {
      const int iy = oy * g.sh - g.pt + ky * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      const float* xrow = x + (int64_t(n) * g.h + iy) * g.w * g.cin;
      const float* drow = dy + (int64_t(n) * g.oh + oy) * g.ow * g.cout;
      for (int ox = oxLo; ox < oxHi; ++ox) {
        const V d = Full ? load<V>(drow + int64_t(ox) * g.cout) : loadPartial<V, CB>(drow + int64_t(ox) * g.cout, nc);
        const float* xp = xrow + int64_t(ox * g.sw + colShift) * g.cin;
        for (int r = 0; r < R; ++r) acc[r] += xp[r] * d;
      }
    }
  }
  for (int r = 0; r < R; ++r) store<V, CB>(tile + int64_t(r) * g.cout, acc[r], nc, false);
}

template <int CB>
BNAS_INLINE void gradImagesCb(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
  constexpr int R = 8;
  for (int ky = 0; ky < g.kh; ++ky)
    for (int kx = 0; kx < g.kw; ++kx) {
      const int tap = ky * g.kw + kx;
      for (int cb0 = 0; cb0 < g.cout; cb0 += CB) {
        const int nc = std::min(CB, g.cout - cb0);
        int ci = 0;
        // x and dy here are offset to channel ci / cb0 of pixel 0.
        for (; ci + R <= g.cin; ci += R) {
          float* tile = dw + (int64_t(tap) * g.cin + ci) * g.cout + cb0;
          if (nc == CB)
            gradTile<CB, R, true>(g, x + ci, dy + cb0, tile, ky, kx, n0, n1, nc);
          else
            gradTile<CB, R, false>(g, x + ci, dy + cb0, tile, ky, kx, n0, n1, nc);
        }
        for (; ci < g.cin; ++ci) {
          float* tile = dw + (int64_t(tap) * g.cin + ci) * g.cout + cb0;
          if (nc == CB)
            gradTile<CB, 1, true>(g, x + ci, dy + cb0, tile, ky, kx, n0, n1, nc);
          else
            gradTile<CB, 1, false>(g, x + ci, dy + cb0, tile, ky, kx, n0, n1, nc);
        }
      }
    }
}

BNAS_INLINE void gradImages(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
  if (g.cout % 16 == 0 || g.cout > 24)
    gradImagesCb<16>(g, x, dy, dw, n0, n1);
  else
    gradImagesCb<8>(g, x, dy, dw, n0, n1);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BNAS_TARGETS 1
__attribute__((target("avx512f,fma"))) void gatherRowAvx512(const RowJob& job) { gatherRow(job); }
__attribute__((target("avx2,fma"))) void gatherRowAvx2(const RowJob& job) { gatherRow(job); }
__attribute__((target("avx512f,fma"))) void gradImagesAvx512(const ConvGeometry& g, const float* x, const float* dy,
                                                               float* dw, int n0, int n1) {
  gradImages(g, x, dy, dw, n0, n1);
}
__attribute__((target("avx2,fma"))) void gradImagesAvx2(const ConvGeometry& g, const float* x, const float* dy,
                                                          float* dw, int n0, int n1) {
  gradImages(g, x, dy, dw, n0, n1);
}
#endif
void gatherRowBase(const RowJob& job) { gatherRow(job); }
void gradImagesBase(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
  gradImages(g, x, dy, dw, n0, n1);
}

enum class Isa { Base, Avx2, Avx512 };

Isa detectIsa() {
#ifdef BNAS_TARGETS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Base;
}

const Isa kIsa = detectIsa();

void runGatherRow(const RowJob& job) {
#ifdef BNAS_TARGETS
  if (kIsa == Isa::Avx512) return gatherRowAvx512(job);
  if (kIsa == Isa::Avx2) return gatherRowAvx2(job);
#endif
  gatherRowBase(job);
}

void runGradImages(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
#ifdef BNAS_TARGETS
  if (kIsa == Isa::Avx512) return gradImagesAvx512(g, x, dy, dw, n0, n1);
  if (kIsa == Isa::Avx2) return gradImagesAvx2(g, x, dy, dw, n0, n1);
#endif
  gradImagesBase(g, x, dy, dw, n0, n1);
}

// An OpenMP region costs a scheduler slice whenever another process holds a core (see native/README.md, Threads):
// small convs stay on one thread.
constexpr double kParallelMacs = 1 << 21;

int threadsFor(double macs, int threads, int64_t rows) {
  if (threads <= 1 || macs < kParallelMacs) return 1;
  return int(std::min<int64_t>(threads, rows));
}

int blockOf(int channels) { return channels % 16 == 0 || channels > 24 ? 16 : 8; }

PackedFilter emptyPack(int taps, int k, int outChannels) {
  PackedFilter p;
  p.cb = blockOf(outChannels);
  p.blocks = (outChannels + p.cb - 1) / p.cb;
  p.taps = taps;
  p.k = k;
  p.outChannels = outChannels;
  p.data.assign(size_t(p.blocks) * taps * k * p.cb, 0.0f);
  return p;
}

}  // namespace

PackedFilter packForward(const float* w, int taps, int cin, int cout) {
  PackedFilter p = emptyPack(taps, cin, cout);
  for (int t = 0; t < taps; ++t)
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co) {
        const int b = co / p.cb, c = co % p.cb;
        p.data[((size_t(b) * taps + t) * cin + ci) * p.cb + c] = w[(size_t(t) * cin + ci) * cout + co];
      }
  return p;
}

PackedFilter packBackwardData(const float* w, int taps, int cin, int cout) {
  PackedFilter p = emptyPack(taps, cout, cin);
  for (int t = 0; t < taps; ++t)
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co) {
        const int b = ci / p.cb, c = ci % p.cb;
        p.data[((size_t(b) * taps + t) * cout + co) * p.cb + c] = w[(size_t(t) * cin + ci) * cout + co];
      }
  return p;
}

void forward(const ConvGeometry& g, const float* x, const PackedFilter& w, const float* bias, bool relu, float* y,
             int threads) {
  const int64_t rows = int64_t(g.n) * g.oh;
  const double macs = double(rows) * g.ow * g.cout * g.kh * g.kw * g.cin;
  const int team = threadsFor(macs, threads, rows);
#pragma omp parallel for schedule(static) num_threads(team) if (team > 1)
  for (int64_t row = 0; row < rows; ++row) {
    const int n = int(row / g.oh), oy = int(row % g.oh);
    RowTap taps[64];
    std::vector<RowTap> many;
    RowTap* list = g.kh * g.kw <= 64 ? taps : (many.resize(size_t(g.kh) * g.kw), many.data());
    int ntaps = 0;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = oy * g.sh - g.pt + ky * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.kw; ++kx)
        list[ntaps++] = RowTap{int64_t(iy) * g.w * g.cin, kx * g.dw - g.pl, ky * g.kw + kx};
    }
    RowJob job{x + int64_t(n) * g.h * g.w * g.cin, g.w, g.cin, g.sw, y + row * g.ow * g.cout, g.cout, g.ow,
               list, ntaps, &w, bias, relu};
    runGatherRow(job);
  }
}

void backwardData(const ConvGeometry& g, const float* dy, const PackedFilter& wt, float* dx, int threads) {
  const int64_t rows = int64_t(g.n) * g.h;
  const double macs = double(g.n) * g.oh * g.ow * g.cout * g.kh * g.kw * g.cin;
  const int team = threadsFor(macs, threads, rows);
#pragma omp parallel for schedule(static) num_threads(team) if (team > 1)
  for (int64_t row = 0; row < rows; ++row) {
    const int n = int(row / g.h), iy = int(row % g.h);
    RowTap taps[64];
    std::vector<RowTap> many;
    RowTap* list = g.kh * g.kw <= 64 ? taps : (many.resize(size_t(g.kh) * g.kw), many.data());
    // dx pixels ix ≡ r (mod sw) read dy pixels ox = (r + pl − kx·dw) / sw + j, 1 apart.
    for (int r = 0; r < std::min(g.sw, g.w); ++r) {
      int ntaps = 0;
      for (int ky = 0; ky < g.kh; ++ky) {
        const int t = iy + g.pt - ky * g.dh;
        if (t < 0 || t % g.sh != 0 || t / g.sh >= g.oh) continue;
        const int oy = t / g.sh;
        for (int kx = 0; kx < g.kw; ++kx) {
          const int u = r + g.pl - kx * g.dw;
          if (((u % g.sw) + g.sw) % g.sw != 0) continue;
          list[ntaps++] = RowTap{int64_t(oy) * g.ow * g.cout, u / g.sw, ky * g.kw + kx};
        }
      }
      RowJob job{dy + int64_t(n) * g.oh * g.ow * g.cout,
                 g.ow,
                 g.cout,
                 1,
                 dx + (row * g.w + r) * g.cin,
                 int64_t(g.sw) * g.cin,
                 (g.w - r + g.sw - 1) / g.sw,
                 list,
                 ntaps,
                 &wt,
                 nullptr,
                 false};
      runGatherRow(job);
    }
  }
}

void backwardFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw, int threads) {
  const size_t size = size_t(g.kh) * g.kw * g.cin * g.cout;
  std::fill(dw, dw + size, 0.0f);
  const double macs = double(g.n) * g.oh * g.ow * g.cout * g.kh * g.kw * g.cin;
  const int team = threadsFor(macs, threads, g.n);
  if (team == 1) {
    runGradImages(g, x, dy, dw, 0, g.n);
    return;
  }
  // Images split between the threads, each into its own partial sum (thread 0 into dw), added in thread order: the
  // result depends on the thread count, never on scheduling.
  std::vector<std::vector<float>> partial(team - 1, std::vector<float>(size, 0.0f));
#pragma omp parallel num_threads(team)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int n0 = int(int64_t(g.n) * t / nt), n1 = int(int64_t(g.n) * (t + 1) / nt);
    runGradImages(g, x, dy, t == 0 ? dw : partial[t - 1].data(), n0, n1);
  }
  for (const auto& p : partial)
    for (size_t i = 0; i < size; ++i) dw[i] += p[i];
}

const char* isa() {
  switch (kIsa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "baseline";
  }
}

}  // namespace bnas::own
