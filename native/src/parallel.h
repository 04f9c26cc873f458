// Sharing a memory-bound pass between the OpenMP threads (threads > 1 only where the user or a machine with more than
// two cores asked for them: on a shared 2-core machine an OpenMP region can cost a whole scheduler slice, 4-8 ms).
// Work is split into fixed chunks of `chunk` elements whatever the thread count, and threads take contiguous runs of
// chunks, so a reduction that keeps one partial result per chunk and folds them in chunk order gives the same bits
// on 1, 2 or 16 threads.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace bnas {

// Below this many elements a pass runs on one thread (a region costs a few microseconds on an idle core).
constexpr int64_t kParallelMinElements = int64_t(1) << 16;

inline int64_t chunksOf(int64_t n, int64_t chunk) { return (n + chunk - 1) / chunk; }

// fn(chunkBegin, chunkEnd): a contiguous run of chunk indices, one run per thread.
template <typename F>
void forChunks(int64_t n, int64_t chunk, F&& fn) {
  const int64_t chunks = chunksOf(n, chunk);
  const int threads = n >= kParallelMinElements ? int(std::min<int64_t>(omp_get_max_threads(), chunks)) : 1;
  if (threads <= 1) return fn(int64_t(0), chunks);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    fn(chunks * t / team, chunks * (t + 1) / team);
  }
}

// fn(begin, end): element ranges (whole chunks but the last), one per thread.
template <typename F>
void forRanges(int64_t n, int64_t chunk, F&& fn) {
  forChunks(n, chunk, [&](int64_t c0, int64_t c1) {
    if (c0 < c1) fn(c0 * chunk, std::min(n, c1 * chunk));
  });
}

}  // namespace bnas
