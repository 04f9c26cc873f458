// Batch normalisation over N·H·W of an NHWC tensor (training mode), fused: statistics in one read of x, the forward
// in one pass, the backward in two, instead of the ~15 full-size elementwise passes of the op-by-op version.
// Sums are accumulated in double per channel (m is up to 32·32·32 = 32768 per channel in the search).
#include <algorithm>
#include <cmath>
#include <vector>

#include "clones.h"
#include "kernels.h"
#include "parallel.h"

namespace bnas {
namespace {

// The per-channel loops run over blocks of P = c·(64/c) values (64 when c divides 64: every channel count of the
// method, 8 to 64) rather than one row of c at a time, so each call does whole-vector work over many rows (a call
// per row of 8 channels was what the kernels spent their time in). Block position i belongs to channel i % c.
// Each of the P accumulators still sums its own values in row order; the partial sums are folded per channel at the
// end (a different summation order in double precision only).
int64_t blockWidth(int64_t c) { return (c <= 64 && 64 % c == 0) ? 64 : c; }

BNAS_CLONES void accumulateBlocks(const float* x, int64_t blocks, int64_t p, double* sum) {
  for (int64_t b = 0; b < blocks; ++b) {
    const float* row = x + b * p;
    for (int64_t j = 0; j < p; ++j) sum[j] += row[j];
  }
}

BNAS_CLONES void accumulateCentredSquaresBlocks(const float* x, int64_t blocks, int64_t p, const double* mean,
                                                double* sum) {
  for (int64_t b = 0; b < blocks; ++b) {
    const float* row = x + b * p;
    for (int64_t j = 0; j < p; ++j) {
      const double d = static_cast<double>(row[j]) - mean[j];
      sum[j] += d * d;
    }
  }
}

BNAS_CLONES void normaliseBlocks(const float* x, float* y, int64_t blocks, int64_t p, const float* scale,
                                 const float* shift) {
  for (int64_t b = 0; b < blocks; ++b) {
    const float* in = x + b * p;
    float* out = y + b * p;
    for (int64_t j = 0; j < p; ++j) out[j] = in[j] * scale[j] + shift[j];
  }
}

BNAS_CLONES void gradientSumsBlocks(const float* dy, const float* x, int64_t blocks, int64_t p, const double* mean,
                                    double* sumDy, double* sumDyXc) {
  for (int64_t b = 0; b < blocks; ++b) {
    const float* g = dy + b * p;
    const float* in = x + b * p;
    for (int64_t j = 0; j < p; ++j) {
      sumDy[j] += g[j];
      sumDyXc[j] += static_cast<double>(g[j]) * (static_cast<double>(in[j]) - mean[j]);
    }
  }
}

BNAS_CLONES void gradientBlocks(const float* dy, const float* x, float* dx, int64_t blocks, int64_t p, const float* a,
                                const float* b, const float* k) {
  for (int64_t r = 0; r < blocks; ++r) {
    const float* g = dy + r * p;
    const float* in = x + r * p;
    float* out = dx + r * p;
    for (int64_t j = 0; j < p; ++j) out[j] = a[j] * g[j] - b[j] * in[j] - k[j];
  }
}

// Per-channel values repeated across a block of width p (p is a multiple of c).
template <typename T, typename U>
std::vector<T> tile(const U* perChannel, int64_t c, int64_t p) {
  std::vector<T> out(p);
  for (int64_t j = 0; j < p; ++j) out[j] = static_cast<T>(perChannel[j % c]);
  return out;
}

// Full blocks of p values, then the remaining rows (fewer than p/c) as one block of their own width.
struct Blocks {
  int64_t p, full, tailStart, tailWidth;
};

Blocks splitBlocks(int64_t m, int64_t c) {
  const int64_t p = blockWidth(c);
  const int64_t n = m * c;
  const int64_t full = n / p;
  return {p, full, full * p, n - full * p};
}

// The full blocks in runs of kRunBlocks (parallel.h: a fixed split, so sums fold in the same order on any number of
// threads); fn(firstBlock, blocks, run) for each run, then the tail (fewer than p/c rows) on the caller's last run.
constexpr int64_t kRunBlocks = 256;

int64_t runsOf(const Blocks& bl) { return std::max<int64_t>(1, chunksOf(bl.full, kRunBlocks)); }

template <typename F>
void forBlockRuns(const Blocks& bl, F&& fn) {
  forChunks(bl.full * bl.p, kRunBlocks * bl.p, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t first = r * kRunBlocks;
      fn(first, std::min(bl.full, first + kRunBlocks) - first, r);
    }
  });
}

// Sums per block position over runs: acc holds one vector of p per run; folded into per-channel sums in run order.
std::vector<double> foldRuns(const std::vector<double>& acc, int64_t runs, int64_t p, int64_t c) {
  std::vector<double> sum(c, 0.0);
  for (int64_t r = 0; r < runs; ++r)
    for (int64_t j = 0; j < p; ++j) sum[j % c] += acc[r * p + j];
  return sum;
}

}  // namespace

void batchNormStats(const float* x, int64_t m, int64_t c, float* mean, float* variance) {
  const Blocks bl = splitBlocks(m, c);
  const int64_t runs = runsOf(bl);
  std::vector<double> acc(runs * bl.p, 0.0);
  forBlockRuns(bl, [&](int64_t first, int64_t blocks, int64_t r) {
    accumulateBlocks(x + first * bl.p, blocks, bl.p, acc.data() + r * bl.p);
  });
  if (bl.tailWidth > 0) accumulateBlocks(x + bl.tailStart, 1, bl.tailWidth, acc.data() + (runs - 1) * bl.p);
  const std::vector<double> sum = foldRuns(acc, runs, bl.p, c);
  for (int64_t j = 0; j < c; ++j) mean[j] = static_cast<float>(sum[j] / m);
  const std::vector<double> meanTiled = tile<double>(mean, c, bl.p);
  std::fill(acc.begin(), acc.end(), 0.0);
  forBlockRuns(bl, [&](int64_t first, int64_t blocks, int64_t r) {
    accumulateCentredSquaresBlocks(x + first * bl.p, blocks, bl.p, meanTiled.data(), acc.data() + r * bl.p);
  });
  if (bl.tailWidth > 0)
    accumulateCentredSquaresBlocks(x + bl.tailStart, 1, bl.tailWidth, meanTiled.data(),
                                   acc.data() + (runs - 1) * bl.p);
  const std::vector<double> squares = foldRuns(acc, runs, bl.p, c);
  for (int64_t j = 0; j < c; ++j) variance[j] = static_cast<float>(squares[j] / m);
}

void batchNormForward(const float* x, int64_t m, int64_t c, const float* mean, const float* variance,
                      const float* gamma, const float* beta, float eps, float* y) {
  // y = (x − μ)·inv·γ + β = x·scale + shift
  std::vector<float> scale(c), shift(c);
  for (int64_t j = 0; j < c; ++j) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(variance[j]) + eps);
    const double g = gamma ? gamma[j] : 1.0;
    scale[j] = static_cast<float>(inv * g);
    shift[j] = static_cast<float>((beta ? beta[j] : 0.0) - mean[j] * inv * g);
  }
  const Blocks bl = splitBlocks(m, c);
  const std::vector<float> scaleTiled = tile<float>(scale.data(), c, bl.p);
  const std::vector<float> shiftTiled = tile<float>(shift.data(), c, bl.p);
  forBlockRuns(bl, [&](int64_t first, int64_t blocks, int64_t) {
    normaliseBlocks(x + first * bl.p, y + first * bl.p, blocks, bl.p, scaleTiled.data(), shiftTiled.data());
  });
  if (bl.tailWidth > 0)
    normaliseBlocks(x + bl.tailStart, y + bl.tailStart, 1, bl.tailWidth, scaleTiled.data(), shiftTiled.data());
}

void batchNormBackward(const float* dy, const float* x, int64_t m, int64_t c, const float* mean,
                       const float* variance, const float* gamma, float eps, float* dx, float* dgamma, float* dbeta) {
  // mean == nullptr: x is already x̂, the output of an affine-free BN (its caller kept y instead of the input).
  const bool normalized = mean == nullptr;
  const Blocks bl = splitBlocks(m, c);
  const std::vector<double> zeros(c, 0.0);
  const std::vector<double> meanTiled = normalized ? tile<double>(zeros.data(), c, bl.p) : tile<double>(mean, c, bl.p);
  const int64_t runs = runsOf(bl);
  std::vector<double> accDy(runs * bl.p, 0.0), accDyXc(runs * bl.p, 0.0);
  forBlockRuns(bl, [&](int64_t first, int64_t blocks, int64_t r) {
    gradientSumsBlocks(dy + first * bl.p, x + first * bl.p, blocks, bl.p, meanTiled.data(), accDy.data() + r * bl.p,
                       accDyXc.data() + r * bl.p);
  });
  if (bl.tailWidth > 0)
    gradientSumsBlocks(dy + bl.tailStart, x + bl.tailStart, 1, bl.tailWidth, meanTiled.data(),
                       accDy.data() + (runs - 1) * bl.p, accDyXc.data() + (runs - 1) * bl.p);
  const std::vector<double> sumDy = foldRuns(accDy, runs, bl.p, c), sumDyXc = foldRuns(accDyXc, runs, bl.p, c);
  // dx = γ·inv·(dy − Σdy/m − x̂·Σ(dy·x̂)/m), x̂ = (x − μ)·inv, written as a·dy − b·x − k per channel. From x̂ itself
  // (normalized) the same with x̂ in place of x − μ and no inv inside the sums.
  std::vector<float> a(c), b(c), k(c);
  for (int64_t j = 0; j < c; ++j) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(variance[j]) + eps);
    const double g = gamma ? gamma[j] : 1.0;
    const double dyXhat = normalized ? sumDyXc[j] : sumDyXc[j] * inv;  // Σ dy·x̂
    // coefficient of (x − μ), or of x̂ when normalized
    const double bj = normalized ? g * inv * sumDyXc[j] / m : g * inv * inv * inv * sumDyXc[j] / m;
    a[j] = static_cast<float>(g * inv);
    b[j] = static_cast<float>(bj);
    k[j] = static_cast<float>(g * inv * sumDy[j] / m - (normalized ? 0.0 : bj * mean[j]));
    if (dgamma) dgamma[j] = static_cast<float>(dyXhat);
    if (dbeta) dbeta[j] = static_cast<float>(sumDy[j]);
  }
  const std::vector<float> at = tile<float>(a.data(), c, bl.p), bt = tile<float>(b.data(), c, bl.p),
                           kt = tile<float>(k.data(), c, bl.p);
  forBlockRuns(bl, [&](int64_t first, int64_t blocks, int64_t) {
    const int64_t o = first * bl.p;
    gradientBlocks(dy + o, x + o, dx + o, blocks, bl.p, at.data(), bt.data(), kt.data());
  });
  if (bl.tailWidth > 0)
    gradientBlocks(dy + bl.tailStart, x + bl.tailStart, dx + bl.tailStart, 1, bl.tailWidth, at.data(), bt.data(),
                   kt.data());
}

}  // namespace bnas
