// Batch normalisation over N·H·W of an NHWC tensor (training mode), fused: statistics in one read of x, the forward
// in one pass, the backward in two, instead of the ~15 full-size elementwise passes of the op-by-op version.
// Sums are accumulated in double per channel (m is up to 32·32·32 = 32768 per channel in the search).
#include <cmath>
#include <vector>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BNAS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BNAS_CLONES
#endif

namespace bnas {
namespace {

BNAS_CLONES void accumulate(const float* row, double* sum, int64_t c) {
  for (int64_t j = 0; j < c; ++j) sum[j] += row[j];
}

BNAS_CLONES void accumulateCentredSquares(const float* row, const float* mean, double* sum, int64_t c) {
  for (int64_t j = 0; j < c; ++j) {
    const double d = static_cast<double>(row[j]) - mean[j];
    sum[j] += d * d;
  }
}

BNAS_CLONES void normaliseRow(const float* x, float* y, const float* scale, const float* shift, int64_t c) {
  for (int64_t j = 0; j < c; ++j) y[j] = x[j] * scale[j] + shift[j];
}

BNAS_CLONES void gradientSums(const float* dy, const float* x, const float* mean, double* sumDy, double* sumDyXc,
                              int64_t c) {
  for (int64_t j = 0; j < c; ++j) {
    sumDy[j] += dy[j];
    sumDyXc[j] += static_cast<double>(dy[j]) * (static_cast<double>(x[j]) - mean[j]);
  }
}

BNAS_CLONES void gradientRow(const float* dy, const float* x, float* dx, const float* a, const float* b,
                             const float* k, int64_t c) {
  for (int64_t j = 0; j < c; ++j) dx[j] = a[j] * dy[j] - b[j] * x[j] - k[j];
}

}  // namespace

void batchNormStats(const float* x, int64_t m, int64_t c, float* mean, float* variance) {
  std::vector<double> sum(c, 0.0);
  for (int64_t r = 0; r < m; ++r) accumulate(x + r * c, sum.data(), c);
  for (int64_t j = 0; j < c; ++j) mean[j] = static_cast<float>(sum[j] / m);
  std::vector<double> squares(c, 0.0);
  for (int64_t r = 0; r < m; ++r) accumulateCentredSquares(x + r * c, mean, squares.data(), c);
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
  for (int64_t r = 0; r < m; ++r) normaliseRow(x + r * c, y + r * c, scale.data(), shift.data(), c);
}

void batchNormBackward(const float* dy, const float* x, int64_t m, int64_t c, const float* mean,
                       const float* variance, const float* gamma, float eps, float* dx, float* dgamma, float* dbeta) {
  std::vector<double> sumDy(c, 0.0), sumDyXc(c, 0.0);
  for (int64_t r = 0; r < m; ++r) gradientSums(dy + r * c, x + r * c, mean, sumDy.data(), sumDyXc.data(), c);
  // dx = γ·inv·(dy − Σdy/m − x̂·Σ(dy·x̂)/m), x̂ = (x − μ)·inv, written as a·dy − b·x − k per channel.
  std::vector<float> a(c), b(c), k(c);
  for (int64_t j = 0; j < c; ++j) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(variance[j]) + eps);
    const double g = gamma ? gamma[j] : 1.0;
    const double dyXhat = sumDyXc[j] * inv;  // Σ dy·x̂
    const double bj = g * inv * inv * inv * sumDyXc[j] / m;  // coefficient of (x − μ)
    a[j] = static_cast<float>(g * inv);
    b[j] = static_cast<float>(bj);
    k[j] = static_cast<float>(g * inv * sumDy[j] / m - bj * mean[j]);
    if (dgamma) dgamma[j] = static_cast<float>(dyXhat);
    if (dbeta) dbeta[j] = static_cast<float>(sumDy[j]);
  }
  for (int64_t r = 0; r < m; ++r) gradientRow(dy + r * c, x + r * c, dx + r * c, a.data(), b.data(), k.data(), c);
}

}  // namespace bnas
