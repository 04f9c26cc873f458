// The run loop of the packed session: one arena for every tensor of a batch (regions planned by the TypeScript side),
// one scratch buffer for the binary convs' packed inputs and row streams, both grown to the largest batch run and kept.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
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
      isa_(bestBinaryIsa()) {}

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
  return int64_t(arena_.size() * sizeof(float) + scratch_.size() * sizeof(uint64_t));
}

void Session::run(const float* input, int n, float* output, int threads, RunStats* stats) {
  if (n < 1) throw std::invalid_argument("batch must be at least 1");
  threads = std::max(1, threads);
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t arenaFloats = size_t(arenaPerImage_) * n;
  if (arena_.size() < arenaFloats) arena_.resize(arenaFloats);
  int64_t scratchWords = 0;
  for (const auto& in : instructions_)
    if (in.binconv) scratchWords = std::max(scratchWords, in.binconv->scratchWords(n, threads));
  if (int64_t(scratch_.size()) < scratchWords) scratch_.resize(size_t(scratchWords));
  // oneDNN (OpenMP runtime) takes its team size from this thread's ICV.
  omp_set_num_threads(threads);

  float* arena = arena_.data();
  auto at = [&](const View& v) { return arena + v.region * n + v.offset; };
  {
    float* dst = at(input_);
    std::memcpy(dst, input, sizeof(float) * size_t(inputPerImage_) * n);
  }
  for (const auto& in : instructions_) {
    const int64_t t0 = stats ? threadCpuNs() : 0;
    const Geometry& g = in.g;
    const int64_t pixelsIn = int64_t(n) * g.h * g.w;
    switch (in.kind) {
      case Kind::Bn: bnForward(at(in.in), in.in.stride, at(in.out), in.out.stride, pixelsIn, g.cin, in.bn); break;
      case Kind::BinConv:
        in.binconv->run(at(in.in), in.in.stride, at(in.out), in.out.stride, in.accumulate, n, scratch_.data(), threads,
                        isa_, stats);
        break;
      case Kind::Conv: in.conv->run(at(in.in), at(in.out), n, threads); break;
      case Kind::Relu: relu(at(in.in), in.in.stride, at(in.out), in.out.stride, pixelsIn, g.cin); break;
      case Kind::MaxPool:
      case Kind::AvgPool:
        pool3x3(in.kind == Kind::MaxPool, at(in.in), in.in.stride, at(in.out), in.out.stride, n, g);
        break;
      case Kind::Zero: zero(at(in.out), in.out.stride, int64_t(n) * g.ho * g.wo, g.cout); break;
      case Kind::Add:
        add(at(in.in), in.in.stride, at(in.in2), in.in2.stride, at(in.out), in.out.stride, pixelsIn, g.cin);
        break;
      case Kind::Copy: copy(at(in.in), in.in.stride, at(in.out), in.out.stride, pixelsIn, g.cin); break;
      case Kind::Gap: globalAvgPool(at(in.in), in.in.stride, at(in.out), in.out.stride, n, g.h * g.w, g.cin); break;
      case Kind::Linear:
        linear(at(in.in), in.in.stride, at(in.out), in.out.stride, n, g.cin, g.cout, in.weight.data(), in.bias.data());
        break;
    }
    if (stats) stats->nsByKind[int(in.kind)] += threadCpuNs() - t0;
  }
  const float* out = at(output_);
  for (int img = 0; img < n; ++img)
    std::memcpy(output + int64_t(img) * outputPerImage_, out + int64_t(img) * output_.stride,
                sizeof(float) * size_t(outputPerImage_));
}

}  // namespace bnas::packed
