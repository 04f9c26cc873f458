// Data movement, broadcasting arithmetic and reductions on float32 tensors. The TF.js cpu backend does these with
// per-element index arithmetic (Slice, Pad, broadcasting binary ops, reductions over leading axes), which dominates a
// BNAS step once the convolutions are native. The TypeScript side collapses shapes first: adjacent dimensions that
// are contiguous in every operand are merged, so these kernels see rank ≤ 6 and a contiguous innermost run.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "clones.h"
#include "kernels.h"
#include "parallel.h"

namespace bnas {
namespace {

// Memory-bound: arrays of kParallelMinElements and more are shared between the threads (parallel.h says when).

// Row index (all dims but the last) to element offsets, for up to kMaxRank dims.
inline void rowOffsets(int64_t row, const int64_t* shape, int rank, const int64_t* const* strides, int count,
                       int64_t* offsets) {
  for (int k = 0; k < count; ++k) offsets[k] = 0;
  for (int d = rank - 2; d >= 0; --d) {
    const int64_t i = row % shape[d];
    row /= shape[d];
    for (int k = 0; k < count; ++k) offsets[k] += i * strides[k][d];
  }
}

int64_t rowsOf(const int64_t* shape, int rank) {
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  return rows;
}

template <typename Op, typename Out>
BNAS_CLONES void binaryRow(Op op, const float* a, const float* b, Out* out, int64_t n, int64_t sa, int64_t sb) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa == 1) {
    const float v = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], v);
  } else if (sb == 1) {
    const float v = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(v, b[i]);
  } else {
    const Out v = op(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

template <typename Op, typename Out>
void binaryAll(Op op, const float* a, const float* b, Out* out, const int64_t* shape, int rank,
               const int64_t* sa, const int64_t* sb) {
  const int64_t rows = rowsOf(shape, rank);
  const int64_t inner = shape[rank - 1];
  const int64_t* strides[2] = {sa, sb};
  if (rows == 1) {
    // One long row (a contiguous or scalar-broadcast operation): its ranges are shared instead of its rows.
    const int64_t ia = sa[rank - 1], ib = sb[rank - 1];
    forRanges(inner, int64_t(1) << 14, [&](int64_t begin, int64_t end) {
      binaryRow(op, a + begin * ia, b + begin * ib, out + begin, end - begin, ia, ib);
    });
    return;
  }
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelMinElements)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t off[2];
    rowOffsets(row, shape, rank, strides, 2, off);
    binaryRow(op, a + off[0], b + off[1], out + row * inner, inner, sa[rank - 1], sb[rank - 1]);
  }
}

template <typename Op>
BNAS_CLONES void unaryRange(Op op, const float* x, float* y, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) y[i] = op(x[i]);
}

template <typename Op>
void unaryAll(Op op, const float* x, float* y, int64_t n) {
  forRanges(n, int64_t(1) << 14, [&](int64_t begin, int64_t end) { unaryRange(op, x, y, begin, end); });
}

BNAS_CLONES void addColumns(const float* x, double* acc, int64_t inner) {
  for (int64_t j = 0; j < inner; ++j) acc[j] += x[j];
}

}  // namespace

void copyBox(const float* src, const int64_t* srcStrides, float* dst, const int64_t* dstStrides, const int64_t* size,
             int rank) {
  const int64_t rows = rowsOf(size, rank);
  const int64_t inner = size[rank - 1];
  if (inner == 0 || rows == 0) return;
  const int64_t* strides[2] = {srcStrides, dstStrides};
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelMinElements)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t off[2];
    rowOffsets(row, size, rank, strides, 2, off);
    if (srcStrides[rank - 1] == 1 && dstStrides[rank - 1] == 1) {
      std::memcpy(dst + off[1], src + off[0], sizeof(float) * inner);
    } else {
      for (int64_t i = 0; i < inner; ++i) dst[off[1] + i * dstStrides[rank - 1]] = src[off[0] + i * srcStrides[rank - 1]];
    }
  }
}

void fill(float* dst, int64_t n, float value) {
  if (value == 0.0f) {
    std::memset(dst, 0, sizeof(float) * n);
    return;
  }
  std::fill(dst, dst + n, value);
}

bool binaryOp(int op, const float* a, const float* b, float* out, const int64_t* shape, int rank, const int64_t* sa,
              const int64_t* sb) {
  switch (op) {
    case 0: binaryAll([](float x, float y) { return x + y; }, a, b, out, shape, rank, sa, sb); return true;
    case 1: binaryAll([](float x, float y) { return x - y; }, a, b, out, shape, rank, sa, sb); return true;
    case 2: binaryAll([](float x, float y) { return x * y; }, a, b, out, shape, rank, sa, sb); return true;
    case 3: binaryAll([](float x, float y) { return x / y; }, a, b, out, shape, rank, sa, sb); return true;
    case 4: binaryAll([](float x, float y) { return (x - y) * (x - y); }, a, b, out, shape, rank, sa, sb); return true;
    case 5: binaryAll([](float x, float y) { return std::isnan(x) || x > y ? x : y; }, a, b, out, shape, rank, sa, sb); return true;
    case 6: binaryAll([](float x, float y) { return std::isnan(x) || x < y ? x : y; }, a, b, out, shape, rank, sa, sb); return true;
    default: return false;
  }
}

bool compareOp(int op, const float* a, const float* b, uint8_t* out, const int64_t* shape, int rank, const int64_t* sa,
               const int64_t* sb) {
  using u8 = uint8_t;
  switch (op) {
    case 0: binaryAll([](float x, float y) -> u8 { return x < y; }, a, b, out, shape, rank, sa, sb); return true;
    case 1: binaryAll([](float x, float y) -> u8 { return x <= y; }, a, b, out, shape, rank, sa, sb); return true;
    case 2: binaryAll([](float x, float y) -> u8 { return x > y; }, a, b, out, shape, rank, sa, sb); return true;
    case 3: binaryAll([](float x, float y) -> u8 { return x >= y; }, a, b, out, shape, rank, sa, sb); return true;
    case 4: binaryAll([](float x, float y) -> u8 { return x == y; }, a, b, out, shape, rank, sa, sb); return true;
    default: return false;
  }
}

BNAS_CLONES void select(const uint8_t* condition, const float* t, const float* e, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = condition[i] ? t[i] : e[i];
}

bool unaryOp(int op, const float* x, float* y, int64_t n, float alpha) {
  switch (op) {
    case 0: unaryAll([](float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }, x, y, n); return true;  // sign(NaN) = 0 as in tf
    case 1: unaryAll([](float v) { return std::fabs(v); }, x, y, n); return true;
    case 2: unaryAll([](float v) { return v < 0.0f ? 0.0f : v; }, x, y, n); return true;
    case 3: unaryAll([](float v) { return -v; }, x, y, n); return true;
    case 4: unaryAll([](float v) { return v * v; }, x, y, n); return true;
    case 5: unaryAll([](float v) { return 1.0f / std::sqrt(v); }, x, y, n); return true;
    case 6: unaryAll([](float v) { return std::sqrt(v); }, x, y, n); return true;
    case 7: unaryAll([alpha](float v) { return std::isnan(v) ? v : (v > 0.0f ? 1.0f : alpha); }, x, y, n); return true;
    default: return false;
  }
}

// x viewed as [outer, reduce, inner]; out[o, i] = Σ_r x[o, r, i] · scale, accumulated in double like the cpu backend.
void reduceSum(const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner, double scale) {
  if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * reduce >= kParallelMinElements)
    for (int64_t o = 0; o < outer; ++o) {
      const float* row = x + o * reduce;
      double sum = 0;
      for (int64_t r = 0; r < reduce; ++r) sum += row[r];
      out[o] = static_cast<float>(sum * scale);
    }
    return;
  }
  const int threads = (outer * reduce * inner >= kParallelMinElements) ? omp_get_max_threads() : 1;
  for (int64_t o = 0; o < outer; ++o) {
    const float* block = x + o * reduce * inner;
    // Each thread sums a band of rows into its own accumulator; the bands are added at the end.
    std::vector<double> partial(static_cast<size_t>(threads) * inner, 0.0);
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      double* acc = partial.data() + static_cast<size_t>(t) * inner;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < reduce; ++r) addColumns(block + r * inner, acc, inner);
    }
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0;
      for (int t = 0; t < threads; ++t) sum += partial[static_cast<size_t>(t) * inner + i];
      out[o * inner + i] = static_cast<float>(sum * scale);
    }
  }
}

}  // namespace bnas

namespace bnas {

// y = Σ_k w[k]·terms[k], one pass (the α-weighted mixture of a search edge).
void weightedSum(const float* const* terms, int count, const float* w, int64_t n, float* y) {
  const int64_t chunk = 1 << 14;
  forRanges(n, chunk, [&](int64_t first, int64_t last) {
    for (int64_t begin = first; begin < last; begin += chunk) {
      const int64_t end = std::min(last, begin + chunk);
      const float w0 = w[0];
      const float* t0 = terms[0];
      for (int64_t i = begin; i < end; ++i) y[i] = w0 * t0[i];
      for (int k = 1; k < count; ++k) {
        const float wk = w[k];
        const float* tk = terms[k];
        for (int64_t i = begin; i < end; ++i) y[i] += wk * tk[i];
      }
    }
  });
}

// dterms[k] = w[k]·dy and dw[k] = Σ dy·terms[k] (double accumulation). The dot products run in 16 interleaved double
// partial sums per term folded at the end: one serial chain of dependent double adds was latency-bound (~4 cycles a
// value). The array is walked in chunks of 16K values with every term inside a chunk, so dy is read from memory once
// (from cache for the other terms) instead of once per term.
namespace {
constexpr int64_t kLanes = 16;

// d may not alias dy or t, and the partial sums live in locals: with plain pointers the compiler had to assume that
// a store to d could change acc, dy or t, and kept acc in memory (BnasWeightedSumGrad in a 5-cell step's profile:
// 121-133 → 90 ms).
BNAS_CLONES void scaleAndDotChunk(const float* __restrict dy, const float* __restrict t, float w, int64_t begin,
                                       int64_t end, float* __restrict d, double* acc) {
  double a[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) a[j] = acc[j];
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) {
      d[i + j] = w * dy[i + j];
      a[j] += static_cast<double>(dy[i + j]) * t[i + j];
    }
  }
  for (int64_t j = 0; i < end; ++i, ++j) {
    d[i] = w * dy[i];
    a[j] += static_cast<double>(dy[i]) * t[i];
  }
  for (int64_t j = 0; j < kLanes; ++j) acc[j] = a[j];
}
}  // namespace

void weightedSumGrad(const float* dy, const float* const* terms, int count, const float* w, int64_t n,
                     float* const* dterms, float* dw) {
  // One set of partial sums per run of kRun chunks (a fixed split, parallel.h), folded in order: the same dw on any
  // number of threads.
  const int64_t chunk = 1 << 14;  // a multiple of kLanes: lanes line up across chunks
  constexpr int64_t kRun = 4;
  const int64_t runs = chunksOf(chunksOf(n, chunk), kRun);
  std::vector<double> acc(static_cast<size_t>(runs * count * kLanes), 0.0);
  forChunks(n, chunk * kRun, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double* runAcc = acc.data() + r * count * kLanes;
      for (int64_t begin = r * kRun * chunk; begin < std::min(n, (r + 1) * kRun * chunk); begin += chunk) {
        const int64_t end = std::min(n, begin + chunk);
        for (int k = 0; k < count; ++k)
          scaleAndDotChunk(dy, terms[k], w[k], begin, end, dterms[k], runAcc + k * kLanes);
      }
    }
  });
  for (int k = 0; k < count; ++k) {
    double dot = 0;
    for (int64_t r = 0; r < runs; ++r)
      for (int64_t j = 0; j < kLanes; ++j) dot += acc[(r * count + k) * kLanes + j];
    dw[k] = static_cast<float>(dot);
  }
}

}  // namespace bnas
