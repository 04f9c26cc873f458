// Float convolutions of the packed session (stem, the reduction cells' 2×2 stride-2 residual convs) on the addon's
// own direct kernels (../conv_own.h), for builds without oneDNN; float_conv.cc is the oneDNN version. The filter is
// re-laid once at construction (the only copy kept); bias and ReLU are applied in the kernel's store.
#include <algorithm>
#include <chrono>
#include <vector>

#include "../conv_own.h"
#include "plan.h"

namespace bnas::packed {

struct FloatConvLayer::Impl {
  own::PackedFilter weight;
  std::vector<float> bias;  // [cout] (empty: none)
  bool relu = false;
};

namespace {
ConvGeometry convGeometry(const Geometry& g, int n) {
  // PyTorch's symmetric padding; the bottom/right pad is what makes the output size come out as the graph says.
  const int pb = (g.ho - 1) * g.stride + (g.k - 1) * g.dilation + 1 - g.h - g.pad;
  const int pr = (g.wo - 1) * g.stride + (g.k - 1) * g.dilation + 1 - g.w - g.pad;
  return ConvGeometry{n, g.h, g.w, g.cin, g.ho, g.wo, g.cout, g.k, g.k, g.stride, g.stride, g.dilation, g.dilation,
                      g.pad, g.pad, pb, pr};
}
}  // namespace

FloatConvLayer::FloatConvLayer(const Geometry& geometry, const float* w, const float* b, bool relu)
    : g(geometry), impl_(new Impl) {
  impl_->weight = own::packForward(w, g.k * g.k, g.cin, g.cout);
  if (b) impl_->bias.assign(b, b + g.cout);
  impl_->relu = relu;
}

FloatConvLayer::~FloatConvLayer() = default;

int64_t FloatConvLayer::weightBytes() const {
  return int64_t(sizeof(float)) * int64_t(impl_->weight.data.size() + impl_->bias.size());
}

// Nothing to plan per batch size.
void FloatConvLayer::prepare(int) {}

void FloatConvLayer::run(const float* x, float* y, int n, int threads) {
  own::forward(convGeometry(g, n), x, impl_->weight, impl_->bias.empty() ? nullptr : impl_->bias.data(), impl_->relu,
               y, threads);
}

double FloatConvLayer::probeMacsPerSecond(int n, int threads, int reps) {
  std::vector<float> x(size_t(n) * g.h * g.w * g.cin, 0.5f), y(size_t(n) * g.ho * g.wo * g.cout);
  run(x.data(), y.data(), n, threads);  // warm
  const double macs = double(n) * g.ho * g.wo * g.cout * g.k * g.k * g.cin;
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) run(x.data(), y.data(), n, threads);
    best = std::max(best, macs * reps / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace bnas::packed
