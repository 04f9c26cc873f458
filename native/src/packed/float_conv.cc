// Float convolutions of the packed session (stem, the reduction cells' 2×2 stride-2 residual convs) on oneDNN, the
// tuned library PyTorch's CPU convs use. Unlike the engine's TF.js kernel (conv_dnnl.cc), which reorders the filter
// on every call, the session reorders each filter once per batch size into the layout the primitive wants, and keeps
// it; bias and ReLU run inside the primitive.
#include <chrono>
#include <algorithm>
#include <map>
#include <omp.h>
#include <unordered_map>
#include <stdexcept>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "plan.h"

namespace bnas::packed {

namespace {
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// Never destroyed: destructors at exit can run after oneDNN's globals and OpenMP are gone (see conv_dnnl.cc).
dnnl::engine& engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}
}  // namespace

struct FloatConvLayer::Impl {
  std::vector<float> bias;  // [cout] (empty: none)
  bool relu;
  struct Plan {
    dnnl::convolution_forward prim;
    memory weights, bias;
    memory::desc src, dst, scratchpad;
  };
  std::map<int, Plan> plans;  // by batch size

  // userWeight: the caller's [kh][kw][cin][cout], which the first plan (the constructor's) reorders from.
  Plan& plan(const Geometry& g, int n, const float* userWeight = nullptr) {
    auto found = plans.find(n);
    if (found != plans.end()) return found->second;
    const memory::desc src({n, g.cin, g.h, g.w}, dt::f32, tag::nhwc);
    const memory::desc dst({n, g.cout, g.ho, g.wo}, dt::f32, tag::nhwc);
    const memory::desc wAny({g.cout, g.cin, g.k, g.k}, dt::f32, tag::any);
    const memory::desc wUser({g.cout, g.cin, g.k, g.k}, dt::f32, tag::hwio);
    const memory::desc bDesc({g.cout}, dt::f32, tag::x);
    const memory::dims strides{g.stride, g.stride}, dilates{g.dilation - 1, g.dilation - 1};
    // PyTorch's symmetric padding; the bottom/right pad is what makes the output size come out as the graph says.
    const memory::dims padL{g.pad, g.pad};
    const memory::dims padR{(g.ho - 1) * g.stride + (g.k - 1) * g.dilation + 1 - g.h - g.pad,
                            (g.wo - 1) * g.stride + (g.k - 1) * g.dilation + 1 - g.w - g.pad};
    const bool hasBias = !bias.empty();
    auto desc = hasBias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                          dnnl::algorithm::convolution_direct, src, wAny, bDesc, dst,
                                                          strides, dilates, padL, padR)
                        : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                          dnnl::algorithm::convolution_direct, src, wAny, dst, strides,
                                                          dilates, padL, padR);
    dnnl::primitive_attr attr;
    // The caller's scratchpad: threads running images at once must not share oneDNN's library-managed one.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
    Plan p;
    p.prim = dnnl::convolution_forward(pd);
    p.src = src;
    p.dst = dst;
    p.scratchpad = pd.scratchpad_desc();
    // One copy of the filter: the first plan (batch 1, made by the constructor) reorders it from the caller's memory; a
    // later batch size shares that copy when its primitive wants the same layout (the usual case), else reorders from
    // it. No copy of the caller's layout is kept: holding one beside the reordered filter until the first run made a
    // session's peak memory 2× its float weights.
    dnnl::stream stream(engine());
    if (!plans.empty() && plans.begin()->second.weights.get_desc() == pd.weights_desc()) {
      p.weights = plans.begin()->second.weights;
    } else {
      memory source = plans.empty() ? memory(wUser, engine(), const_cast<float*>(userWeight))
                                    : plans.begin()->second.weights;
      p.weights = memory(pd.weights_desc(), engine());
      dnnl::reorder(source, p.weights).execute(stream, source, p.weights);
    }
    if (hasBias) {
      p.bias = memory(bDesc, engine());
      std::copy(bias.begin(), bias.end(), static_cast<float*>(p.bias.get_data_handle()));
    }
    stream.wait();
    return plans.emplace(n, std::move(p)).first->second;
  }
};

FloatConvLayer::FloatConvLayer(const Geometry& geometry, const float* w, const float* b, bool relu)
    : g(geometry), impl_(new Impl) {
  if (b) impl_->bias.assign(b, b + g.cout);
  impl_->relu = relu;
  // Planned for one OpenMP thread, as Session::run plans (oneDNN fixes a primitive's thread count when it is made:
  // made here under the process default, the convs ran on two threads beside the session's own team). The calling
  // thread's setting is restored however planning ends (the engine's own convs run on this thread too).
  struct OneThread {
    const int before = omp_get_max_threads();
    OneThread() { omp_set_num_threads(1); }
    ~OneThread() { omp_set_num_threads(before); }
  } oneThread;
  impl_->plan(g, 1, w);
}

FloatConvLayer::~FloatConvLayer() = default;

int64_t FloatConvLayer::weightBytes() const {
  // The reordered copies (shared where equal) and the bias.
  int64_t bytes = int64_t(sizeof(float)) * int64_t(impl_->bias.size());
  const void* last = nullptr;
  for (const auto& [n, plan] : impl_->plans) {
    if (plan.weights.get_data_handle() == last) continue;
    last = plan.weights.get_data_handle();
    bytes += int64_t(plan.weights.get_desc().get_size());
  }
  return bytes;
}

void FloatConvLayer::prepare(int n) { impl_->plan(g, n); }

void FloatConvLayer::run(const float* x, float* y, int n, int threads) {
  auto& p = impl_->plan(g, n);
  dnnl::stream stream(engine());
  memory src(p.src, engine(), const_cast<float*>(x));
  memory dst(p.dst, engine(), y);
  thread_local std::vector<uint8_t> pad;
  if (pad.size() < p.scratchpad.get_size()) pad.resize(p.scratchpad.get_size());
  memory scratchpad(p.scratchpad, engine(), pad.data());
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratchpad}};
  if (!impl_->bias.empty()) args.emplace(DNNL_ARG_BIAS, p.bias);
  p.prim.execute(stream, args);
  stream.wait();
}

double FloatConvLayer::probeMacsPerSecond(int n, int threads, int reps) {
  std::vector<float> x(size_t(n) * g.h * g.w * g.cin, 0.5f), y(size_t(n) * g.ho * g.wo * g.cout);
  run(x.data(), y.data(), n, threads);  // plan + warm
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
