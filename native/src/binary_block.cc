// The elementwise halves of a binary op (BN → sign → binary conv → ReLU) that the engine ran as JS loops: the
// normalised input's sign and the STE pass mask in one pass, and the masked gradients of the STE and of ReLU.
// Branch-free (the signs of normalised activations are unpredictable) and exactly the JS loops' arithmetic, so the
// results are bit-identical to the paths they replace.
#include <cmath>
#include <cstdint>
#include <vector>

#include "clones.h"
#include "kernels.h"
#include "parallel.h"

namespace bnas {
namespace {

// One row of c channels at a time would be a call per 8 values; blocks of p = c·(64/c) values repeat the per-channel
// scale and shift p/c times instead (as batchnorm.cc does).
int64_t blockWidth(int64_t c) { return (c <= 64 && 64 % c == 0) ? 64 : c; }

BNAS_CLONES void signBlocks(const float* x, float* signs, uint8_t* pass, int64_t n, int64_t p, const float* scale,
                            const float* shift) {
  for (int64_t start = 0; start < n; start += p) {
    const int64_t width = n - start < p ? n - start : p;
    for (int64_t j = 0; j < width; ++j) {
      // y rounded to float exactly as batchNormForward writes it, then torch.sign (sign(0) = 0, NaN → 0) and the
      // clipped STE's pass mask −1 < y < 1.
      const float y = x[start + j] * scale[j] + shift[j];
      signs[start + j] = static_cast<float>(y > 0.0f) - static_cast<float>(y < 0.0f);
      pass[start + j] = static_cast<uint8_t>((y < 1.0f) & (y > -1.0f));
    }
  }
}

// out = dy·keep + 0 with keep ∈ {0, 1}: + 0 makes a blocked −dy +0 (not −0), and NaN/Inf in dy still propagate, as
// the JS loops `g·(cond) + 0` did.
BNAS_CLONES void maskWithBytes(const float* dy, const uint8_t* keep, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = dy[i] * static_cast<float>(keep[i]) + 0.0f;
}

BNAS_CLONES void maskWherePositive(const float* dy, const float* ref, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = dy[i] * static_cast<float>(ref[i] > 0.0f) + 0.0f;
}

BNAS_CLONES void maskWhereInsideUnit(const float* dy, const float* ref, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = dy[i] * static_cast<float>((ref[i] < 1.0f) & (ref[i] > -1.0f)) + 0.0f;
}

}  // namespace

void batchNormSign(const float* x, int64_t m, int64_t c, const float* mean, const float* variance, const float* gamma,
                   const float* beta, float eps, float* signs, uint8_t* pass) {
  // The same per-channel scale and shift as batchNormForward (float32 from double), so y is the same float.
  const int64_t p = blockWidth(c);
  std::vector<float> scale(p), shift(p);
  for (int64_t j = 0; j < p; ++j) {
    const int64_t k = j % c;
    const double inv = 1.0 / std::sqrt(static_cast<double>(variance[k]) + eps);
    const double g = gamma ? gamma[k] : 1.0;
    scale[j] = static_cast<float>(inv * g);
    shift[j] = static_cast<float>((beta ? beta[k] : 0.0) - mean[k] * inv * g);
  }
  // Ranges of whole blocks, so every range starts at channel 0 of the tiled scale and shift.
  forRanges(m * c, p * 256, [&](int64_t begin, int64_t end) {
    signBlocks(x + begin, signs + begin, pass + begin, end - begin, p, scale.data(), shift.data());
  });
}

void maskGradient(int op, const float* dy, const void* ref, float* out, int64_t n) {
  forRanges(n, int64_t(1) << 14, [&](int64_t begin, int64_t end) {
    const float* g = dy + begin;
    float* o = out + begin;
    const int64_t count = end - begin;
    switch (op) {
      case kMaskBytes: maskWithBytes(g, static_cast<const uint8_t*>(ref) + begin, o, count); break;
      case kMaskPositive: maskWherePositive(g, static_cast<const float*>(ref) + begin, o, count); break;
      default: maskWhereInsideUnit(g, static_cast<const float*>(ref) + begin, o, count); break;
    }
  });
}

}  // namespace bnas
