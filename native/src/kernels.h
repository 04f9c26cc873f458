// Kernels of the BNAS native addon. Every tensor is float32 NHWC; conv filters are [kh, kw, C_in, C_out] (TF.js
// layout). Geometry is passed fully resolved (the TF.js side computes output sizes and explicit paddings with
// backend_util.computeConv2DInfo), so these functions never guess.
#pragma once
#include <cstdint>
#include <string>

namespace bnas {

struct ConvGeometry {
  int n, h, w, cin;         // input
  int oh, ow, cout;         // output
  int kh, kw;               // filter
  int sh, sw;               // strides
  int dh, dw;               // dilations (1 = dense)
  int pt, pl, pb, pr;       // explicit zero padding (top, left, bottom, right)
};

struct PoolGeometry {
  int n, h, w, c;
  int oh, ow;
  int kh, kw;
  int sh, sw;
  int pt, pl;  // taps outside the input are skipped (TF.js semantics for numeric / 'same' pads)
};

// oneDNN convolutions (conv_dnnl.cc).
void conv2dForward(const ConvGeometry& g, const float* x, const float* w, float* y);
void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx);
void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw);
std::string dnnlInfo(const ConvGeometry& g);  // implementation names oneDNN picked, for the benchmark/README
std::string dnnlVersion();

// Pooling (pool.cc), exactly the TF.js cpu backend's semantics.
void maxPool(const PoolGeometry& g, const float* x, float* y);
void maxPoolGrad(const PoolGeometry& g, const float* x, const float* dy, float* dx);
void avgPool(const PoolGeometry& g, const float* x, float* y);
void avgPoolGrad(const PoolGeometry& g, const float* dy, float* dx);

// Binary convolution on bit-packed signs (binary_conv.cc).
int wordsPerPixel(int channels);
void packSigns(const float* x, int64_t pixels, int channels, uint32_t* signs, uint32_t* nonzero);
void binaryConv2d(const ConvGeometry& g, const float* x, const float* w, const float* alpha, float* y);
const char* binaryConvPath();
void forceScalarBinaryConv(bool scalar);  // tests: run the portable path on an AVX-512 machine too

int maxThreads();

}  // namespace bnas
