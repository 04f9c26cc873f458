// Node-API bindings of the packed session. The plan comes from src/main/export/packed/runtime/native-plan.ts; it is
// checked here (every region inside the arena, every array as long as its geometry says) so that a malformed plan
// is a thrown error, never a write outside the session's memory. Weights are copied in: the caller's arrays can go.
#include <napi.h>
#include <omp.h>

#include <functional>
#include <thread>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "plan.h"

namespace bnas::packed {
namespace {

using SessionPtr = std::shared_ptr<Session>;

[[noreturn]] void fail(Napi::Env env, const std::string& message) {
  throw Napi::Error::New(env, "packed session: " + message);
}

template <typename Array, typename T>
std::vector<T> vectorOf(const Napi::Object& o, const char* key, size_t length, bool optional, const std::string& where) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (optional) return {};
    fail(env, where + ": missing " + key);
  }
  if (!v.IsTypedArray()) fail(env, where + ": " + key + " must be a typed array");
  Array a = v.As<Array>();
  if (a.ElementLength() != length)
    fail(env, where + ": " + key + " has " + std::to_string(a.ElementLength()) + " values, expected " +
                  std::to_string(length));
  return std::vector<T>(a.Data(), a.Data() + length);
}

// The values of a Float32Array in place (no copy: a float conv's filter is reordered straight from it), checked as
// floats() checks them; valid while o is.
const float* floatsIn(const Napi::Object& o, const char* key, size_t n, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) fail(o.Env(), where + ": missing " + key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(o.Env(), where + ": " + key + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != n)
    fail(o.Env(), where + ": " + key + " has " + std::to_string(a.ElementLength()) + " values, expected " +
                      std::to_string(n));
  return a.Data();
}

std::vector<float> floats(const Napi::Object& o, const char* key, size_t n, bool optional, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsUndefined() && !v.IsNull() &&
      (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array))
    fail(o.Env(), where + ": " + key + " must be a Float32Array");
  return vectorOf<Napi::Float32Array, float>(o, key, n, optional, where);
}

std::vector<uint32_t> words(const Napi::Object& o, const char* key, size_t n, bool optional, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsUndefined() && !v.IsNull() &&
      (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array))
    fail(o.Env(), where + ": " + key + " must be a Uint32Array");
  return vectorOf<Napi::Uint32Array, uint32_t>(o, key, n, optional, where);
}

constexpr int kInts = 21;

Instruction readInstruction(const Napi::Object& o, int64_t arena, size_t index) {
  Napi::Env env = o.Env();
  Instruction in;
  in.name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "step " + std::to_string(index);
  const std::string where = "instruction " + std::to_string(index) + " (" + in.name + ")";
  if (!o.Get("kind").IsNumber()) fail(env, where + ": kind must be a number");
  const int kind = o.Get("kind").As<Napi::Number>().Int32Value();
  if (kind < 0 || kind > int(Kind::Linear)) fail(env, where + ": unknown kind " + std::to_string(kind));
  in.kind = Kind(kind);
  Napi::Value iv = o.Get("ints");
  if (!iv.IsTypedArray() || iv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      iv.As<Napi::Int32Array>().ElementLength() != kInts)
    fail(env, where + ": ints must be an Int32Array of " + std::to_string(kInts));
  Napi::Int32Array v = iv.As<Napi::Int32Array>();
  for (int i = 0; i < kInts; ++i)
    if (v[i] < 0) fail(env, where + ": negative entry in ints");
  in.in = {v[0], v[1], v[2]};
  in.in2 = {v[3], v[4], v[5]};
  in.out = {v[6], v[7], v[8]};
  in.accumulate = v[9] != 0;
  in.relu = v[10] != 0;
  in.g = {v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19], v[20]};
  const Geometry& g = in.g;
  if (g.stride < 1 || g.dilation < 1 || g.k < 1) fail(env, where + ": stride, dilation and kernel must be >= 1");

  // Every view must lie inside the arena for one image: region + pixels·stride, and offset + channels <= stride.
  auto check = [&](const View& view, int64_t pixels, int channels, const char* what) {
    if (channels < 1 || pixels < 1) fail(env, where + ": " + what + " is empty");
    if (view.offset + channels > view.stride) fail(env, where + ": " + what + " channels overflow its stride");
    if (view.region + pixels * view.stride > arena) fail(env, where + ": " + what + " lies outside the arena");
  };
  const int64_t inPixels = int64_t(g.h) * g.w, outPixels = int64_t(g.ho) * g.wo;
  const size_t cin = size_t(g.cin), cout = size_t(g.cout);
  switch (in.kind) {
    case Kind::Bn:
    case Kind::Relu:
    case Kind::Copy:
      check(in.in, inPixels, g.cin, "input");
      check(in.out, inPixels, g.cin, "output");
      if (in.kind == Kind::Bn)
        in.bn = {floats(o, "mean", cin, false, where), floats(o, "inv", cin, false, where),
                 floats(o, "gamma", cin, true, where), floats(o, "beta", cin, true, where)};
      break;
    case Kind::Add:
      check(in.in, inPixels, g.cin, "input");
      check(in.in2, inPixels, g.cin, "second input");
      check(in.out, inPixels, g.cin, "output");
      break;
    case Kind::Zero: check(in.out, outPixels, g.cout, "output"); break;
    case Kind::MaxPool:
    case Kind::AvgPool:
      check(in.in, inPixels, g.cin, "input");
      check(in.out, outPixels, g.cin, "output");
      break;
    case Kind::Gap:
      check(in.in, inPixels, g.cin, "input");
      check(in.out, 1, g.cin, "output");
      break;
    case Kind::Linear:
      check(in.in, 1, g.cin, "input");
      check(in.out, 1, g.cout, "output");
      in.weight = floats(o, "weight", cin * cout, false, where);
      in.bias = floats(o, "bias", cout, false, where);
      break;
    case Kind::BinConv: {
      check(in.in, inPixels, g.cin, "input");
      check(in.out, outPixels, g.cout, "output");
      const size_t taps = size_t(g.k) * g.k, wordsIn = (cin + 31) / 32;
      Bn bn{floats(o, "mean", cin, false, where), floats(o, "inv", cin, false, where),
            floats(o, "gamma", cin, true, where), floats(o, "beta", cin, true, where)};
      const auto alpha = floats(o, "alpha", cout, false, where);
      const auto sign = words(o, "sign", cout * taps * wordsIn, false, where);
      const auto mask = words(o, "mask", cout * taps * wordsIn, true, where);
      in.binconv = std::make_shared<BinConvLayer>(g, bn, alpha.data(), sign.data(), mask.empty() ? nullptr : mask.data());
      break;
    }
    case Kind::Conv: {
      // oneDNN reads and writes dense NHWC.
      if (in.in.stride != g.cin || in.in.offset != 0 || in.out.stride != g.cout || in.out.offset != 0)
        fail(env, where + ": a float conv needs dense input and output");
      check(in.in, inPixels, g.cin, "input");
      check(in.out, outPixels, g.cout, "output");
      const float* weight = floatsIn(o, "weight", size_t(g.k) * g.k * cin * cout, where);
      const auto bias = floats(o, "bias", cout, true, where);
      in.conv = std::make_shared<FloatConvLayer>(g, weight, bias.empty() ? nullptr : bias.data(), in.relu);
      break;
    }
  }
  return in;
}

SessionPtr& sessionOf(const Napi::Value& value) {
  if (!value.IsExternal()) fail(value.Env(), "not a session handle");
  return *value.As<Napi::External<SessionPtr>>().Data();
}

int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) fail(info.Env(), std::string(what) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (v < 0 || v != double(int64_t(v))) fail(info.Env(), std::string(what) + " must be a non-negative integer");
  return int64_t(v);
}

// create(instructions, arenaPerImage, inputRegion, inputPerImage, outputRegion, outputPerImage)
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) fail(env, "instructions must be an array");
  const int64_t arena = intArg(info, 1, "arenaPerImage");
  const int64_t inRegion = intArg(info, 2, "inputRegion"), inSize = intArg(info, 3, "inputPerImage");
  const int64_t outRegion = intArg(info, 4, "outputRegion"), outSize = intArg(info, 5, "outputPerImage");
  if (inRegion + inSize > arena || outRegion + outSize > arena || inSize < 1 || outSize < 1)
    fail(env, "input or output lies outside the arena");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<Instruction> instructions;
  instructions.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) fail(env, "instruction " + std::to_string(i) + " is not an object");
    try {
      instructions.push_back(readInstruction(item.As<Napi::Object>(), arena, i));
    } catch (const std::exception& e) {
      if (dynamic_cast<const Napi::Error*>(&e)) throw;
      fail(env, "instruction " + std::to_string(i) + ": " + e.what());
    }
  }
  auto* handle = new SessionPtr(std::make_shared<Session>(std::move(instructions), arena, View{inRegion, int(inSize), 0},
                                                          inSize, View{outRegion, int(outSize), 0}, outSize));
  return Napi::External<SessionPtr>::New(env, handle, [](Napi::Env, SessionPtr* p) { delete p; });
}

struct RunArgs {
  SessionPtr session;
  int batch, threads;
  Napi::Reference<Napi::Float32Array> inputRef;
  const float* input;
};

RunArgs runArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SessionPtr session = sessionOf(info[0]);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(env, "input must be a Float32Array");
  const int64_t batch = intArg(info, 2, "batch"), threads = intArg(info, 3, "threads");
  if (batch < 1) fail(env, "batch must be at least 1");
  Napi::Float32Array input = info[1].As<Napi::Float32Array>();
  if (int64_t(input.ElementLength()) != batch * session->inputPerImage())
    fail(env, "expected " + std::to_string(batch * session->inputPerImage()) + " input values, got " +
                  std::to_string(input.ElementLength()));
  return {session, int(batch), int(std::max<int64_t>(1, threads)), Napi::Persistent(input), input.Data()};
}

Napi::Object statsObject(Napi::Env env, const RunStats& stats) {
  static const char* names[] = {"bn", "binconv", "conv", "relu", "maxpool", "avgpool", "zero", "add", "copy", "gap", "linear"};
  Napi::Object o = Napi::Object::New(env);
  for (int i = 0; i < 11; ++i)
    if (stats.nsByKind[i]) o.Set(names[i], double(stats.nsByKind[i]) / 1e6);
  o.Set("binconv.pack", double(stats.packNs) / 1e6);
  o.Set("binconv.streams", double(stats.streamsNs) / 1e6);
  o.Set("binconv.dot", double(stats.dotNs) / 1e6);
  return o;
}

// runSync(session, input, batch, threads[, profile]) → logits (or {logits, msByKind} with profile)
Napi::Value RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RunArgs a = runArgs(info);
  const bool profile = info.Length() > 4 && info[4].ToBoolean();
  Napi::Float32Array out = Napi::Float32Array::New(env, size_t(a.batch * a.session->outputPerImage()));
  RunStats stats;
  try {
    a.session->run(a.input, a.batch, out.Data(), a.threads, profile ? &stats : nullptr);
  } catch (const std::exception& e) {
    fail(env, e.what());
  }
  if (!profile) return out;
  Napi::Object o = Napi::Object::New(env);
  o.Set("logits", out);
  o.Set("msByKind", statsObject(env, stats));
  Napi::Float64Array perStep = Napi::Float64Array::New(env, stats.nsByInstruction.size());
  for (size_t i = 0; i < stats.nsByInstruction.size(); ++i) perStep[i] = double(stats.nsByInstruction[i]) / 1e6;
  o.Set("msByInstruction", perStep);
  return o;
}

// A run off the JavaScript thread (libuv's pool), so a large batch does not block the event loop.
class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, RunArgs args)
      : Napi::AsyncWorker(env), args_(std::move(args)), deferred_(Napi::Promise::Deferred::New(env)),
        out_(size_t(args_.batch * args_.session->outputPerImage())) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      args_.session->run(args_.input, args_.batch, out_.data(), args_.threads);
    } catch (const std::exception& e) {
      SetError(std::string("packed session: ") + e.what());
    }
  }
  void OnOK() override {
    Napi::Float32Array out = Napi::Float32Array::New(Env(), out_.size());
    std::copy(out_.begin(), out_.end(), out.Data());
    args_.inputRef.Reset();
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override {
    args_.inputRef.Reset();
    deferred_.Reject(e.Value());
  }

 private:
  RunArgs args_;
  Napi::Promise::Deferred deferred_;
  std::vector<float> out_;
};

Napi::Value Run(const Napi::CallbackInfo& info) {
  auto* worker = new RunWorker(info.Env(), runArgs(info));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  SessionPtr session = sessionOf(info[0]);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("weightBytes", double(session->weightBytes()));
  o.Set("workBytes", double(session->workBytes()));
  o.Set("binaryKernel", isaName(session->isa()));
  o.Set("bestBinaryKernel", isaName(bestBinaryIsa()));
  return o;
}

// setKernel(session, 'avx512-vpopcntdq' | 'avx2-vpshufb' | 'scalar'): tests run every kernel the CPU has.
Napi::Value SetKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SessionPtr session = sessionOf(info[0]);
  const std::string name = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  const BinaryIsa best = bestBinaryIsa();
  for (BinaryIsa isa : {BinaryIsa::Scalar, BinaryIsa::Avx2, BinaryIsa::Avx512Bw, BinaryIsa::Avx512, BinaryIsa::Amx}) {
    if (name != isaName(isa)) continue;
    if (int(isa) > int(best)) fail(env, "this CPU cannot run the " + name + " kernel (best: " + isaName(best) + ")");
    session->setIsa(isa);
    return env.Undefined();
  }
  fail(env, "unknown binary kernel '" + name + "'");
}

// probe(session, batch, threads) → { binary: [{name, macsPerSecond}], float: [...], peakBinaryMacsPerSecond }
Napi::Value Probe(const Napi::CallbackInfo& info);

}  // namespace

namespace {
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SessionPtr session = sessionOf(info[0]);
  const int batch = int(intArg(info, 1, "batch")), threads = int(std::max<int64_t>(1, intArg(info, 2, "threads")));
  Napi::Array binary = Napi::Array::New(env), floatConvs = Napi::Array::New(env);
  uint32_t nb = 0, nf = 0;
  for (const Instruction& instruction : session->instructions()) {
    const Instruction* in = &instruction;
    if (!in->binconv && !in->conv) continue;
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", in->name);
    if (in->binconv) {
      const Geometry& g = in->binconv->g;
      o.Set("macs", double(g.ho) * g.wo * g.cout * g.k * g.k * g.cin);
      o.Set("macsPerSecond", in->binconv->probeMacsPerSecond(session->isa(), 200));
      o.Set("kernel", isaName(in->binconv->kernelFor(session->isa())));
      binary.Set(nb++, o);
    } else if (in->conv) {
      const Geometry& g = in->conv->g;
      o.Set("macs", double(g.ho) * g.wo * g.cout * g.k * g.k * g.cin);
      omp_set_num_threads(threads);  // oneDNN's own threads: the machine's float rate at this thread count
      o.Set("macsPerSecond", in->conv->probeMacsPerSecond(batch, threads, 20));
      omp_set_num_threads(1);
      floatConvs.Set(nf++, o);
    }
  }
  // The kernel's peak: a shape with no padding waste (1024-bit streams, 64 output channels, 32 pixels).
  Geometry peak{1, 32, 1024, 1, 32, 64, 1, 1, 0, 1};
  std::mt19937 rng(3);
  std::vector<uint32_t> sign(size_t(64) * 32);
  for (auto& w : sign) w = rng();
  std::vector<float> ones(1024, 1.0f), zeros(1024, 0.0f), alpha(64, 1.0f);
  BinConvLayer layer(peak, Bn{zeros, ones, {}, {}}, alpha.data(), sign.data(), nullptr);
  Napi::Object o = Napi::Object::New(env);
  o.Set("binary", binary);
  o.Set("float", floatConvs);
  // With T threads the kernel runs on T cores at once: each thread times its own copy, and the rates add up.
  auto onThreads = [&](const std::function<double()>& rate) {
    std::vector<double> rates(threads, 0.0);
    std::vector<std::thread> team;
    for (int t = 1; t < threads; ++t) team.emplace_back([&, t] { rates[t] = rate(); });
    rates[0] = rate();
    for (auto& th : team) th.join();
    double total = 0;
    for (double r : rates) total += r;
    return total;
  };
  // The 1×1 layer runs the popcount kernel under every ISA (the tile kernel takes k > 1 only).
  const BinaryIsa popcount = layer.kernelFor(session->isa());
  o.Set("peakBinaryMacsPerSecond",
        onThreads([&] { return BinConvLayer(layer).probeMacsPerSecond(popcount, 2000); }));
  o.Set("binaryKernel", isaName(popcount));
  if (session->isa() == BinaryIsa::Amx) {
    // The tile kernel's peak: a 3×3 layer whose kernel rows are whole K chunks (3 × 64 channels) and whose outputs
    // are whole tiles (64 channels), on 32 columns (34 positions a row with the pad: 6 % of them dropped).
    Geometry tiles{32, 32, 64, 32, 32, 64, 3, 1, 1, 1};
    std::vector<float> lo(64, 0.0f), hi(64, 0.0f), unit(64, 1.0f);
    std::vector<uint32_t> flip(64, 0u);
    const AmxBinConv amx(tiles, lo, hi, flip, false, unit, [&](int, int, int) { return rng() & 1 ? 1 : -1; });
    o.Set("peakAmxMacsPerSecond", onThreads([&] { return amx.probeMacsPerSecond(200); }));
  }
  return o;
}
}  // namespace

void registerPackedSession(Napi::Env env, Napi::Object exports) {
  exports.Set("packedSessionCreate", Napi::Function::New(env, Create));
  exports.Set("packedSessionRun", Napi::Function::New(env, Run));
  exports.Set("packedSessionRunSync", Napi::Function::New(env, RunSync));
  exports.Set("packedSessionInfo", Napi::Function::New(env, Info));
  exports.Set("packedSessionSetKernel", Napi::Function::New(env, SetKernel));
  exports.Set("packedSessionProbe", Napi::Function::New(env, Probe));
}

}  // namespace bnas::packed
