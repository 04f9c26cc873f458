// Max and average pooling with their gradients, NHWC, matching the TF.js cpu backend exactly:
// - taps outside the input are skipped (never counted, never the max);
// - max: the first strictly greater value in row-major tap order wins, and its gradient goes to that tap only;
// - avg forward divides by the number of in-input taps, its gradient by the full kh·kw (TF.js' own convention; the
//   engine pads explicitly and calls 'valid', where both agree).
// Channels are innermost, so the inner loops are contiguous and the compiler vectorises them; target_clones builds
// AVX-512, AVX2 and baseline copies and picks one at load time.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "clones.h"
#include "kernels.h"
#include "parallel.h"

namespace bnas {
namespace {

// Pooling is memory-bound like the elementwise kernels: tensors of kParallelMinElements and more are shared between
// the threads (parallel.h).

inline bool parallel(const PoolGeometry& g) { return int64_t(g.n) * g.h * g.w * g.c >= kParallelMinElements; }

struct Window {
  int r0, r1, c0, c1;  // in-input rows [r0, r1), columns [c0, c1)
  int rCorner, cCorner;
};

inline Window windowOf(const PoolGeometry& g, int oy, int ox) {
  Window win;
  win.rCorner = oy * g.sh - g.pt;
  win.cCorner = ox * g.sw - g.pl;
  win.r0 = std::max(win.rCorner, 0);
  win.r1 = std::min(win.rCorner + g.kh, g.h);
  win.c0 = std::max(win.cCorner, 0);
  win.c1 = std::min(win.cCorner + g.kw, g.w);
  return win;
}

BNAS_CLONES void maxRow(const PoolGeometry& g, const float* x, float* y, int b, int oy) {
  const float* xb = x + static_cast<int64_t>(b) * g.h * g.w * g.c;
  for (int ox = 0; ox < g.ow; ++ox) {
    float* out = y + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.c;
    const Window win = windowOf(g, oy, ox);
    for (int c = 0; c < g.c; ++c) out[c] = -std::numeric_limits<float>::infinity();
    for (int r = win.r0; r < win.r1; ++r) {
      for (int col = win.c0; col < win.c1; ++col) {
        const float* in = xb + (static_cast<int64_t>(r) * g.w + col) * g.c;
        for (int c = 0; c < g.c; ++c) out[c] = in[c] > out[c] ? in[c] : out[c];
      }
    }
  }
}

BNAS_CLONES void avgRow(const PoolGeometry& g, const float* x, float* y, int b, int oy) {
  const float* xb = x + static_cast<int64_t>(b) * g.h * g.w * g.c;
  for (int ox = 0; ox < g.ow; ++ox) {
    float* out = y + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.c;
    const Window win = windowOf(g, oy, ox);
    std::memset(out, 0, sizeof(float) * g.c);
    int count = 0;
    for (int r = win.r0; r < win.r1; ++r) {
      for (int col = win.c0; col < win.c1; ++col) {
        const float* in = xb + (static_cast<int64_t>(r) * g.w + col) * g.c;
        for (int c = 0; c < g.c; ++c) out[c] += in[c];
        ++count;
      }
    }
    const float scale = 1.0f / static_cast<float>(count);
    for (int c = 0; c < g.c; ++c) out[c] *= scale;
  }
}

// Gradient of one image: every output scatters into its window, so images are independent (parallel over batch).
BNAS_CLONES void maxGradImage(const PoolGeometry& g, const float* x, const float* dy, float* dx, int b,
                              std::vector<float>& best, std::vector<int64_t>& where) {
  const int64_t imageSize = static_cast<int64_t>(g.h) * g.w * g.c;
  const float* xb = x + b * imageSize;
  float* dxb = dx + b * imageSize;
  for (int oy = 0; oy < g.oh; ++oy) {
    for (int ox = 0; ox < g.ow; ++ox) {
      const float* grad = dy + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.c;
      const Window win = windowOf(g, oy, ox);
      for (int c = 0; c < g.c; ++c) {
        best[c] = -std::numeric_limits<float>::infinity();
        where[c] = -1;
      }
      for (int r = win.r0; r < win.r1; ++r) {
        for (int col = win.c0; col < win.c1; ++col) {
          const int64_t base = (static_cast<int64_t>(r) * g.w + col) * g.c;
          const float* in = xb + base;
          for (int c = 0; c < g.c; ++c) {
            const bool greater = in[c] > best[c];
            best[c] = greater ? in[c] : best[c];
            where[c] = greater ? base + c : where[c];
          }
        }
      }
      for (int c = 0; c < g.c; ++c) {
        if (where[c] >= 0) dxb[where[c]] += grad[c];
      }
    }
  }
}

BNAS_CLONES void avgGradImage(const PoolGeometry& g, const float* dy, float* dx, int b) {
  const int64_t imageSize = static_cast<int64_t>(g.h) * g.w * g.c;
  float* dxb = dx + b * imageSize;
  const float scale = 1.0f / static_cast<float>(g.kh * g.kw);
  for (int oy = 0; oy < g.oh; ++oy) {
    for (int ox = 0; ox < g.ow; ++ox) {
      const float* grad = dy + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.c;
      const Window win = windowOf(g, oy, ox);
      for (int r = win.r0; r < win.r1; ++r) {
        for (int col = win.c0; col < win.c1; ++col) {
          float* out = dxb + (static_cast<int64_t>(r) * g.w + col) * g.c;
          for (int c = 0; c < g.c; ++c) out[c] += grad[c] * scale;
        }
      }
    }
  }
}

}  // namespace

int maxThreads() { return omp_get_max_threads(); }

void setThreads(int threads) {
  if (threads == omp_get_max_threads()) return;
  omp_set_num_threads(threads);
  clearConvPlans();
}

void maxPool(const PoolGeometry& g, const float* x, float* y) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel(g))
  for (int b = 0; b < g.n; ++b)
    for (int oy = 0; oy < g.oh; ++oy) maxRow(g, x, y, b, oy);
}

void avgPool(const PoolGeometry& g, const float* x, float* y) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel(g))
  for (int b = 0; b < g.n; ++b)
    for (int oy = 0; oy < g.oh; ++oy) avgRow(g, x, y, b, oy);
}

void maxPoolGrad(const PoolGeometry& g, const float* x, const float* dy, float* dx) {
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.n) * g.h * g.w * g.c);
#pragma omp parallel if (parallel(g))
  {
    std::vector<float> best(g.c);
    std::vector<int64_t> where(g.c);
#pragma omp for schedule(static)
    for (int b = 0; b < g.n; ++b) maxGradImage(g, x, dy, dx, b, best, where);
  }
}

void avgPoolGrad(const PoolGeometry& g, const float* dy, float* dx) {
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.n) * g.h * g.w * g.c);
#pragma omp parallel for schedule(static) if (parallel(g))
  for (int b = 0; b < g.n; ++b) avgGradImage(g, dy, dx, b);
}

}  // namespace bnas
