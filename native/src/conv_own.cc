// The engine's convolutions (kernels.h) on the addon's own direct kernels (conv_own.h), for builds without oneDNN
// (binding.gyp's with_dnnl=0, chosen by scripts/build-native.js where libdnnl-dev is missing or BNAS_NATIVE_DNNL=0).
// Same contract as conv_dnnl.cc: NHWC activations used in place, HWIO filters, any stride, dilation and explicit
// padding. The filter is re-laid per call (it is small next to the activations).
#include <omp.h>

#include <sstream>

#include "conv_own.h"
#include "kernels.h"

namespace bnas {

void conv2dForward(const ConvGeometry& g, const float* x, const float* w, float* y, bool relu) {
  const own::PackedFilter packed = own::packForward(w, g.kh * g.kw, g.cin, g.cout);
  own::forward(g, x, packed, nullptr, relu, y, omp_get_max_threads());
}

void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const own::PackedFilter packed = own::packBackwardData(w, g.kh * g.kw, g.cin, g.cout);
  own::backwardData(g, dy, packed, dx, omp_get_max_threads());
}

void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  own::backwardFilter(g, x, dy, dw, omp_get_max_threads());
}

std::string dnnlInfo(const ConvGeometry& g) {
  std::ostringstream out;
  const std::string name = std::string("own-direct:") + own::isa();
  out << "fwd=" << name << " bwd_data=" << name << " bwd_filter=" << name;
  return out.str();
}

// Nothing is planned per geometry or thread count.
void clearConvPlans() {}

std::string dnnlVersion() { return ""; }

std::string convLibrary() { return std::string("own ") + own::isa(); }

}  // namespace bnas
