// Node-API bindings. Every function works on the caller's typed arrays in place (no copies): inputs are read through
// their data pointers and results are written into output arrays the caller allocated. Geometry comes as an
// Int32Array in a fixed order (see readConv / readPool), already resolved by the TypeScript side.
#include <napi.h>

#include <string>
#include <vector>

#include "kernels.h"

namespace bnas::packed {
void registerPackedSession(Napi::Env env, Napi::Object exports);  // packed/napi_session.cc
}

namespace {

using bnas::ConvGeometry;
using bnas::PoolGeometry;

template <typename T>
T* dataOf(const Napi::Value& value, size_t minLength, const char* what) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a typed array");
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  const size_t bytes = array.ByteLength();
  if (bytes < minLength * sizeof(T))
    throw Napi::RangeError::New(value.Env(), std::string(what) + " is shorter than its shape");
  auto* base = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return reinterpret_cast<T*>(base);
}

std::vector<int> intsOf(const Napi::Value& value, size_t count) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(value.Env(), "geometry must be an Int32Array");
  Napi::Int32Array array = value.As<Napi::Int32Array>();
  if (array.ElementLength() != count)
    throw Napi::RangeError::New(value.Env(), "geometry must have " + std::to_string(count) + " entries");
  std::vector<int> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = array[i];
  for (int v : out)
    if (v < 0) throw Napi::RangeError::New(value.Env(), "geometry entries must be non-negative");
  return out;
}

// [n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr]
ConvGeometry readConv(const Napi::Value& value) {
  const auto v = intsOf(value, 17);
  ConvGeometry g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16]};
  if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1) throw Napi::RangeError::New(value.Env(), "strides and dilations must be >= 1");
  return g;
}

// [n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl]
PoolGeometry readPool(const Napi::Value& value) {
  const auto v = intsOf(value, 12);
  PoolGeometry g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  if (g.sh < 1 || g.sw < 1) throw Napi::RangeError::New(value.Env(), "strides must be >= 1");
  return g;
}

size_t inSize(const ConvGeometry& g) { return size_t(g.n) * g.h * g.w * g.cin; }
size_t outSize(const ConvGeometry& g) { return size_t(g.n) * g.oh * g.ow * g.cout; }
size_t filterSize(const ConvGeometry& g) { return size_t(g.kh) * g.kw * g.cin * g.cout; }
size_t poolIn(const PoolGeometry& g) { return size_t(g.n) * g.h * g.w * g.c; }
size_t poolOut(const PoolGeometry& g) { return size_t(g.n) * g.oh * g.ow * g.c; }

// Runs a kernel, turning C++ exceptions (oneDNN errors included) into JS errors with their message.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, const char* name, F&& body) {
  try {
    body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what());
  }
  return info.Env().Undefined();
}

// conv2dForward(x, filter, y, geometry)
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  const ConvGeometry g = readConv(info[3]);
  const float* x = dataOf<float>(info[0], inSize(g), "x");
  const float* w = dataOf<float>(info[1], filterSize(g), "filter");
  float* y = dataOf<float>(info[2], outSize(g), "y");
  // Optional 5th argument: true fuses ReLU into the conv (oneDNN post-op), y = max(conv, 0).
  const bool relu = info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  return guarded(info, "conv2dForward", [&] { bnas::conv2dForward(g, x, w, y, relu); });
}

// conv2dBackpropInput(dy, filter, dx, geometry)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  const ConvGeometry g = readConv(info[3]);
  const float* dy = dataOf<float>(info[0], outSize(g), "dy");
  const float* w = dataOf<float>(info[1], filterSize(g), "filter");
  float* dx = dataOf<float>(info[2], inSize(g), "dx");
  return guarded(info, "conv2dBackpropInput", [&] { bnas::conv2dBackpropInput(g, dy, w, dx); });
}

// conv2dBackpropFilter(x, dy, dw, geometry)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const ConvGeometry g = readConv(info[3]);
  const float* x = dataOf<float>(info[0], inSize(g), "x");
  const float* dy = dataOf<float>(info[1], outSize(g), "dy");
  float* dw = dataOf<float>(info[2], filterSize(g), "dw");
  return guarded(info, "conv2dBackpropFilter", [&] { bnas::conv2dBackpropFilter(g, x, dy, dw); });
}

// binaryConv2d(x, filter, alpha, y, geometry)
Napi::Value BinaryConv2d(const Napi::CallbackInfo& info) {
  const ConvGeometry g = readConv(info[4]);
  const float* x = dataOf<float>(info[0], inSize(g), "x");
  const float* w = dataOf<float>(info[1], filterSize(g), "filter");
  const float* alpha = dataOf<float>(info[2], g.cout, "alpha");
  float* y = dataOf<float>(info[3], outSize(g), "y");
  return guarded(info, "binaryConv2d", [&] { bnas::binaryConv2d(g, x, w, alpha, y); });
}

// packSigns(x, channels, signs, nonzero): x holds pixels·channels values.
Napi::Value PackSigns(const Napi::CallbackInfo& info) {
  const int channels = info[1].As<Napi::Number>().Int32Value();
  if (channels < 1) throw Napi::RangeError::New(info.Env(), "channels must be >= 1");
  const size_t length = info[0].As<Napi::TypedArray>().ElementLength();
  if (length % channels != 0) throw Napi::RangeError::New(info.Env(), "x length is not a multiple of channels");
  const int64_t pixels = static_cast<int64_t>(length / channels);
  const size_t words = static_cast<size_t>(pixels) * bnas::wordsPerPixel(channels);
  const float* x = dataOf<float>(info[0], length, "x");
  uint32_t* signs = dataOf<uint32_t>(info[2], words, "signs");
  uint32_t* nonzero = dataOf<uint32_t>(info[3], words, "nonzero");
  return guarded(info, "packSigns", [&] { bnas::packSigns(x, pixels, channels, signs, nonzero); });
}

template <void (*Kernel)(const PoolGeometry&, const float*, float*)>
Napi::Value PoolForward(const Napi::CallbackInfo& info) {
  const PoolGeometry g = readPool(info[2]);
  const float* x = dataOf<float>(info[0], poolIn(g), "x");
  float* y = dataOf<float>(info[1], poolOut(g), "y");
  return guarded(info, "pool", [&] { Kernel(g, x, y); });
}

// maxPoolGrad(x, dy, dx, geometry)
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  const PoolGeometry g = readPool(info[3]);
  const float* x = dataOf<float>(info[0], poolIn(g), "x");
  const float* dy = dataOf<float>(info[1], poolOut(g), "dy");
  float* dx = dataOf<float>(info[2], poolIn(g), "dx");
  return guarded(info, "maxPoolGrad", [&] { bnas::maxPoolGradFirstTap(g, x, dy, dx); });
}

// maxPoolGradScatter(x, dy, dx, geometry): pool.cc's kernel (the same values).
Napi::Value MaxPoolGradScatter(const Napi::CallbackInfo& info) {
  const PoolGeometry g = readPool(info[3]);
  const float* x = dataOf<float>(info[0], poolIn(g), "x");
  const float* dy = dataOf<float>(info[1], poolOut(g), "dy");
  float* dx = dataOf<float>(info[2], poolIn(g), "dx");
  return guarded(info, "maxPoolGradScatter", [&] { bnas::maxPoolGrad(g, x, dy, dx); });
}

// avgPoolGrad(dy, dx, geometry)
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  const PoolGeometry g = readPool(info[2]);
  const float* dy = dataOf<float>(info[0], poolOut(g), "dy");
  float* dx = dataOf<float>(info[1], poolIn(g), "dx");
  return guarded(info, "avgPoolGrad", [&] { bnas::avgPoolGrad(g, dy, dx); });
}

// Shapes/strides of the elementwise kernels: Int32Array of rank entries (rank 1..6), converted to int64.
std::vector<int64_t> dimsOf(const Napi::Value& value, size_t rank, bool allowZero) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(value.Env(), "shapes and strides must be Int32Arrays");
  Napi::Int32Array array = value.As<Napi::Int32Array>();
  if (array.ElementLength() != rank) throw Napi::RangeError::New(value.Env(), "shape and strides ranks differ");
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    out[i] = array[i];
    if (out[i] < 0 || (!allowZero && out[i] == 0)) throw Napi::RangeError::New(value.Env(), "bad shape or stride");
  }
  return out;
}

size_t rankOf(const Napi::Value& shape) {
  if (!shape.IsTypedArray()) throw Napi::TypeError::New(shape.Env(), "shape must be an Int32Array");
  const size_t rank = shape.As<Napi::TypedArray>().ElementLength();
  if (rank < 1 || rank > 6) throw Napi::RangeError::New(shape.Env(), "rank must be 1..6 after collapsing");
  return rank;
}

// The largest element offset a box of `size` reaches with `strides`, plus one: the length an array needs.
size_t extentOf(const std::vector<int64_t>& size, const std::vector<int64_t>& strides) {
  int64_t last = 0;
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] == 0) return 0;
    last += (size[d] - 1) * strides[d];
  }
  return static_cast<size_t>(last) + 1;
}

// Checks that every element of a box at `offset` with (possibly negative) strides lies inside an array of `length`.
void checkBox(const Napi::Env& env, const std::vector<int64_t>& size, const std::vector<int64_t>& strides,
              int64_t offset, size_t length, const char* what) {
  int64_t lo = offset, hi = offset;
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] == 0) return;
    const int64_t reach = (size[d] - 1) * strides[d];
    (reach < 0 ? lo : hi) += reach;
  }
  if (lo < 0 || hi >= static_cast<int64_t>(length))
    throw Napi::RangeError::New(env, std::string("copyBox: the box leaves ") + what);
}

std::vector<int64_t> stridesOf(const Napi::Value& value, size_t rank) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(value.Env(), "strides must be an Int32Array");
  Napi::Int32Array array = value.As<Napi::Int32Array>();
  if (array.ElementLength() != rank) throw Napi::RangeError::New(value.Env(), "shape and strides ranks differ");
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) out[i] = array[i];
  return out;
}

// copyBox(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, size): dst[box] = src[box]. Source strides may be
// negative (Reverse) or permuted (Transpose); every reached element is bounds-checked first.
Napi::Value CopyBox(const Napi::CallbackInfo& info) {
  const size_t rank = rankOf(info[6]);
  const auto size = dimsOf(info[6], rank, true);
  const auto srcStrides = stridesOf(info[2], rank);
  const auto dstStrides = stridesOf(info[5], rank);
  const int64_t srcOffset = info[1].As<Napi::Number>().Int64Value();
  const int64_t dstOffset = info[4].As<Napi::Number>().Int64Value();
  const size_t srcLength = info[0].As<Napi::TypedArray>().ElementLength();
  const size_t dstLength = info[3].As<Napi::TypedArray>().ElementLength();
  checkBox(info.Env(), size, srcStrides, srcOffset, srcLength, "src");
  checkBox(info.Env(), size, dstStrides, dstOffset, dstLength, "dst");
  const float* src = dataOf<float>(info[0], srcLength, "src");
  float* dst = dataOf<float>(info[3], dstLength, "dst");
  return guarded(info, "copyBox", [&] {
    bnas::copyBox(src + srcOffset, srcStrides.data(), dst + dstOffset, dstStrides.data(), size.data(),
                  static_cast<int>(rank));
  });
}

// fill(dst, value)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  const size_t n = info[0].As<Napi::TypedArray>().ElementLength();
  float* dst = dataOf<float>(info[0], n, "dst");
  const float value = info[1].As<Napi::Number>().FloatValue();
  return guarded(info, "fill", [&] { bnas::fill(dst, static_cast<int64_t>(n), value); });
}

// binaryOp(op, a, aStrides, b, bStrides, out, shape): out is contiguous in shape.
Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  const int op = info[0].As<Napi::Number>().Int32Value();
  const size_t rank = rankOf(info[6]);
  const auto shape = dimsOf(info[6], rank, true);
  const auto sa = dimsOf(info[2], rank, true);
  const auto sb = dimsOf(info[4], rank, true);
  std::vector<int64_t> dense(rank, 1);
  for (int d = static_cast<int>(rank) - 2; d >= 0; --d) dense[d] = dense[d + 1] * shape[d + 1];
  const float* a = dataOf<float>(info[1], extentOf(shape, sa), "a");
  const float* b = dataOf<float>(info[3], extentOf(shape, sb), "b");
  bool known = true;
  if (op >= 100) {  // comparisons write bytes
    uint8_t* out = dataOf<uint8_t>(info[5], extentOf(shape, dense), "out");
    guarded(info, "compareOp", [&] {
      if (extentOf(shape, dense) > 0) known = bnas::compareOp(op - 100, a, b, out, shape.data(), static_cast<int>(rank), sa.data(), sb.data());
    });
  } else {
    float* out = dataOf<float>(info[5], extentOf(shape, dense), "out");
    guarded(info, "binaryOp", [&] {
      if (extentOf(shape, dense) > 0) known = bnas::binaryOp(op, a, b, out, shape.data(), static_cast<int>(rank), sa.data(), sb.data());
    });
  }
  if (!known) throw Napi::RangeError::New(info.Env(), "binaryOp: unknown op");
  return info.Env().Undefined();
}

// unaryOp(op, x, y, alpha)
Napi::Value UnaryOp(const Napi::CallbackInfo& info) {
  const int op = info[0].As<Napi::Number>().Int32Value();
  const size_t n = info[1].As<Napi::TypedArray>().ElementLength();
  const float* x = dataOf<float>(info[1], n, "x");
  float* y = dataOf<float>(info[2], n, "y");
  const float alpha = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().FloatValue() : 0.0f;
  bool known = true;
  guarded(info, "unaryOp", [&] { known = bnas::unaryOp(op, x, y, static_cast<int64_t>(n), alpha); });
  if (!known) throw Napi::RangeError::New(info.Env(), "unaryOp: unknown op");
  return info.Env().Undefined();
}

// select(condition, t, e, out): all the same length; condition is bytes (TF.js bool).
Napi::Value Select(const Napi::CallbackInfo& info) {
  const size_t n = info[3].As<Napi::TypedArray>().ElementLength();
  const uint8_t* condition = dataOf<uint8_t>(info[0], n, "condition");
  const float* t = dataOf<float>(info[1], n, "t");
  const float* e = dataOf<float>(info[2], n, "e");
  float* out = dataOf<float>(info[3], n, "out");
  return guarded(info, "select", [&] { bnas::select(condition, t, e, out, static_cast<int64_t>(n)); });
}

// reduceSum(x, out, outer, reduce, inner, scale): x as [outer, reduce, inner] summed over reduce, times scale.
Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  const int64_t outer = info[2].As<Napi::Number>().Int64Value();
  const int64_t reduce = info[3].As<Napi::Number>().Int64Value();
  const int64_t inner = info[4].As<Napi::Number>().Int64Value();
  const double scale = info[5].As<Napi::Number>().DoubleValue();
  if (outer < 1 || reduce < 1 || inner < 1) throw Napi::RangeError::New(info.Env(), "reduceSum: empty dimensions");
  const float* x = dataOf<float>(info[0], static_cast<size_t>(outer * reduce * inner), "x");
  float* out = dataOf<float>(info[1], static_cast<size_t>(outer * inner), "out");
  return guarded(info, "reduceSum", [&] { bnas::reduceSum(x, out, outer, reduce, inner, scale); });
}

// A Float32Array argument or null/undefined (optional γ, β, dγ, dβ).
float* optionalFloats(const Napi::Value& value, size_t length, const char* what) {
  if (value.IsNull() || value.IsUndefined()) return nullptr;
  return dataOf<float>(value, length, what);
}

// batchNormStats(x, channels, mean, variance)
Napi::Value BatchNormStats(const Napi::CallbackInfo& info) {
  const int64_t c = info[1].As<Napi::Number>().Int64Value();
  const size_t length = info[0].As<Napi::TypedArray>().ElementLength();
  if (c < 1 || length % c != 0 || length == 0) throw Napi::RangeError::New(info.Env(), "batchNormStats: bad channels");
  const float* x = dataOf<float>(info[0], length, "x");
  float* mean = dataOf<float>(info[2], c, "mean");
  float* variance = dataOf<float>(info[3], c, "variance");
  return guarded(info, "batchNormStats", [&] { bnas::batchNormStats(x, length / c, c, mean, variance); });
}

// batchNormForward(x, channels, mean, variance, gamma|null, beta|null, eps, y)
Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  const int64_t c = info[1].As<Napi::Number>().Int64Value();
  const size_t length = info[0].As<Napi::TypedArray>().ElementLength();
  if (c < 1 || length % c != 0 || length == 0) throw Napi::RangeError::New(info.Env(), "batchNormForward: bad channels");
  const float* x = dataOf<float>(info[0], length, "x");
  const float* mean = dataOf<float>(info[2], c, "mean");
  const float* variance = dataOf<float>(info[3], c, "variance");
  const float* gamma = optionalFloats(info[4], c, "gamma");
  const float* beta = optionalFloats(info[5], c, "beta");
  const float eps = info[6].As<Napi::Number>().FloatValue();
  float* y = dataOf<float>(info[7], length, "y");
  return guarded(info, "batchNormForward",
                 [&] { bnas::batchNormForward(x, length / c, c, mean, variance, gamma, beta, eps, y); });
}

// batchNormBackward(dy, x, channels, mean|null, variance, gamma|null, eps, dx, dgamma|null, dbeta|null[, mask]);
// mean null: x is the output x̂ of an affine-free BN (gamma must be null), kept instead of its input.
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  const int64_t c = info[2].As<Napi::Number>().Int64Value();
  const size_t length = info[1].As<Napi::TypedArray>().ElementLength();
  if (c < 1 || length % c != 0 || length == 0) throw Napi::RangeError::New(info.Env(), "batchNormBackward: bad channels");
  const float* dy = dataOf<float>(info[0], length, "dy");
  const float* x = dataOf<float>(info[1], length, "x");
  const float* mean = optionalFloats(info[3], c, "mean");
  const float* variance = dataOf<float>(info[4], c, "variance");
  const float* gamma = optionalFloats(info[5], c, "gamma");
  if (!mean && gamma)
    throw Napi::TypeError::New(info.Env(), "batchNormBackward: without mean x is x̂ of an affine-free BN, so gamma must be null");
  const float eps = info[6].As<Napi::Number>().FloatValue();
  float* dx = dataOf<float>(info[7], length, "dx");
  float* dgamma = optionalFloats(info[8], c, "dgamma");
  float* dbeta = optionalFloats(info[9], c, "dbeta");
  const bool masked = info.Length() > 10 && !info[10].IsNull() && !info[10].IsUndefined();
  const uint8_t* mask = masked ? dataOf<uint8_t>(info[10], length, "mask") : nullptr;
  return guarded(info, "batchNormBackward", [&] {
    if (mask) {
      // The STE's mask applied first, into dx (the backward reads each dy element before writing that dx element).
      bnas::maskGradient(bnas::kMaskBytes, dy, mask, dx, static_cast<int64_t>(length));
      dy = dx;
    }
    bnas::batchNormBackward(dy, x, length / c, c, mean, variance, gamma, eps, dx, dgamma, dbeta);
  });
}

// batchNormSign(x, channels, mean, variance, gamma|null, beta|null, eps, signs, pass)
Napi::Value BatchNormSign(const Napi::CallbackInfo& info) {
  const int64_t c = info[1].As<Napi::Number>().Int64Value();
  const size_t length = info[0].As<Napi::TypedArray>().ElementLength();
  if (c < 1 || length % c != 0 || length == 0) throw Napi::RangeError::New(info.Env(), "batchNormSign: bad channels");
  const float* x = dataOf<float>(info[0], length, "x");
  const float* mean = dataOf<float>(info[2], c, "mean");
  const float* variance = dataOf<float>(info[3], c, "variance");
  const float* gamma = optionalFloats(info[4], c, "gamma");
  const float* beta = optionalFloats(info[5], c, "beta");
  const float eps = info[6].As<Napi::Number>().FloatValue();
  float* signs = dataOf<float>(info[7], length, "signs");
  uint8_t* pass = dataOf<uint8_t>(info[8], length, "pass");
  return guarded(info, "batchNormSign",
                 [&] { bnas::batchNormSign(x, length / c, c, mean, variance, gamma, beta, eps, signs, pass); });
}

// binarizeWeight(w, cout, out)
Napi::Value BinarizeWeight(const Napi::CallbackInfo& info) {
  const size_t length = info[0].As<Napi::TypedArray>().ElementLength();
  const int64_t cout = info[1].As<Napi::Number>().Int64Value();
  if (cout < 1 || length == 0 || length % cout != 0) throw Napi::RangeError::New(info.Env(), "binarizeWeight: bad C_out");
  const float* w = dataOf<float>(info[0], length, "w");
  float* out = dataOf<float>(info[2], length, "out");
  return guarded(info, "binarizeWeight", [&] { bnas::binarizeWeight(w, static_cast<int64_t>(length), cout, out); });
}

// binarizeWeightGrad(w, g, cin, cout, out)
Napi::Value BinarizeWeightGrad(const Napi::CallbackInfo& info) {
  const size_t length = info[0].As<Napi::TypedArray>().ElementLength();
  const int64_t cin = info[2].As<Napi::Number>().Int64Value();
  const int64_t cout = info[3].As<Napi::Number>().Int64Value();
  if (cin < 1 || cout < 1 || length == 0 || length % (cin * cout) != 0)
    throw Napi::RangeError::New(info.Env(), "binarizeWeightGrad: bad channels");
  const float* w = dataOf<float>(info[0], length, "w");
  const float* g = dataOf<float>(info[1], length, "g");
  float* out = dataOf<float>(info[4], length, "out");
  return guarded(info, "binarizeWeightGrad",
                 [&] { bnas::binarizeWeightGrad(w, g, static_cast<int64_t>(length), cin, cout, out); });
}

// centerAndClamp(w, cin, cout, out)
Napi::Value CenterAndClamp(const Napi::CallbackInfo& info) {
  const size_t length = info[0].As<Napi::TypedArray>().ElementLength();
  const int64_t cin = info[1].As<Napi::Number>().Int64Value();
  const int64_t cout = info[2].As<Napi::Number>().Int64Value();
  if (cin < 1 || cout < 1 || length == 0 || length % (cin * cout) != 0)
    throw Napi::RangeError::New(info.Env(), "centerAndClamp: bad channels");
  const float* w = dataOf<float>(info[0], length, "w");
  float* out = dataOf<float>(info[3], length, "out");
  const int64_t positions = static_cast<int64_t>(length) / (cin * cout);
  return guarded(info, "centerAndClamp", [&] { bnas::centerAndClamp(w, positions, cin, cout, out); });
}

// maskGradient(op, dy, ref, out): op 0 ref is a Uint8Array of 0/1, 1 keep where ref > 0, 2 keep where |ref| < 1.
Napi::Value MaskGradient(const Napi::CallbackInfo& info) {
  const int op = info[0].As<Napi::Number>().Int32Value();
  if (op < 0 || op > 2) throw Napi::RangeError::New(info.Env(), "maskGradient: unknown op");
  const size_t length = info[1].As<Napi::TypedArray>().ElementLength();
  const float* dy = dataOf<float>(info[1], length, "dy");
  const void* ref = op == bnas::kMaskBytes ? static_cast<const void*>(dataOf<uint8_t>(info[2], length, "ref"))
                                            : static_cast<const void*>(dataOf<float>(info[2], length, "ref"));
  float* out = dataOf<float>(info[3], length, "out");
  return guarded(info, "maskGradient",
                 [&] { bnas::maskGradient(op, dy, ref, out, static_cast<int64_t>(length)); });
}

// Float32Array pointers of a JS array of `count` arrays of at least n elements each.
template <typename T>
std::vector<T*> arrayOfFloats(const Napi::Value& value, size_t n, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<T*> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) out[i] = dataOf<float>(array.Get(i), n, what);
  return out;
}

// weightedSum(terms[], weights, y)
Napi::Value WeightedSum(const Napi::CallbackInfo& info) {
  const size_t n = info[2].As<Napi::TypedArray>().ElementLength();
  auto terms = arrayOfFloats<const float>(info[0], n, "terms");
  if (terms.empty()) throw Napi::RangeError::New(info.Env(), "weightedSum: no terms");
  const float* w = dataOf<float>(info[1], terms.size(), "weights");
  float* y = dataOf<float>(info[2], n, "y");
  return guarded(info, "weightedSum",
                 [&] { bnas::weightedSum(terms.data(), static_cast<int>(terms.size()), w, static_cast<int64_t>(n), y); });
}

// weightedSumGrad(dy, terms[], weights, dterms[], dweights)
Napi::Value WeightedSumGrad(const Napi::CallbackInfo& info) {
  const size_t n = info[0].As<Napi::TypedArray>().ElementLength();
  const float* dy = dataOf<float>(info[0], n, "dy");
  auto terms = arrayOfFloats<const float>(info[1], n, "terms");
  const float* w = dataOf<float>(info[2], terms.size(), "weights");
  auto dterms = arrayOfFloats<float>(info[3], n, "dterms");
  if (terms.empty() || dterms.size() != terms.size())
    throw Napi::RangeError::New(info.Env(), "weightedSumGrad: terms and dterms differ");
  float* dw = dataOf<float>(info[4], terms.size(), "dweights");
  return guarded(info, "weightedSumGrad", [&] {
    bnas::weightedSumGrad(dy, terms.data(), static_cast<int>(terms.size()), w, static_cast<int64_t>(n),
                          dterms.data(), dw);
  });
}

// convImplementations(geometry): which oneDNN implementations serve this geometry (for benchmarks).
Napi::Value ConvImplementations(const Napi::CallbackInfo& info) {
  const ConvGeometry g = readConv(info[0]);
  std::string out;
  guarded(info, "convImplementations", [&] { out = bnas::dnnlInfo(g); });
  return Napi::String::New(info.Env(), out);
}

// setBinaryConvPath('auto' | 'scalar'): the portable path can be tested on machines that have VPOPCNTDQ.
Napi::Value SetBinaryConvPath(const Napi::CallbackInfo& info) {
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path != "auto" && path != "scalar") throw Napi::RangeError::New(info.Env(), "path must be 'auto' or 'scalar'");
  bnas::forceScalarBinaryConv(path == "scalar");
  return Napi::String::New(info.Env(), bnas::binaryConvPath());
}

// setThreads(n): OpenMP threads for oneDNN and the parallel kernels (default: all cores).
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int threads = info[0].As<Napi::Number>().Int32Value();
  if (threads < 1 || threads > 1024) throw Napi::RangeError::New(info.Env(), "threads must be 1..1024");
  bnas::setThreads(threads);
  return Napi::Number::New(info.Env(), bnas::maxThreads());
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  // oneDNN's version, or null in a build with the addon's own conv kernels; convs names the one in use either way.
  const std::string dnnl = bnas::dnnlVersion();
  out.Set("oneDNN", dnnl.empty() ? info.Env().Null() : Napi::String::New(info.Env(), dnnl));
  out.Set("convs", bnas::convLibrary());
  out.Set("threads", bnas::maxThreads());
  out.Set("binaryConv", bnas::binaryConvPath());
  std::string isa = "baseline";
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2")) isa = "avx2";
  if (__builtin_cpu_supports("avx512f")) isa = "avx512";
#endif
  out.Set("simd", isa);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  bnas::packed::registerPackedSession(env, exports);
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("binaryConv2d", Napi::Function::New(env, BinaryConv2d));
  exports.Set("packSigns", Napi::Function::New(env, PackSigns));
  exports.Set("maxPool", Napi::Function::New(env, PoolForward<bnas::maxPool>));
  exports.Set("avgPool", Napi::Function::New(env, PoolForward<bnas::avgPool>));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  // pool.cc's scatter version, kept for comparison (native/bench, tests).
  exports.Set("maxPoolGradScatter", Napi::Function::New(env, MaxPoolGradScatter));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("convImplementations", Napi::Function::New(env, ConvImplementations));
  exports.Set("setBinaryConvPath", Napi::Function::New(env, SetBinaryConvPath));
  exports.Set("copyBox", Napi::Function::New(env, CopyBox));
  exports.Set("fill", Napi::Function::New(env, Fill));
  exports.Set("binaryOp", Napi::Function::New(env, BinaryOp));
  exports.Set("unaryOp", Napi::Function::New(env, UnaryOp));
  exports.Set("batchNormStats", Napi::Function::New(env, BatchNormStats));
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
  exports.Set("batchNormSign", Napi::Function::New(env, BatchNormSign));
  exports.Set("maskGradient", Napi::Function::New(env, MaskGradient));
  exports.Set("binarizeWeight", Napi::Function::New(env, BinarizeWeight));
  exports.Set("binarizeWeightGrad", Napi::Function::New(env, BinarizeWeightGrad));
  exports.Set("centerAndClamp", Napi::Function::New(env, CenterAndClamp));
  exports.Set("weightedSum", Napi::Function::New(env, WeightedSum));
  exports.Set("weightedSumGrad", Napi::Function::New(env, WeightedSumGrad));
  exports.Set("select", Napi::Function::New(env, Select));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(bnas_native, Init)
