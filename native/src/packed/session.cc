// The run loop of the packed session: one arena for every tensor of a batch (regions planned by the TypeScript side),
// one scratch buffer for the binary convs' packed inputs and row streams, both grown to the largest batch run and kept.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <atomic>
#include <functional>
#include <stdexcept>

#include "plan.h"

namespace bnas::packed {

Session::Session(std::vector<Instruction> instructions, int64_t arenaPerImage, View input, int64_t inputPerImage,
                 View output, int64_t outputPerImage)
    : instructions_(std::move(instructions)),
      arenaPerImage_(arenaPerImage),
      inputPerImage_(inputPerImage),
      outputPerImage_(outputPerImage),
      input_(input),
      output_(output),
      isa_(bestBinaryIsa()) {
  // One image's arena and scratch, and oneDNN's plans for one image, made now on the loading thread: a run then
  // allocates nothing (runs happen on libuv's threads, where new allocations would open a malloc arena of their own).
  int64_t scratchWords = 0;
  for (const auto& in : instructions_)
    if (in.binconv) scratchWords = std::max(scratchWords, in.binconv->scratchWords(1, 1));
  arenas_.assign(1, std::vector<float>(size_t(arenaPerImage_)));
  scratches_.assign(1, std::vector<uint64_t>(size_t(scratchWords)));
  omp_set_num_threads(1);
  for (const auto& in : instructions_)
    if (in.conv) in.conv->prepare(1);
}

Session::~Session() = default;

int64_t Session::weightBytes() const {
  int64_t bytes = 0;
  for (const auto& in : instructions_) {
    if (in.binconv) bytes += in.binconv->weightBytes();
    if (in.conv) bytes += in.conv->weightBytes();
    bytes += int64_t(sizeof(float)) * int64_t(in.weight.size() + in.bias.size() + in.bn.mean.size() +
                                              in.bn.inv.size() + in.bn.gamma.size() + in.bn.beta.size());
  }
  return bytes;
}

int64_t Session::workBytes() const {
  int64_t bytes = 0;
  for (const auto& a : arenas_) bytes += int64_t(a.size() * sizeof(float));
  for (const auto& s : scratches_) bytes += int64_t(s.size() * sizeof(uint64_t));
  return bytes;
}

// A batch runs image by image: one image's tensors (the arena, ~2 MB for BNAS-A) stay in this core's cache through the
// whole network, where a batch-wide pass would stream every layer's batch through memory. With several threads the
// images are shared out, each thread with an arena of its own (no barrier between layers); a single image splits each
// binary conv's rows and packing between the threads instead.
void Session::run(const float* input, int n, float* output, int threads, RunStats* stats) {
  if (n < 1) throw std::invalid_argument("batch must be at least 1");
  threads = std::max(1, threads);
  std::lock_guard<std::mutex> lock(mutex_);
  const int teams = stats ? 1 : std::min(threads, n);
  const int inner = teams == 1 && n == 1 ? threads : 1;
  int64_t scratchWords = 0;
  for (const auto& in : instructions_)
    if (in.binconv) scratchWords = std::max(scratchWords, in.binconv->scratchWords(1, inner));
  if (int(arenas_.size()) < teams) arenas_.resize(teams), scratches_.resize(teams);
  for (int t = 0; t < teams; ++t) {
    if (int64_t(arenas_[t].size()) < arenaPerImage_) arenas_[t].resize(size_t(arenaPerImage_));
    if (int64_t(scratches_[t].size()) < scratchWords) scratches_[t].resize(size_t(scratchWords));
  }
  // oneDNN's float convs run on this thread alone: OpenMP's threads, spinning after each conv, would fight the
  // session's own team for the cores (measured: two threads then ran BNAS-A slower than one). Their plans are made
  // before any team starts.
  omp_set_num_threads(1);
  for (const auto& in : instructions_)
    if (in.conv) in.conv->prepare(1);
  Team::RunScope running(team_);
  if (teams == 1) {
    for (int img = 0; img < n; ++img)
      runImage(input + int64_t(img) * inputPerImage_, output + int64_t(img) * outputPerImage_, inner,
               arenas_[0].data(), scratches_[0].data(), stats);
    return;
  }
  std::atomic<int> next{0};
  team_.parallel(teams, [&](int t) {
    for (int img = next++; img < n; img = next++)
      runImage(input + int64_t(img) * inputPerImage_, output + int64_t(img) * outputPerImage_, 1, arenas_[t].data(),
               scratches_[t].data(), nullptr);
  });
}

void Session::runImage(const float* input, float* output, int threads, float* arena, uint64_t* scratch,
                       RunStats* stats) {
  const int n = 1;
  auto at = [&](const View& v) { return arena + v.region + v.offset; };
  std::memcpy(at(input_), input, sizeof(float) * size_t(inputPerImage_));
  if (stats) stats->nsByInstruction.assign(instructions_.size(), 0);
  for (size_t index = 0; index < instructions_.size(); ++index) {
    const Instruction& in = instructions_[index];
    const int64_t t0 = stats ? threadCpuNs() : 0;
    const Geometry& g = in.g;
    const int64_t pixelsIn = int64_t(n) * g.h * g.w;
    // Element-wise steps split by pixels between the threads where there is enough work to share.
    const bool split = threads > 1 && pixelsIn * g.cin >= (1 << 13);
    auto pixelwise = [&](int64_t pixels, const std::function<void(int64_t, int64_t)>& fn) {
      if (!split) return fn(0, pixels);
      team_.parallel(threads, [&](int t) { fn(pixels * t / threads, pixels * (t + 1) / threads); });
    };
    const float* x = at(in.in);
    const float* x2 = at(in.in2);
    float* y = at(in.out);
    const int xs = in.in.stride, x2s = in.in2.stride, ys = in.out.stride;
    switch (in.kind) {
      case Kind::Bn:
        pixelwise(pixelsIn, [&](int64_t a, int64_t b) { bnForward(x + a * xs, xs, y + a * ys, ys, b - a, g.cin, in.bn); });
        break;
      case Kind::BinConv:
        in.binconv->run(x, xs, y, ys, in.accumulate, n, scratch, threads, threads > 1 ? &team_ : nullptr, isa_, stats);
        break;
      case Kind::Conv: in.conv->run(x, y, n, 1); break;
      case Kind::Relu:
        pixelwise(pixelsIn, [&](int64_t a, int64_t b) { relu(x + a * xs, xs, y + a * ys, ys, b - a, g.cin); });
        break;
      case Kind::MaxPool:
      case Kind::AvgPool: {
        // Split by output rows: each thread pools its rows of the one image.
        const bool max = in.kind == Kind::MaxPool;
        if (!split || g.ho < threads) {
          pool3x3(max, x, xs, y, ys, n, g);
          break;
        }
        team_.parallel(threads, [&](int t) {
          pool3x3(max, x, xs, y, ys, n, g, g.ho * t / threads, g.ho * (t + 1) / threads);
        });
        break;
      }
      case Kind::Zero:
        pixelwise(int64_t(n) * g.ho * g.wo, [&](int64_t a, int64_t b) { zero(y + a * ys, ys, b - a, g.cout); });
        break;
      case Kind::Add:
        pixelwise(pixelsIn,
                  [&](int64_t a, int64_t b) { add(x + a * xs, xs, x2 + a * x2s, x2s, y + a * ys, ys, b - a, g.cin); });
        break;
      case Kind::Copy:
        pixelwise(pixelsIn, [&](int64_t a, int64_t b) { copy(x + a * xs, xs, y + a * ys, ys, b - a, g.cin); });
        break;
      case Kind::Gap: globalAvgPool(x, xs, y, ys, n, g.h * g.w, g.cin); break;
      case Kind::Linear: linear(x, xs, y, ys, n, g.cin, g.cout, in.weight.data(), in.bias.data()); break;
    }
    if (stats) {
      const int64_t ns = threadCpuNs() - t0;
      stats->nsByKind[int(in.kind)] += ns;
      stats->nsByInstruction[index] += ns;
    }
  }
  std::memcpy(output, at(output_), sizeof(float) * size_t(outputPerImage_));
}

}  // namespace bnas::packed
