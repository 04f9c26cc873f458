// XNOR-Net weight binarization of a latent conv weight [kh, kw, C_in, C_out] (seen as [n, C_out], n = kh·kw·C_in),
// its gradient transform, and BinOp's centre-and-clamp: the engine's host loops (ops/binarize.ts) in C++, with the
// same double-precision sums in the same order and the same float32 rounding points, so bit-identical to them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels.h"

namespace bnas {
namespace {

// JavaScript's Math.sign: ±1, or the value itself for ±0 (and NaN).
inline double jsSign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : v); }

inline double f32(double v) { return static_cast<double>(static_cast<float>(v)); }

// Rows of C_out values: element i belongs to output channel i % C_out. Walked row by row (a 64-bit modulo per
// element cost more than the arithmetic), in the same element order as the JS loops.

// α_o = fround(mean |W| over the n rows), summed in element order.
std::vector<double> perOutputAlpha(const float* w, int64_t length, int64_t cout) {
  std::vector<double> sums(cout, 0.0);
  for (int64_t row = 0; row < length; row += cout)
    for (int64_t o = 0; o < cout; ++o) sums[o] += std::fabs(static_cast<double>(w[row + o]));
  const double n = static_cast<double>(length / cout);
  for (int64_t o = 0; o < cout; ++o) sums[o] = f32(sums[o] / n);
  return sums;
}

}  // namespace

void binarizeWeight(const float* w, int64_t length, int64_t cout, float* out) {
  const std::vector<double> alpha = perOutputAlpha(w, length, cout);
  for (int64_t row = 0; row < length; row += cout)
    for (int64_t o = 0; o < cout; ++o) out[row + o] = static_cast<float>(jsSign(w[row + o]) * alpha[o]);
}

void binarizeWeightGrad(const float* w, const float* g, int64_t length, int64_t cin, int64_t cout, float* out) {
  const int64_t n = length / cout;
  const double factor = f32(static_cast<double>(n) * (1.0 - 1.0 / static_cast<double>(cin)));
  const std::vector<double> alpha = perOutputAlpha(w, length, cout);
  // (1/n)·Σ sign(W)·g per output channel.
  std::vector<double> viaAlpha(cout, 0.0);
  for (int64_t row = 0; row < length; row += cout)
    for (int64_t o = 0; o < cout; ++o) viaAlpha[o] += jsSign(w[row + o]) * static_cast<double>(g[row + o]);
  for (int64_t o = 0; o < cout; ++o) viaAlpha[o] = f32(f32(viaAlpha[o]) / static_cast<double>(n));
  for (int64_t row = 0; row < length; row += cout) {
    for (int64_t o = 0; o < cout; ++o) {
      const int64_t i = row + o;
      const double direct =
          std::fabs(static_cast<double>(w[i])) <= 1.0 ? f32(static_cast<double>(g[i]) * alpha[o]) : 0.0;
      out[i] = static_cast<float>(f32(direct + jsSign(w[i]) * viaAlpha[o]) * factor);
    }
  }
}

void centerAndClamp(const float* w, int64_t positions, int64_t cin, int64_t cout, float* out) {
  std::vector<double> means(cout);
  for (int64_t p = 0; p < positions; ++p) {
    const int64_t base = p * cin * cout;
    std::fill(means.begin(), means.end(), 0.0);
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t o = 0; o < cout; ++o) means[o] += w[base + c * cout + o];
    for (int64_t o = 0; o < cout; ++o) means[o] = f32(means[o] / static_cast<double>(cin));
    for (int64_t c = 0; c < cin; ++c) {
      for (int64_t o = 0; o < cout; ++o) {
        const int64_t i = base + c * cout + o;
        const double centred = f32(static_cast<double>(w[i]) - means[o]);
        // Math.min(1, Math.max(−1, v)): NaN stays NaN.
        out[i] = static_cast<float>(std::isnan(centred) ? centred : std::min(1.0, std::max(-1.0, centred)));
      }
    }
  }
}

}  // namespace bnas
