// The max pool gradient without a scatter: pool.cc's kernel tracked the winning tap's index per channel (an int64
// select beside the float max, which did not vectorise at C = 8) and then added each output's gradient through that
// index, one scalar store at a time. Here each window is read twice, both times along contiguous channels: first its
// maximum, then, tap by tap in row-major order, the first tap equal to that maximum takes the gradient (masked adds
// of 0 elsewhere). That is the same tap (the first strictly greater value wins, so the winner is the first occurrence
// of the final maximum; a window whose values are all −∞ or NaN gives no gradient, as before), and the same sums bit
// for bit: the adds of +0 change nothing, since dx starts at +0 and a sum that starts at +0 is never −0.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "clones.h"
#include "kernels.h"
#include "parallel.h"

namespace bnas {
namespace {

BNAS_CLONES void maxGradImage(const PoolGeometry& g, const float* x, const float* dy, float* dx, int b,
                              float* __restrict best, int32_t* __restrict pending) {
  const int64_t imageSize = static_cast<int64_t>(g.h) * g.w * g.c;
  const float* xb = x + b * imageSize;
  float* dxb = dx + b * imageSize;
  const int c = g.c;
  for (int oy = 0; oy < g.oh; ++oy) {
    const int rCorner = oy * g.sh - g.pt;
    const int r0 = std::max(rCorner, 0), r1 = std::min(rCorner + g.kh, g.h);
    for (int ox = 0; ox < g.ow; ++ox) {
      const int cCorner = ox * g.sw - g.pl;
      const int c0 = std::max(cCorner, 0), c1 = std::min(cCorner + g.kw, g.w);
      const float* __restrict grad = dy + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * c;
      for (int k = 0; k < c; ++k) best[k] = -std::numeric_limits<float>::infinity();
      for (int r = r0; r < r1; ++r)
        for (int col = c0; col < c1; ++col) {
          const float* __restrict in = xb + (static_cast<int64_t>(r) * g.w + col) * c;
          for (int k = 0; k < c; ++k) best[k] = in[k] > best[k] ? in[k] : best[k];
        }
      for (int k = 0; k < c; ++k) pending[k] = best[k] > -std::numeric_limits<float>::infinity() ? -1 : 0;
      for (int r = r0; r < r1; ++r)
        for (int col = c0; col < c1; ++col) {
          const int64_t base = (static_cast<int64_t>(r) * g.w + col) * c;
          const float* __restrict in = xb + base;
          float* __restrict out = dxb + base;
          for (int k = 0; k < c; ++k) {
            const int32_t hit = pending[k] & -static_cast<int32_t>(in[k] == best[k]);
            out[k] += hit ? grad[k] : 0.0f;
            pending[k] &= ~hit;
          }
        }
    }
  }
}

}  // namespace

void maxPoolGradFirstTap(const PoolGeometry& g, const float* x, const float* dy, float* dx) {
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.n) * g.h * g.w * g.c);
  const bool parallel = int64_t(g.n) * g.h * g.w * g.c >= kParallelMinElements;
#pragma omp parallel if (parallel)
  {
    std::vector<float> best(g.c);
    std::vector<int32_t> pending(g.c);
#pragma omp for schedule(static)
    for (int b = 0; b < g.n; ++b) maxGradImage(g, x, dy, dx, b, best.data(), pending.data());
  }
}

}  // namespace bnas
