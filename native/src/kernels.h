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

// Convolutions: oneDNN (conv_dnnl.cc) or, in builds without it, the addon's own kernels (conv_own.cc).
void conv2dForward(const ConvGeometry& g, const float* x, const float* w, float* y, bool relu = false);  // relu: y = max(conv, 0)
void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx);
void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw);
std::string dnnlInfo(const ConvGeometry& g);  // implementation names oneDNN picked, for the benchmark/README
std::string dnnlVersion();   // "" in a build without oneDNN
std::string convLibrary();   // which library runs the convs: "onednn 2.6.3" or "own avx512" (its SIMD)
void clearConvPlans();  // after a change of thread count: oneDNN kernels are planned for one

// Pooling (pool.cc), exactly the TF.js cpu backend's semantics.
void maxPool(const PoolGeometry& g, const float* x, float* y);
void maxPoolGrad(const PoolGeometry& g, const float* x, const float* dy, float* dx);
// The same gradient, bit for bit, without pool.cc's per-channel index scatter (pool_grad.cc); the addon's maxPoolGrad.
void maxPoolGradFirstTap(const PoolGeometry& g, const float* x, const float* dy, float* dx);
void avgPool(const PoolGeometry& g, const float* x, float* y);
void avgPoolGrad(const PoolGeometry& g, const float* dy, float* dx);

// Binary convolution on bit-packed signs (binary_conv.cc).
int wordsPerPixel(int channels);
void packSigns(const float* x, int64_t pixels, int channels, uint32_t* signs, uint32_t* nonzero);
void binaryConv2d(const ConvGeometry& g, const float* x, const float* w, const float* alpha, float* y);
const char* binaryConvPath();
void forceScalarBinaryConv(bool scalar);  // tests: run the portable path on an AVX-512 machine too

// Elementwise, data movement and reductions (elementwise.cc). Shapes and strides are in elements, rank 1..6, already
// collapsed by the caller; strides of 0 broadcast.
void copyBox(const float* src, const int64_t* srcStrides, float* dst, const int64_t* dstStrides, const int64_t* size,
             int rank);
void fill(float* dst, int64_t n, float value);
// op: 0 add, 1 sub, 2 mul, 3 div, 4 squared difference, 5 maximum, 6 minimum. False for an unknown op.
bool binaryOp(int op, const float* a, const float* b, float* out, const int64_t* shape, int rank, const int64_t* sa,
              const int64_t* sb);
// op: 0 less, 1 less-equal, 2 greater, 3 greater-equal, 4 equal; out is 0/1 bytes (TF.js bool).
bool compareOp(int op, const float* a, const float* b, uint8_t* out, const int64_t* shape, int rank, const int64_t* sa,
               const int64_t* sb);
void select(const uint8_t* condition, const float* t, const float* e, float* out, int64_t n);
// op: 0 sign, 1 abs, 2 relu, 3 neg, 4 square, 5 rsqrt, 6 sqrt, 7 step (x > 0 ? 1 : alpha).
bool unaryOp(int op, const float* x, float* y, int64_t n, float alpha);
void reduceSum(const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner, double scale);

// Batch norm over the m = N·H·W rows of an NHWC tensor with c channels (batchnorm.cc); gamma/beta may be null
// (affine = false), as may dgamma/dbeta. variance is the biased batch variance. batchNormBackward with mean null: x
// is the normalised output x̂ of an affine-free BN (gamma null too), not its input.
void batchNormStats(const float* x, int64_t m, int64_t c, float* mean, float* variance);
void batchNormForward(const float* x, int64_t m, int64_t c, const float* mean, const float* variance,
                      const float* gamma, const float* beta, float eps, float* y);
void batchNormBackward(const float* dy, const float* x, int64_t m, int64_t c, const float* mean,
                       const float* variance, const float* gamma, float eps, float* dx, float* dgamma, float* dbeta);

// The elementwise halves of a binary op (binary_block.cc). batchNormSign: signs = sign(y) (sign(0) = 0) and pass =
// (−1 < y < 1) as bytes, for y = batchNormForward(x) without writing y. maskGradient: out = dy·keep + 0 where keep is
// ref's byte (kMaskBytes), ref > 0 (kMaskPositive: ReLU's gradient from its output) or −1 < ref < 1 (kMaskInsideUnit:
// the clipped STE from its input).
constexpr int kMaskBytes = 0, kMaskPositive = 1, kMaskInsideUnit = 2;
void batchNormSign(const float* x, int64_t m, int64_t c, const float* mean, const float* variance, const float* gamma,
                   const float* beta, float eps, float* signs, uint8_t* pass);
void maskGradient(int op, const float* dy, const void* ref, float* out, int64_t n);

// Latent binary conv weights [kh, kw, C_in, C_out] as [length / C_out, C_out] (binarize.cc): sign(W)·α_o with α_o
// the mean |W| of output channel o; the authors' gradient transform of g; BinOp's centre over C_in and clamp to
// [−1, 1] (positions = kh·kw). Bit-identical to the engine's former JS loops (double sums, float32 rounding points).
void binarizeWeight(const float* w, int64_t length, int64_t cout, float* out);
void binarizeWeightGrad(const float* w, const float* g, int64_t length, int64_t cin, int64_t cout, float* out);
void centerAndClamp(const float* w, int64_t positions, int64_t cin, int64_t cout, float* out);

// The α-weighted mixture of a search edge (elementwise.cc): y = Σ w[k]·terms[k] and its gradient.
void weightedSum(const float* const* terms, int count, const float* w, int64_t n, float* y);
void weightedSumGrad(const float* dy, const float* const* terms, int count, const float* w, int64_t n,
                     float* const* dterms, float* dw);

int maxThreads();
void setThreads(int threads);

}  // namespace bnas
