// The binary conv on AMX (Intel Sapphire Rapids and later): the layer's ±1 weights and its input's sign(BN(x)) as
// int8 (−1, 0, +1), multiplied and summed exactly in int32 by TDPBSSD. One core does 16·16·64 int8 MACs in about 16
// cycles, 3.7 T a second here in a loop of products alone (1.5–1.8 T with the tile loads and the epilogue on a 3×3
// layer of whole tiles) against the VPOPCNTDQ kernel's 1.1 T binary MACs: on this hardware a ±1 product is cheapest
// as an int8 product. Zero needs no mask (0 is an int8 like the others), so exact zeros, weight zeros and zero padding
// cost nothing.
//
// Layout (stride-1 layers): the input's int8 image is zero-padded ((h + 2·pad) rows of w + 2·pad pixels, cin bytes
// each) and split by column phase modulo the dilation d, phase-major: [phase][row][column / d]. The k taps of one
// kernel row, at columns ox − pad + kx·d, are then k consecutive pixels (k·cin contiguous bytes, read as ⌈k·cin/64⌉
// 64-byte K chunks; bytes past k·cin meet zero weights), and output (oy, ox = phase + d·j) sits at position
// oy·width + j of its phase's flattened rows, kernel row ky a constant offset further. So an A tile is 16
// consecutive positions (pixels cin bytes apart) even across rows, always full: the few positions in the pad columns
// are computed and dropped (2 of 34 at 32×32), an implicit GEMM over the padded image. A B tile is 64 K bytes × 16
// output channels in the VNNI order TDPBSSD wants. Tile registers are not renamed (a load waits for the products
// still reading its tile), so each step loads two A and two B tiles for four products, as oneDNN's AMX kernels do.
#include "chunks.h"
#include "plan.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define BNAS_AMX 1
#endif

namespace bnas::packed {

bool amxAvailable() {
#if defined(BNAS_AMX)
  static const bool ok = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(d >> 24 & 1) || !(d >> 25 & 1)) return false;  // AMX-TILE, AMX-INT8
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 27 & 1)) return false;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;  // the OS saves XTILECFG and XTILEDATA
    // Linux hands out the 8 KB of tile state only to a process that asks (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

namespace {
int ceilDiv(int a, int b) { return (a + b - 1) / b; }
}  // namespace

AmxBinConv::AmxBinConv(const Geometry& g, const std::vector<float>& lo, const std::vector<float>& hi,
                       const std::vector<uint32_t>& flip, bool flips, const std::vector<float>& alpha,
                       const std::function<int(int, int, int)>& weight)
    : g_(g), lo_(lo), hi_(hi), flip_(flip), flips_(flips) {
  const int d = g.dilation;
  rows_ = g.h + 2 * g.pad;
  phaseWidth_ = ceilDiv(g.w + 2 * g.pad, d);
  kt_ = ceilDiv(g.k * g.cin, 64);
  nt_ = ceilDiv(g.cout, 16);
  imageBytes_ = int64_t(rows_) * d * phaseWidth_ * g.cin;
  slackBytes_ = int64_t(32 + g.k) * g.cin + 64 * (kt_ + 1);
  alpha_.assign(size_t(nt_) * 16, 0.0f);
  std::copy(alpha.begin(), alpha.begin() + g.cout, alpha_.begin());
  // B tiles [nt][ky][kt], each 16 rows (K bytes 4r … 4r + 3) × 16 output channels × 4 bytes.
  // 64-byte aligned: a B tile whose rows straddle cache lines loads at half the speed (15.8 against 7.95 ns a product
  // in a loop of 2 × 2 blocks here).
  weightStore_.assign(size_t(nt_) * g.k * kt_ * 1024 + 64, 0);
  weights_ = reinterpret_cast<int8_t*>((reinterpret_cast<uintptr_t>(weightStore_.data()) + 63) & ~uintptr_t(63));
  for (int o = 0; o < g.cout; ++o)
    for (int ky = 0; ky < g.k; ++ky)
      for (int kb = 0; kb < g.k * g.cin; ++kb) {
        const int kx = kb / g.cin, c = kb % g.cin, kt = kb / 64, kk = kb % 64;
        int8_t* tile = weights_ + ((size_t(o / 16) * g.k + ky) * kt_ + kt) * 1024;
        tile[(kk / 4) * 64 + (o % 16) * 4 + kk % 4] = int8_t(weight(o, ky * g.k + kx, c));
      }
}

int64_t AmxBinConv::scratchBytes(int n, int threads) const {
  // A whole image of int8 pixels and the slack the last tiles read past it, per thread; 64-byte multiples.
  return int64_t(threads) * ((int64_t(n) * imageBytes_ + slackBytes_ + 63) / 64 * 64);
}

int64_t AmxBinConv::weightBytes() const {
  return int64_t(weightStore_.size()) + int64_t(sizeof(float)) * int64_t(alpha_.size());
}

#if defined(BNAS_AMX)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,amx-tile,amx-int8")
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// The tile intrinsics are inline assembly that names its registers by stringizing the argument: the numbers must be
// literals. Tiles: 0–3 accumulators (pixel tile m, channel tile n at 2m + n), 4–5 pixels (A), 6–7 weights (B).
template <int T> inline void zeroTile();
template <int T> inline void storeTile(int32_t* to);
#define BNAS_TILE(T)                                                   \
  template <> inline void zeroTile<T>() { _tile_zero(T); }             \
  template <> inline void storeTile<T>(int32_t* to) { _tile_stored(T, to, 64); }
BNAS_TILE(0)
BNAS_TILE(1)
BNAS_TILE(2)
BNAS_TILE(3)
#undef BNAS_TILE

// The tile asm reads and writes memory the compiler does not see: order it against the C++ around it.
inline void memoryBarrier() { __asm__ volatile("" ::: "memory"); }

// MB pixel tiles (at a[0], a[1]; pixels `pixelBytes` apart) × NB channel tiles (at b, b + bStride): the products of
// the k kernel rows × kt K chunks, into out[n][m] (16 × 16 int32 each).
template <int MB, int NB>
void block(const int8_t* const* a, int pixelBytes, int64_t kyStride, int k, int kt, const int8_t* b, int64_t bStride,
           int32_t* out) {
  memoryBarrier();  // the int8 input written before must be in memory for the tile loads
  zeroTile<0>();
  if constexpr (NB > 1) zeroTile<1>();
  if constexpr (MB > 1) zeroTile<2>();
  if constexpr (MB > 1 && NB > 1) zeroTile<3>();
  for (int ky = 0; ky < k; ++ky)
    for (int q = 0; q < kt; ++q) {
      const int64_t at = ky * kyStride + q * 64;
      const int8_t* bk = b + (int64_t(ky) * kt + q) * 1024;
      _tile_loadd(4, a[0] + at, pixelBytes);
      _tile_loadd(6, bk, 64);
      _tile_dpbssd(0, 4, 6);
      if constexpr (NB > 1) {
        _tile_loadd(7, bk + bStride, 64);
        _tile_dpbssd(1, 4, 7);
      }
      if constexpr (MB > 1) {
        _tile_loadd(5, a[1] + at, pixelBytes);
        _tile_dpbssd(2, 5, 6);
        if constexpr (NB > 1) _tile_dpbssd(3, 5, 7);
      }
    }
  storeTile<0>(out);
  if constexpr (NB > 1) storeTile<1>(out + 512);
  if constexpr (MB > 1) storeTile<2>(out + 256);
  if constexpr (MB > 1 && NB > 1) storeTile<3>(out + 768);
  memoryBarrier();
}

// y = ReLU(α·dot) (+ y) for one output pixel, its dots 512 apart a channel tile, as the popcount kernels' epilogue;
// α of up to 5 channel tiles kept in registers (the stores to y could alias a pointer to it).
struct Epilogue {
  static constexpr int kHeld = 5;
  __m512 alpha[kHeld];
  const float* more;  // α past the held tiles
  int nt;
  __mmask16 lastLive;
  bool accumulate;
  Epilogue(const float* a, int tiles, int cout, bool acc)
      : more(a), nt(tiles), lastLive(__mmask16((1u << (cout - 16 * (tiles - 1))) - 1)), accumulate(acc) {
    for (int n = 0; n < kHeld; ++n) alpha[n] = n < tiles ? _mm512_loadu_ps(a + 16 * n) : _mm512_setzero_ps();
  }
  inline void one(const int32_t* dot, float* y, int n, __m512 a) const {
    const __mmask16 live = n + 1 < nt ? __mmask16(0xffff) : lastLive;
    __m512 v = _mm512_max_ps(_mm512_mul_ps(a, _mm512_cvtepi32_ps(_mm512_load_si512(dot + n * 512))),
                             _mm512_setzero_ps());
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(live, y + 16 * n), v);
    _mm512_mask_storeu_ps(y + 16 * n, live, v);
  }
  inline void operator()(const int32_t* dot, float* y) const {
    for (int n = 0; n < std::min(nt, kHeld); ++n) one(dot, y, n, alpha[n]);
    for (int n = kHeld; n < nt; ++n) one(dot, y, n, _mm512_loadu_ps(more + 16 * n));
  }
};

using BlockFn = void (*)(const int8_t* const*, int, int64_t, int, int, const int8_t*, int64_t, int32_t*);
BlockFn blockFor(int mb, int nb) {
  static const BlockFn fns[2][2] = {{block<1, 1>, block<1, 2>}, {block<2, 1>, block<2, 2>}};
  return fns[mb - 1][nb - 1];
}

// sign(BN(x)) of one input row as int8 into the padded, phase-split image, thresholds in registers (see
// packRegsAvx512 in binconv.cc): −1 where x < lo, +1 where x ≥ hi, 0 between (BN exactly 0) and for NaN.
// cin: the channels of this pass; pixelBytes: a pixel's bytes in the image (all its channels); row: the row's first
// pixel in phase 0, phaseBytes on to the next phase.
template <int CH, bool Flip>
void packRowInt8(const float* x, int xStride, int w, int cin, const float* lo, const float* hi, const uint32_t* flip,
                 int8_t* row, int pixelBytes, int64_t phaseBytes, int pad, int d) {
  __m512 vlo[CH], vhi[CH];
  __m512i vflip[CH];
  __mmask16 live[CH];
  loadPassThresholds<CH>(lo, hi, flip, cin, vlo, vhi, vflip, live);
  const __m128i plus = _mm_set1_epi8(1), minus = _mm_set1_epi8(-1);
  // Column ix is at padded column v = ix + pad: phase v mod d, position v / d. Phase by phase, no division a pixel.
  for (int ix0 = 0; ix0 < std::min(d, w); ++ix0) {
    const int v0 = ix0 + pad;
    int8_t* dst = row + (v0 % d) * phaseBytes + int64_t(v0 / d) * pixelBytes;
    for (int ix = ix0; ix < w; ix += d, dst += pixelBytes) {
      const float* xp = x + int64_t(ix) * xStride;
      for (int k = 0; k < CH; ++k) {
        __m512 val = _mm512_maskz_loadu_ps(live[k], xp + 16 * k);
        if constexpr (Flip) val = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(val), vflip[k]));
        const __mmask16 neg = _mm512_mask_cmp_ps_mask(live[k], val, vlo[k], _CMP_LT_OQ);
        const __mmask16 pos = _mm512_mask_cmp_ps_mask(live[k], val, vhi[k], _CMP_GE_OQ);
        _mm_mask_storeu_epi8(dst + 16 * k, live[k], _mm_mask_mov_epi8(_mm_maskz_mov_epi8(pos, plus), neg, minus));
      }
    }
  }
}

}  // namespace

void AmxBinConv::packRows(const float* x, int xStride, int iy0, int iy1, int8_t* act) const {
  const int chunks = (g_.cin + 15) / 16;
  for (int r = iy0; r < iy1; ++r) {
    const int img = r / g_.h, iy = r % g_.h;
    int8_t* row = act + int64_t(img) * imageBytes_ + int64_t(iy + g_.pad) * phaseWidth_ * g_.cin;
    const int64_t phaseBytes = int64_t(rows_) * phaseWidth_ * g_.cin;
    const float* xr = x + (int64_t(img) * g_.h + iy) * g_.w * xStride;
    for (int k0 = 0; k0 < chunks; k0 += kMaxPassChunks) {
      const int c0 = 16 * k0;
      auto regs = [&](auto size) {
        constexpr int CH = decltype(size)::value;
        // A pass of 12 chunks writes its channels' bytes of every pixel (the pixel's bytes are cin apart).
        auto run = [&](auto flipped) {
          packRowInt8<CH, decltype(flipped)::value>(xr + c0, xStride, g_.w, g_.cin - c0, lo_.data() + c0,
                                                     hi_.data() + c0, flip_.data() + c0, row + c0, g_.cin,
                                                     phaseBytes, g_.pad, g_.dilation);
        };
        if (flips_) run(std::true_type{});
        else run(std::false_type{});
      };
      withPassChunks(chunks - k0, regs);
    }
  }
}

void AmxBinConv::dotRows(const int8_t* act, int r0, int r1, float* y, int yStride, bool accumulate) const {
  TileConfig config;
  for (int t = 0; t < 8; ++t) config.rows[t] = 16, config.colsb[t] = 64;
  _tile_loadconfig(&config);
  const int d = g_.dilation, cin = g_.cin, width = phaseWidth_;
  const int64_t phaseBytes = int64_t(rows_) * width * cin, kyStride = int64_t(d) * width * cin;
  const int64_t bStride = int64_t(g_.k) * kt_ * 1024;
  // A tiles: 16 flattened positions oy·width + j of one phase, within one image's rows of [r0, r1).
  struct Tile {
    const int8_t* a;
    int row0;  // the output row (over the batch) of position 0 of the tile's phase and image
    int phase, f0, fEnd;
  };
  thread_local std::vector<Tile> tiles;  // kept between layers: no allocation a layer
  tiles.clear();
  for (int row = r0; row < r1;) {
    const int img = row / g_.ho, end = std::min(r1, (img + 1) * g_.ho);
    const int oy0 = row - img * g_.ho, oy1 = end - img * g_.ho;
    for (int phase = 0; phase < d; ++phase)
      for (int f0 = oy0 * width; f0 < oy1 * width; f0 += 16)
        tiles.push_back({act + int64_t(img) * imageBytes_ + phase * phaseBytes + int64_t(f0) * cin, img * g_.ho, phase,
                         f0, oy1 * width});
    row = end;
  }
  // Two tiles a block, every channel tile, then their epilogue: y = ReLU(α·dot) (+ y), as the popcount kernels'.
  // (Run a few outputs between the next pair's tile steps instead, it took as long: the tile loads hold the ports.)
  thread_local std::vector<int32_t> buffers;
  const size_t perPair = size_t(nt_) * 2 * 256;
  if (buffers.size() < perPair + 16) buffers.resize(perPair + 16);
  int32_t* out = reinterpret_cast<int32_t*>((reinterpret_cast<uintptr_t>(buffers.data()) + 63) & ~uintptr_t(63));
  const int nt = nt_, wo = g_.wo;
  const Epilogue epilogue(alpha_.data(), nt, g_.cout, accumulate);
  for (size_t t = 0; t < tiles.size(); t += 2) {
    const int mb = t + 1 < tiles.size() ? 2 : 1;
    const int8_t* a[2] = {tiles[t].a, mb > 1 ? tiles[t + 1].a : nullptr};
    for (int n0 = 0; n0 < nt; n0 += 2)
      blockFor(mb, std::min(2, nt - n0))(a, cin, kyStride, g_.k, kt_, weights_ + size_t(n0) * bStride, bStride,
                                         out + n0 * 2 * 256);
    for (int m = 0; m < mb; ++m) {
      const Tile& tile = tiles[t + m];
      const int count = (wo - tile.phase + d - 1) / d;  // output columns phase, phase + d, …
      // Position f0 + r is output (oy, phase + d·j): one division a tile, then counted on.
      int oy = tile.f0 / width, j = tile.f0 % width;
      for (int r = 0; r < 16 && tile.f0 + r < tile.fEnd; ++r, ++j) {
        if (j == width) j = 0, ++oy;
        if (j >= count) continue;  // a pad column's position
        float* yp = y + ((int64_t(tile.row0) + oy) * wo + tile.phase + int64_t(d) * j) * yStride;
        epilogue(out + m * 256 + r * 16, yp);
      }
    }
  }
  _tile_release();
}
#pragma GCC pop_options
#else
void AmxBinConv::packRows(const float*, int, int, int, int8_t*) const {
  throw std::logic_error("AMX binary conv: not built for this platform");
}
void AmxBinConv::dotRows(const int8_t*, int, int, float*, int, bool) const {
  throw std::logic_error("AMX binary conv: not built for this platform");
}
#endif

// The padding of padded rows [u0, u1) of image img must read as 0 (the pixels are written by packRows): rows above
// and below the image, and each row's columns left and right of it, in every phase.
void AmxBinConv::zeroPadding(int8_t* act, int img, int u0, int u1) const {
  const int d = g_.dilation, cin = g_.cin, pad = g_.pad;
  const int64_t rowBytes = int64_t(phaseWidth_) * cin;
  for (int phase = 0; phase < d; ++phase) {
    int8_t* base = act + img * imageBytes_ + int64_t(phase) * rows_ * rowBytes;
    const int left = std::max(0, (pad - phase + d - 1) / d);                   // columns i with i·d + phase < pad
    const int right = std::min(phaseWidth_, (pad + g_.w - phase + d - 1) / d);  // the first i past the image
    for (int u = u0; u < u1; ++u) {
      int8_t* row = base + u * rowBytes;
      if (u < pad || u >= pad + g_.h) {
        std::memset(row, 0, size_t(rowBytes));
        continue;
      }
      std::memset(row, 0, size_t(left) * cin);
      std::memset(row + int64_t(right) * cin, 0, size_t(phaseWidth_ - right) * cin);
    }
  }
}

// Output rows [r0, r1) of the batch in one go: the padded input rows they read are zero-padded and packed into act,
// then the tiles run. With threads each part has its own act, so the parts need no barrier between packing and the
// tiles (the few rows two parts both read are packed by both).
void AmxBinConv::part(const float* x, int xStride, float* y, int yStride, bool accumulate, int r0, int r1,
                      int8_t* act, RunStats* stats) const {
  int64_t t0 = stats ? threadCpuNs() : 0;
  for (int row = r0; row < r1;) {
    const int img = row / g_.ho, end = std::min(r1, (img + 1) * g_.ho);
    // Output rows oy read padded rows oy … oy + (k − 1)·d, which are image rows u − pad.
    const int u0 = row - img * g_.ho, u1 = end - img * g_.ho + (g_.k - 1) * g_.dilation;
    zeroPadding(act, img, u0, u1);
    const int iy0 = std::max(0, u0 - g_.pad), iy1 = std::min(g_.h, u1 - g_.pad);
    if (iy0 < iy1) packRows(x, xStride, img * g_.h + iy0, img * g_.h + iy1, act);
    row = end;
  }
  if (stats) {
    const int64_t t1 = threadCpuNs();
    stats->packNs += t1 - t0;
    t0 = t1;
  }
  dotRows(act, r0, r1, y, yStride, accumulate);
  if (stats) stats->dotNs += threadCpuNs() - t0;
}

void AmxBinConv::run(const float* x, int xStride, float* y, int yStride, bool accumulate, int n, int8_t* scratch,
                     int threads, Team* team, RunStats* stats) const {
  const int outRows = n * g_.ho;
  if (threads <= 1 || !team || outRows < 2) return part(x, xStride, y, yStride, accumulate, 0, outRows, scratch, stats);
  team->parallel(threads, [&](int t) {
    part(x, xStride, y, yStride, accumulate, int(int64_t(outRows) * t / threads),
         int(int64_t(outRows) * (t + 1) / threads), scratch + t * scratchBytes(n, 1), nullptr);
  });
}

double AmxBinConv::probeMacsPerSecond(int reps) const {
  // The tile loop and its epilogue alone over a random int8 image (the input packed once), all rows: a pair of tiles
  // spans rows, so one row alone would time a partial pair.
  std::vector<int8_t> act(size_t(scratchBytes(1, 1)));
  std::mt19937 rng(7);
  for (auto& v : act) v = int8_t(int(rng() % 3) - 1);
  std::vector<float> y(size_t(g_.ho) * g_.wo * nt_ * 16);
  const int runs = std::max(1, reps / std::max(1, g_.ho));
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < runs; ++i) dotRows(act.data(), 0, g_.ho, y.data(), nt_ * 16, false);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(g_.ho) * g_.wo * g_.cout * g_.k * g_.k * g_.cin * runs / sec);
  }
  return best;
}

}  // namespace bnas::packed
