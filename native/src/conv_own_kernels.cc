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
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "conv_own.h"

namespace bnas::own {
namespace {

#define BNAS_INLINE inline __attribute__((always_inline))

typedef float V8 __attribute__((vector_size(32)));
typedef float V16 __attribute__((vector_size(64)));

// A block of CB = L·NV output channels is NV vectors of L lanes: 16 channels are one zmm on AVX-512 and two ymm on
// AVX2 (a 64-byte GCC vector on AVX2 compiles poorly: measured 10× slower than two 32-byte ones).
template <typename V, int L>
BNAS_INLINE V loadLanes(const float* p, int n) {
  V v;
  if (n >= L) {
    std::memcpy(&v, p, sizeof(V));
  } else {
    v = V{};
    for (int c = 0; c < n; ++c) v[c] = p[c];
  }
  return v;
}

template <typename V, int L>
BNAS_INLINE void storeLanes(float* p, V v, int n) {
  if (n >= L) {
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
  const float* zeros;  // K zeros: what a tap outside the input row reads
};

template <typename V, int L, int NV, int P>
BNAS_INLINE void gatherRowImpl(const RowJob& job) {
  constexpr int CB = L * NV;
  const int K = job.K, T = job.w->taps, step = job.inStep;
  const int64_t xs = int64_t(step) * K;  // floats between the input pixels of consecutive j
  for (int b = 0; b < job.w->blocks; ++b) {
    const int cb0 = b * CB;
    const int nc = std::min(CB, job.w->outChannels - cb0);
    const float* wb = job.w->data.data() + int64_t(b) * T * K * CB;
    V init[NV];
    for (int q = 0; q < NV; ++q) init[q] = job.bias ? loadLanes<V, L>(job.bias + cb0 + q * L, nc - q * L) : V{};
    auto finish = [&](V(&acc)[P][NV], int j0, int count) {
      const V zero = {};
      for (int p = 0; p < count; ++p) {
        float* o = job.out + (j0 + p) * job.outStep + cb0;
        for (int q = 0; q < NV; ++q) {
          V v = acc[p][q];
          if (job.relu) v = v > zero ? v : zero;
          storeLanes<V, L>(o + q * L, v, nc - q * L);
        }
      }
    };
    // P pixels from j0, count of them real. A tap whose P input pixels all lie inside the row reads them at a fixed
    // stride; one that reaches past the row's borders reads through per-pixel pointers, zeros outside the row and
    // past count. Pixels past count but inside the row are computed and not stored.
    auto block = [&](int j0, int count) {
      V acc[P][NV];
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < NV; ++q) acc[p][q] = init[q];
      for (int t = 0; t < job.ntaps; ++t) {
        const RowTap& tap = job.taps[t];
        const int first = tap.c0 + j0 * step, last = first + (P - 1) * step;
        const float* w = wb + int64_t(tap.tap) * K * CB;
        if (first >= 0 && last < job.inW) {
          const float* x = job.in + tap.rowOffset + int64_t(first) * K;
          for (int k = 0; k < K; ++k) {
            V wv[NV];
            for (int q = 0; q < NV; ++q) std::memcpy(&wv[q], w + k * CB + q * L, sizeof(V));
            for (int p = 0; p < P; ++p) {
              const float s = x[p * xs + k];
              for (int q = 0; q < NV; ++q) acc[p][q] += s * wv[q];
            }
          }
        } else {
          const float* xp[P];
          for (int p = 0; p < P; ++p) {
            const int c = first + p * step;
            xp[p] = p < count && c >= 0 && c < job.inW ? job.in + tap.rowOffset + int64_t(c) * K : job.zeros;
          }
          for (int k = 0; k < K; ++k) {
            V wv[NV];
            for (int q = 0; q < NV; ++q) std::memcpy(&wv[q], w + k * CB + q * L, sizeof(V));
            for (int p = 0; p < P; ++p) {
              const float s = xp[p][k];
              for (int q = 0; q < NV; ++q) acc[p][q] += s * wv[q];
            }
          }
        }
      }
      finish(acc, j0, count);
    };
    for (int j = 0; j < job.jCount; j += P) block(j, std::min(P, job.jCount - j));
  }
}

// The filter gradient of one tap over images [n0, n1): tile[r][c] += Σ_pixels x[pixel][r] · dy[pixel][c] for R rows
// of C_in and one block of CB = L·NV channels of C_out (nc of them real); x and dy point at channel ci0 / cb0 of
// pixel 0, tile = dw + (tap·cin + ci0)·cout + cb0.
template <typename V, int L, int NV, int R>
BNAS_INLINE void gradTile(const ConvGeometry& g, const float* x, const float* dy, float* tile, int ky, int kx, int n0,
                          int n1, int nc) {
  constexpr int CB = L * NV;
  const bool full = nc == CB;
  V acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NV; ++q) acc[r][q] = loadLanes<V, L>(tile + int64_t(r) * g.cout + q * L, nc - q * L);
  const int colShift = kx * g.dw - g.pl;  // ix = ox·sw + colShift
  const int oxLo = colShift >= 0 ? 0 : (-colShift + g.sw - 1) / g.sw;
  const int oxHi = std::min(g.ow, g.w - 1 - colShift >= 0 ? (g.w - 1 - colShift) / g.sw + 1 : 0);
  const int64_t xs = int64_t(g.sw) * g.cin;
  for (int n = n0; n < n1; ++n) {
    for (int oy = 0; oy < g.oh; ++oy) {
      const int iy = oy * g.sh - g.pt + ky * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      const float* xp = x + ((int64_t(n) * g.h + iy) * g.w + (oxLo * g.sw + colShift)) * g.cin;
      const float* dp = dy + ((int64_t(n) * g.oh + oy) * g.ow + oxLo) * g.cout;
      for (int ox = oxLo; ox < oxHi; ++ox, xp += xs, dp += g.cout) {
        V d[NV];
        for (int q = 0; q < NV; ++q) {
          if (full)
            std::memcpy(&d[q], dp + q * L, sizeof(V));
          else
            d[q] = loadLanes<V, L>(dp + q * L, nc - q * L);
        }
        for (int r = 0; r < R; ++r) {
          const float s = xp[r];
          for (int q = 0; q < NV; ++q) acc[r][q] += s * d[q];
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NV; ++q) storeLanes<V, L>(tile + int64_t(r) * g.cout + q * L, acc[r][q], nc - q * L);
}

// Rows of C_in from ci on, R at a time, the rest with R/2, …, 1 (C_in = 8 with R = 12 runs one block of 8).
template <typename V, int L, int NV, int R>
BNAS_INLINE void gradRows(const ConvGeometry& g, const float* x, const float* dy, float* dw, int tap, int ky, int kx,
                          int cb0, int nc, int ci, int n0, int n1) {
  for (; ci + R <= g.cin; ci += R)
    gradTile<V, L, NV, R>(g, x + ci, dy + cb0, dw + (int64_t(tap) * g.cin + ci) * g.cout + cb0, ky, kx, n0, n1, nc);
  if constexpr (R > 1) gradRows<V, L, NV, R / 2>(g, x, dy, dw, tap, ky, kx, cb0, nc, ci, n0, n1);
}

template <typename V, int L, int NV, int R>
BNAS_INLINE void gradImagesImpl(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
  constexpr int CB = L * NV;
  for (int ky = 0; ky < g.kh; ++ky)
    for (int kx = 0; kx < g.kw; ++kx)
      for (int cb0 = 0; cb0 < g.cout; cb0 += CB)
        gradRows<V, L, NV, R>(g, x, dy, dw, ky * g.kw + kx, ky, kx, cb0, std::min(CB, g.cout - cb0), 0, n0, n1);
}

// Register blocks per instruction set: 12 accumulators (of 16 ymm on AVX2, of 32 zmm on AVX-512) leave room for the
// weights or dy vectors and the broadcast. Blocks of 16 channels where C_out (forward) or C_in (input gradient) is a
// multiple of 16 or above 24, else 8 (blockOf): the filter's packing decides, the ISA only how a block is held.
BNAS_INLINE void gatherRowAvx2Blocks(const RowJob& job) {
  if (job.w->cb == 16)
    gatherRowImpl<V8, 8, 2, 6>(job);
  else
    gatherRowImpl<V8, 8, 1, 12>(job);
}

BNAS_INLINE void gradImagesAvx2Blocks(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0,
                                      int n1) {
  if (g.cout % 16 == 0 || g.cout > 24)
    gradImagesImpl<V8, 8, 2, 4>(g, x, dy, dw, n0, n1);
  else
    gradImagesImpl<V8, 8, 1, 8>(g, x, dy, dw, n0, n1);
}

BNAS_INLINE void gatherRowAvx512Blocks(const RowJob& job) {
  if (job.w->cb == 16)
    gatherRowImpl<V16, 16, 1, 12>(job);
  else
    gatherRowImpl<V8, 8, 1, 12>(job);
}

BNAS_INLINE void gradImagesAvx512Blocks(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0,
                                        int n1) {
  if (g.cout % 16 == 0 || g.cout > 24)
    gradImagesImpl<V16, 16, 1, 16>(g, x, dy, dw, n0, n1);
  else
    gradImagesImpl<V8, 8, 1, 8>(g, x, dy, dw, n0, n1);
}

// The AVX-512 blocking compiled for baseline x86-64 (GCC lowers the 16-lane vectors to SSE): same template code as
// the AVX-512 build, so a machine without AVX-512 (BNAS_OWN_CONV_ISA=avx512-emulated, run by CI) checks its logic.
void gatherRowAvx512Emulated(const RowJob& job) { gatherRowAvx512Blocks(job); }
void gradImagesAvx512Emulated(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
  gradImagesAvx512Blocks(g, x, dy, dw, n0, n1);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BNAS_TARGETS 1
__attribute__((target("avx512f,fma"))) void gatherRowAvx512(const RowJob& job) { gatherRowAvx512Blocks(job); }
__attribute__((target("avx2,fma"))) void gatherRowAvx2(const RowJob& job) { gatherRowAvx2Blocks(job); }
__attribute__((target("avx512f,fma"))) void gradImagesAvx512(const ConvGeometry& g, const float* x, const float* dy,
                                                               float* dw, int n0, int n1) {
  gradImagesAvx512Blocks(g, x, dy, dw, n0, n1);
}
__attribute__((target("avx2,fma"))) void gradImagesAvx2(const ConvGeometry& g, const float* x, const float* dy,
                                                          float* dw, int n0, int n1) {
  gradImagesAvx2Blocks(g, x, dy, dw, n0, n1);
}
#endif
// Baseline x86-64 (SSE2): the AVX2 blocking, each 8-lane vector as two SSE registers.
void gatherRowBase(const RowJob& job) { gatherRowAvx2Blocks(job); }
void gradImagesBase(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
  gradImagesAvx2Blocks(g, x, dy, dw, n0, n1);
}

enum class Isa { Base, Avx2, Avx512, Avx512Emulated };

// The best the CPU has, or (for tests) BNAS_OWN_CONV_ISA = baseline | avx2 | avx512-emulated where the CPU allows.
Isa detectIsa() {
  const char* asked = std::getenv("BNAS_OWN_CONV_ISA");
  const std::string want = asked ? asked : "";
  if (want == "baseline") return Isa::Base;
  if (want == "avx512-emulated") return Isa::Avx512Emulated;
#ifdef BNAS_TARGETS
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (want == "avx2" && avx2) return Isa::Avx2;
  if (__builtin_cpu_supports("avx512f")) return Isa::Avx512;
  if (avx2) return Isa::Avx2;
#endif
  return Isa::Base;
}

const Isa kIsa = detectIsa();

void runGatherRow(const RowJob& job) {
#ifdef BNAS_TARGETS
  if (kIsa == Isa::Avx512) return gatherRowAvx512(job);
  if (kIsa == Isa::Avx2) return gatherRowAvx2(job);
#endif
  if (kIsa == Isa::Avx512Emulated) return gatherRowAvx512Emulated(job);
  gatherRowBase(job);
}

void runGradImages(const ConvGeometry& g, const float* x, const float* dy, float* dw, int n0, int n1) {
#ifdef BNAS_TARGETS
  if (kIsa == Isa::Avx512) return gradImagesAvx512(g, x, dy, dw, n0, n1);
  if (kIsa == Isa::Avx2) return gradImagesAvx2(g, x, dy, dw, n0, n1);
#endif
  if (kIsa == Isa::Avx512Emulated) return gradImagesAvx512Emulated(g, x, dy, dw, n0, n1);
  gradImagesBase(g, x, dy, dw, n0, n1);
}

// An OpenMP region costs a scheduler slice whenever another process holds a core (see native/README.md, Threads):
// small convs stay on one thread.
constexpr double kParallelMacs = 1 << 21;

int threadsFor(double macs, int threads, int64_t rows) {
  if (threads <= 1 || macs < kParallelMacs) return 1;
  return int(std::min<int64_t>(threads, rows));
}

// At least k zeros, per thread (never shrinks; the largest K seen).
const float* zerosOf(int k) {
  static thread_local std::vector<float> zeros;
  if (zeros.size() < size_t(k)) zeros.assign(size_t(k), 0.0f);
  return zeros.data();
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
               list, ntaps, &w, bias, relu, zerosOf(g.cin)};
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
                 false,
                 zerosOf(g.cout)};
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
    case Isa::Avx512Emulated: return "avx512-emulated";
    default: return "baseline";
  }
}

}  // namespace bnas::own
