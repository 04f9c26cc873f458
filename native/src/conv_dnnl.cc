// Convolutions through oneDNN, the library PyTorch's CPU convolutions use. Activations stay in the caller's NHWC
// buffers (no copies); only the small filters are reordered into oneDNN's preferred blocked layout. Primitives are
// created once per geometry and cached: creating one JIT-compiles code, far slower than running it at these sizes.
// On CPUs without AVX-512 some convs run on the addon's own kernels instead, chosen per geometry (mixOwn below).
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <utility>

#include <oneapi/dnnl/dnnl.hpp>

#include "conv_own.h"
#include "kernels.h"

namespace bnas {
namespace {

// Where oneDNN 2.6 has only its jit:avx2 kernels (no AVX-512), the addon's own direct kernels (conv_own.h) beat it on
// some of the search's convs (node native/bench/convs.mjs, CPU ms per call on an AMD EPYC with AVX2 + FMA): every
// dilated one, forward and filter gradient (dilated 5×5 C 16 batch 64: forward 45 → 11, filter gradient 33 → 17;
// dilated 3×3 C 8: filter gradient 2.8 → 0.4), and the forward at 16 channels or fewer (5×5 C 8: 2.4 → 2.0). oneDNN
// stays ahead on wider convs (3×3 C 32: forward 3.1 against 4.6, filter gradient 4.0 against 7.9) and on every input
// gradient, so it keeps those. BNAS_CONV_MIX=0 keeps oneDNN for everything, =1 mixes on any CPU (tests).
bool mixOwn() {
  static const bool mix = [] {
    const char* env = std::getenv("BNAS_CONV_MIX");
    if (env != nullptr && std::string(env) == "0") return false;
    if (env != nullptr && std::string(env) == "1") return true;
    return !__builtin_cpu_supports("avx512f") && std::string(own::isa()) == "avx2";
  }();
  return mix;
}

bool dilated(const ConvGeometry& g) { return g.dh > 1 || g.dw > 1; }
bool ownForward(const ConvGeometry& g) { return mixOwn() && (dilated(g) || std::max(g.cin, g.cout) <= 16); }
bool ownFilterGradient(const ConvGeometry& g) { return mixOwn() && dilated(g); }

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// Process-lifetime objects are created with new and never destroyed: destructors run at exit, after oneDNN's own
// globals and OpenMP teams may be gone (a worker thread that ran convs made Node segfault at exit otherwise).
dnnl::engine& cpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& cpuStream() {
  static dnnl::stream* stream = new dnnl::stream(cpuEngine());
  return *stream;
}

using Key = std::array<int, 17>;

Key keyOf(const ConvGeometry& g) {
  return {g.n, g.h, g.w, g.cin, g.oh, g.ow, g.cout, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.pb, g.pr};
}

struct Descs {
  memory::desc src, dst, weightsUser, weightsAny;
  memory::dims strides, dilates, padL, padR;
};

Descs descsOf(const ConvGeometry& g) {
  Descs d;
  d.src = memory::desc({g.n, g.cin, g.h, g.w}, dt::f32, tag::nhwc);
  d.dst = memory::desc({g.n, g.cout, g.oh, g.ow}, dt::f32, tag::nhwc);
  d.weightsUser = memory::desc({g.cout, g.cin, g.kh, g.kw}, dt::f32, tag::hwio);
  d.weightsAny = memory::desc({g.cout, g.cin, g.kh, g.kw}, dt::f32, tag::any);
  d.strides = {g.sh, g.sw};
  d.dilates = {g.dh - 1, g.dw - 1};
  d.padL = {g.pt, g.pl};
  d.padR = {g.pb, g.pr};
  return d;
}

dnnl::convolution_forward::primitive_desc forwardPd(const Descs& d, bool relu = false) {
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.src,
                                       d.weightsAny, d.dst, d.strides, d.dilates, d.padL, d.padR);
  if (!relu) return dnnl::convolution_forward::primitive_desc(desc, cpuEngine());
  // ReLU as a post-op: applied to each output while it is still in registers (no second pass over y).
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return dnnl::convolution_forward::primitive_desc(desc, attr, cpuEngine());
}

// A reorder between the user's hwio filter and the layout a primitive wants, or none when they are the same.
struct FilterReorder {
  bool needed = false;
  memory::desc user, internal;
  dnnl::reorder prim;
  memory buffer;

  void init(const memory::desc& userDesc, const memory::desc& internalDesc, bool toInternal) {
    user = userDesc;
    internal = internalDesc;
    needed = userDesc != internalDesc;
    if (!needed) return;
    buffer = memory(internal, cpuEngine());
    memory u(user, cpuEngine(), DNNL_MEMORY_NONE);
    prim = toInternal ? dnnl::reorder(u, buffer) : dnnl::reorder(buffer, u);
  }
};

struct ForwardPlan {
  dnnl::convolution_forward prim;
  memory::desc src, dst;
  FilterReorder filter;
  std::string impl;
};

struct BackwardDataPlan {
  dnnl::convolution_backward_data prim;
  memory::desc diffSrc, diffDst;
  FilterReorder filter;
  std::string impl;
};

struct BackwardFilterPlan {
  dnnl::convolution_backward_weights prim;
  memory::desc src, diffDst;
  FilterReorder filter;
  std::string impl;
};

std::mutex cacheMutex;
// Forward plans with and without the fused ReLU.
auto& forwardPlans = *new std::map<std::pair<Key, bool>, std::unique_ptr<ForwardPlan>>();
auto& backwardDataPlans = *new std::map<Key, std::unique_ptr<BackwardDataPlan>>();
auto& backwardFilterPlans = *new std::map<Key, std::unique_ptr<BackwardFilterPlan>>();

ForwardPlan& forwardPlan(const ConvGeometry& g, bool relu = false) {
  auto& slot = forwardPlans[{keyOf(g), relu}];
  if (!slot) {
    Descs d = descsOf(g);
    auto pd = forwardPd(d, relu);
    auto plan = std::make_unique<ForwardPlan>();
    plan->prim = dnnl::convolution_forward(pd);
    plan->src = pd.src_desc();
    plan->dst = pd.dst_desc();
    plan->filter.init(d.weightsUser, pd.weights_desc(), true);
    plan->impl = pd.impl_info_str();
    slot = std::move(plan);
  }
  return *slot;
}

BackwardDataPlan& backwardDataPlan(const ConvGeometry& g) {
  auto& slot = backwardDataPlans[keyOf(g)];
  if (!slot) {
    Descs d = descsOf(g);
    auto hint = forwardPd(d);
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weightsAny, d.dst,
                                               d.strides, d.dilates, d.padL, d.padR);
    dnnl::convolution_backward_data::primitive_desc pd(desc, cpuEngine(), hint);
    auto plan = std::make_unique<BackwardDataPlan>();
    plan->prim = dnnl::convolution_backward_data(pd);
    plan->diffSrc = pd.diff_src_desc();
    plan->diffDst = pd.diff_dst_desc();
    plan->filter.init(d.weightsUser, pd.weights_desc(), true);
    plan->impl = pd.impl_info_str();
    slot = std::move(plan);
  }
  return *slot;
}

BackwardFilterPlan& backwardFilterPlan(const ConvGeometry& g) {
  auto& slot = backwardFilterPlans[keyOf(g)];
  if (!slot) {
    Descs d = descsOf(g);
    auto hint = forwardPd(d);
    dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weightsAny, d.dst,
                                                  d.strides, d.dilates, d.padL, d.padR);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, cpuEngine(), hint);
    auto plan = std::make_unique<BackwardFilterPlan>();
    plan->prim = dnnl::convolution_backward_weights(pd);
    plan->src = pd.src_desc();
    plan->diffDst = pd.diff_dst_desc();
    plan->filter.init(d.weightsUser, pd.diff_weights_desc(), false);
    plan->impl = pd.impl_info_str();
    slot = std::move(plan);
  }
  return *slot;
}

void requirePlain(const memory::desc& got, const memory::desc& want, const char* what) {
  // With nhwc requested explicitly oneDNN never changes it; this guards against a future version doing so.
  if (got != want) throw std::runtime_error(std::string("oneDNN chose a non-NHWC layout for ") + what);
}

}  // namespace

void conv2dForward(const ConvGeometry& g, const float* x, const float* w, float* y, bool relu) {
  if (ownForward(g)) {
    const own::PackedFilter packed = own::packForward(w, g.kh * g.kw, g.cin, g.cout);
    own::forward(g, x, packed, nullptr, relu, y, omp_get_max_threads());
    return;
  }
  std::lock_guard<std::mutex> lock(cacheMutex);
  ForwardPlan& plan = forwardPlan(g, relu);
  Descs d = descsOf(g);
  requirePlain(plan.src, d.src, "the input");
  auto& engine = cpuEngine();
  auto& stream = cpuStream();
  memory src(plan.src, engine, const_cast<float*>(x));
  memory dst(plan.dst, engine, y);
  memory userFilter(plan.filter.user, engine, const_cast<float*>(w));
  if (plan.filter.needed) {
    plan.filter.prim.execute(stream, userFilter, plan.filter.buffer);
  }
  memory& filter = plan.filter.needed ? plan.filter.buffer : userFilter;
  plan.prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, filter}, {DNNL_ARG_DST, dst}});
  stream.wait();
}

void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  std::lock_guard<std::mutex> lock(cacheMutex);
  BackwardDataPlan& plan = backwardDataPlan(g);
  Descs d = descsOf(g);
  requirePlain(plan.diffSrc, d.src, "the input gradient");
  auto& engine = cpuEngine();
  auto& stream = cpuStream();
  memory diffDst(plan.diffDst, engine, const_cast<float*>(dy));
  memory diffSrc(plan.diffSrc, engine, dx);
  memory userFilter(plan.filter.user, engine, const_cast<float*>(w));
  if (plan.filter.needed) plan.filter.prim.execute(stream, userFilter, plan.filter.buffer);
  memory& filter = plan.filter.needed ? plan.filter.buffer : userFilter;
  plan.prim.execute(stream, {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, filter}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  stream.wait();
}

void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  if (ownFilterGradient(g)) {
    own::backwardFilter(g, x, dy, dw, omp_get_max_threads());
    return;
  }
  std::lock_guard<std::mutex> lock(cacheMutex);
  BackwardFilterPlan& plan = backwardFilterPlan(g);
  auto& engine = cpuEngine();
  auto& stream = cpuStream();
  memory src(plan.src, engine, const_cast<float*>(x));
  memory diffDst(plan.diffDst, engine, const_cast<float*>(dy));
  memory userFilter(plan.filter.user, engine, dw);
  memory& filter = plan.filter.needed ? plan.filter.buffer : userFilter;
  plan.prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, filter}});
  if (plan.filter.needed) plan.filter.prim.execute(stream, plan.filter.buffer, userFilter);
  stream.wait();
}

std::string dnnlInfo(const ConvGeometry& g) {
  std::lock_guard<std::mutex> lock(cacheMutex);
  std::ostringstream out;
  const std::string own = std::string("own-direct:") + own::isa();
  out << "fwd=" << (ownForward(g) ? own : forwardPlan(g).impl) << " bwd_data=" << backwardDataPlan(g).impl
      << " bwd_filter=" << (ownFilterGradient(g) ? own : backwardFilterPlan(g).impl);
  return out.str();
}

void clearConvPlans() {
  std::lock_guard<std::mutex> lock(cacheMutex);
  forwardPlans.clear();
  backwardDataPlans.clear();
  backwardFilterPlans.clear();
}

std::string dnnlVersion() {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream out;
  out << v->major << "." << v->minor << "." << v->patch;
  return out.str();
}

std::string convLibrary() {
  const std::string library = "onednn " + dnnlVersion();
  return mixOwn() ? library + " + own " + own::isa() + " (dilated convs, forward up to 16 channels)" : library;
}

}  // namespace bnas
