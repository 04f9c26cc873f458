// The float steps of the packed session over strided views (a pixel's channels are contiguous; pixels are `stride`
// floats apart, so a node can be written straight into its slice of the cell's concat). Every op rounds as the
// reference runtime (reference.ts) does; the file is built with -ffp-contract=off so no multiply-add is fused.
// Loops are cloned for AVX-512, AVX2 and baseline x86-64 and picked at load time by the CPU.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../clones.h"
#include "plan.h"

namespace bnas::packed {

BNAS_CLONES
void bnForward(const float* x, int xStride, float* y, int yStride, int64_t pixels, int c, const Bn& bn) {
  const float* mean = bn.mean.data();
  const float* inv = bn.inv.data();
  const float* gamma = bn.gamma.empty() ? nullptr : bn.gamma.data();
  const float* beta = bn.beta.empty() ? nullptr : bn.beta.data();
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    float* yp = y + p * yStride;
    if (gamma && beta) {
      for (int i = 0; i < c; ++i) yp[i] = ((xp[i] - mean[i]) * inv[i]) * gamma[i] + beta[i];
    } else {
      for (int i = 0; i < c; ++i) {
        float v = (xp[i] - mean[i]) * inv[i];
        if (gamma) v = v * gamma[i];
        if (beta) v = v + beta[i];
        yp[i] = v;
      }
    }
  }
}

BNAS_CLONES
void relu(const float* x, int xStride, float* y, int yStride, int64_t pixels, int c) {
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    float* yp = y + p * yStride;
    for (int i = 0; i < c; ++i) yp[i] = xp[i] > 0 ? xp[i] : 0.0f;
  }
}

BNAS_CLONES
void add(const float* a, int aStride, const float* b, int bStride, float* y, int yStride, int64_t pixels, int c) {
  for (int64_t p = 0; p < pixels; ++p) {
    const float* ap = a + p * aStride;
    const float* bp = b + p * bStride;
    float* yp = y + p * yStride;
    for (int i = 0; i < c; ++i) yp[i] = ap[i] + bp[i];
  }
}

BNAS_CLONES
void copy(const float* x, int xStride, float* y, int yStride, int64_t pixels, int c) {
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * xStride;
    float* yp = y + p * yStride;
    for (int i = 0; i < c; ++i) yp[i] = xp[i];
  }
}

BNAS_CLONES
void zero(float* y, int yStride, int64_t pixels, int c) {
  for (int64_t p = 0; p < pixels; ++p) {
    float* yp = y + p * yStride;
    for (int i = 0; i < c; ++i) yp[i] = 0.0f;
  }
}

// 3×3, padding 1: max pool where pads never win (taps outside the image are skipped), average pool over the in-image
// taps only (count_include_pad = False), summed in double and rounded once, as the reference runtime does.
BNAS_CLONES
void pool3x3(bool max, const float* x, int xStride, float* y, int yStride, int n, const Geometry& g, int rowBegin,
             int rowEnd) {
  const int c = g.cin;
  if (rowEnd < 0) rowEnd = g.ho;
  std::vector<double> acc(max ? 0 : c);
  for (int img = 0; img < n; ++img) {
    for (int oy = rowBegin; oy < rowEnd; ++oy) {
      for (int ox = 0; ox < g.wo; ++ox) {
        float* yp = y + ((int64_t(img) * g.ho + oy) * g.wo + ox) * yStride;
        const int y0 = std::max(oy * g.stride - 1, 0), y1 = std::min(oy * g.stride + 2, g.h);
        const int x0 = std::max(ox * g.stride - 1, 0), x1 = std::min(ox * g.stride + 2, g.w);
        if (max) {
          for (int i = 0; i < c; ++i) yp[i] = -std::numeric_limits<float>::infinity();
        } else {
          std::fill(acc.begin(), acc.end(), 0.0);
        }
        for (int iy = y0; iy < y1; ++iy) {
          for (int ix = x0; ix < x1; ++ix) {
            const float* xp = x + ((int64_t(img) * g.h + iy) * g.w + ix) * xStride;
            if (max) {
              for (int i = 0; i < c; ++i) yp[i] = xp[i] > yp[i] ? xp[i] : yp[i];
            } else {
              for (int i = 0; i < c; ++i) acc[i] += xp[i];
            }
          }
        }
        if (!max) {
          const double count = double((y1 - y0) * (x1 - x0));
          for (int i = 0; i < c; ++i) yp[i] = float(acc[i] / count);
        }
      }
    }
  }
}

void globalAvgPool(const float* x, int xStride, float* y, int yStride, int n, int hw, int c) {
  std::vector<double> sum(c);
  for (int img = 0; img < n; ++img) {
    std::fill(sum.begin(), sum.end(), 0.0);
    for (int p = 0; p < hw; ++p) {
      const float* xp = x + (int64_t(img) * hw + p) * xStride;
      for (int i = 0; i < c; ++i) sum[i] += xp[i];
    }
    float* yp = y + int64_t(img) * yStride;
    for (int i = 0; i < c; ++i) yp[i] = float(sum[i] / hw);
  }
}

// w is [fin][fout], as the export graph stores it; sums in double as the reference does.
void linear(const float* x, int xStride, float* y, int yStride, int n, int fin, int fout, const float* w,
            const float* b) {
  std::vector<double> acc(fout);
  for (int img = 0; img < n; ++img) {
    const float* xp = x + int64_t(img) * xStride;
    for (int o = 0; o < fout; ++o) acc[o] = 0;
    for (int i = 0; i < fin; ++i) {
      const double xv = xp[i];
      const float* wr = w + int64_t(i) * fout;
      for (int o = 0; o < fout; ++o) acc[o] += xv * wr[o];
    }
    float* yp = y + int64_t(img) * yStride;
    for (int o = 0; o < fout; ++o) yp[o] = float(acc[o] + b[o]);
  }
}

}  // namespace bnas::packed
