// The addon's own float convolutions, for builds without oneDNN (binding.gyp's with_dnnl=0): direct convolutions on
// NHWC activations and HWIO filters, no im2col. conv_own.cc serves the engine's Conv2D / Conv2DBackpropInput /
// Conv2DBackpropFilter / conv + ReLU kernels with them, packed/float_conv_own.cc the packed session's float convs.
//
// Forward and the input gradient are one "gather" kernel: every output pixel is a sum over filter taps of an input
// pixel's channels times a [K, CB] block of weights, accumulated in registers for P pixels × CB output channels at a
// time (one vector of CB floats per pixel) and stored once. For the input gradient the output is dx: its pixels of
// one column residue class mod the stride read dy pixels 1 apart, so the same kernel runs once per class.
// The filter gradient is a reduction over pixels per (tap, C_in row, C_out block), accumulated in registers over one
// image at a time (that image's x and dy stay in cache across the taps).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels.h"

namespace bnas::own {

// Weights re-laid for the gather kernel: [block][tap][k][cb], output channels in blocks of cb (8 or 16 floats, one
// vector), the last block zero-padded. For the forward conv k = C_in and the blocks run over C_out; for the input
// gradient the filter is transposed (k = C_out, blocks over C_in).
struct PackedFilter {
  int cb = 8, blocks = 0, taps = 0, k = 0, outChannels = 0;
  std::vector<float> data;
};

// w: [taps, cin, cout] (HWIO with the taps flattened).
PackedFilter packForward(const float* w, int taps, int cin, int cout);
PackedFilter packBackwardData(const float* w, int taps, int cin, int cout);

// y = conv(x, w) (+ bias[cout] when not null), max(·, 0) with relu. threads > 1 splits output rows between OpenMP
// threads; 1 runs on the calling thread alone (the packed session calls it from its own threads).
void forward(const ConvGeometry& g, const float* x, const PackedFilter& w, const float* bias, bool relu, float* y,
             int threads);
// dx = the gradient of conv(x, w) for x, from dy. Every element of dx is written.
void backwardData(const ConvGeometry& g, const float* dy, const PackedFilter& wt, float* dx, int threads);
// dw = the gradient of conv(x, w) for w ([kh, kw, cin, cout]); every element is written.
void backwardFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw, int threads);

// The instruction set the kernels run with on this CPU: "avx512", "avx2" or "baseline" ("avx512-emulated": the
// AVX-512 blocking on baseline x86-64, asked for by BNAS_OWN_CONV_ISA in tests).
const char* isa();

}  // namespace bnas::own
