// The packed 1-bit inference session: a whole exported network (.bnpk) run in C++ from one call. The TypeScript side
// (src/main/export/packed/runtime/native-plan.ts) lowers the model's steps to the instructions below: it fuses what
// can be fused (concat by placement, node adds into the second binary conv's output, conv + ReLU) and assigns every
// tensor a region of one arena. This side keeps the weights in the layout its kernels want (binary weights bit-packed
// once at load), and runs the instructions over that arena; nothing goes back to JavaScript between layers.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "team.h"

namespace bnas::packed {

// A float tensor [N][H][W][C] inside the arena: element (pixel p, channel c) of a batch of n images is at
// arena[n * region + p * stride + offset + c]. region is per image, so a batch of n needs n times the plan's arena.
struct View {
  int64_t region = 0;
  int stride = 0;
  int offset = 0;
};

struct Bn {
  // Per channel; gamma and beta are empty for a BN without affine parameters. inv = 1/√(var + eps) as float32.
  std::vector<float> mean, inv, gamma, beta;
};

enum class Kind : int {
  Bn = 0,
  BinConv = 1,
  Conv = 2,
  Relu = 3,
  MaxPool = 4,
  AvgPool = 5,
  Zero = 6,
  Add = 7,
  Copy = 8,
  Gap = 9,
  Linear = 10,
};

struct Geometry {
  int h = 0, w = 0, cin = 0;     // input image
  int ho = 0, wo = 0, cout = 0;  // output image
  int k = 1, stride = 1, pad = 0, dilation = 1;
};

class BinConvLayer;
class FloatConvLayer;
class AmxBinConv;

struct Instruction {
  Kind kind;
  std::string name;
  View in, in2, out;
  Geometry g;
  bool accumulate = false;  // binconv: out += result (the node's add, fused)
  bool relu = false;        // conv: ReLU fused
  Bn bn;
  std::vector<float> weight, bias;  // linear: [fin][fout]
  std::shared_ptr<BinConvLayer> binconv;
  std::shared_ptr<FloatConvLayer> conv;
};

// Which binary conv kernel runs: chosen at run time from the CPU (never at build time), overridable for tests.
// Ordered: a CPU that runs one runs every one before it. Amx: the int8 tile kernel on the layers it suits (stride 1,
// int8 weights ≤ 64 KB), the VPOPCNTDQ kernel on the others.
enum class BinaryIsa : int { Scalar = 0, Avx2 = 1, Avx512Bw = 2, Avx512 = 3, Amx = 4 };
BinaryIsa bestBinaryIsa();
// AMX-TILE and AMX-INT8 in the CPU, enabled by the OS, and the tile state granted to this process (Linux).
bool amxAvailable();
const char* isaName(BinaryIsa isa);

struct RunStats {
  // CPU time of the calling thread per instruction kind (ns), filled when profiling; CPU time, not wall time, so a
  // profile taken on a busy machine still says where the work goes. With threads > 1 only the caller's share counts.
  std::vector<int64_t> nsByKind = std::vector<int64_t>(11, 0);
  // The binary convs' phases: BN → sign → pack, tap-major streams, popcount dot + epilogue.
  int64_t packNs = 0, streamsNs = 0, dotNs = 0;
  // Per instruction, in plan order.
  std::vector<int64_t> nsByInstruction;
};

int64_t threadCpuNs();

class Session {
 public:
  Session(std::vector<Instruction> instructions, int64_t arenaPerImage, View input, int64_t inputPerImage, View output,
          int64_t outputPerImage);
  ~Session();
  // Runs a batch: input [n][H][W][C] normalised, output [n][outputPerImage]. Runs are serialised per session.
  void run(const float* input, int n, float* output, int threads, RunStats* stats = nullptr);
  int64_t weightBytes() const;
  // Bytes of arena and scratch held (one image's worth per thread that has run images).
  int64_t workBytes() const;
  int64_t outputPerImage() const { return outputPerImage_; }
  int64_t inputPerImage() const { return inputPerImage_; }
  void setIsa(BinaryIsa isa) { isa_ = isa; }
  BinaryIsa isa() const { return isa_; }
  const std::vector<Instruction>& instructions() const { return instructions_; }

 private:
  std::vector<Instruction> instructions_;
  int64_t arenaPerImage_, inputPerImage_, outputPerImage_;
  View input_, output_;
  BinaryIsa isa_;
  void runImage(const float* input, float* output, int threads, float* arena, uint64_t* scratch, RunStats* stats);
  std::mutex mutex_;
  Team team_;
  // One arena and one scratch per thread that runs images (one image's tensors each).
  std::vector<std::vector<float>> arenas_;
  std::vector<std::vector<uint64_t>> scratches_;
};

// ---- kernels (binconv.cc, float_ops.cc, float_conv.cc) ----

// The one-plane dot's zero-padding correction for a row of output pixels: where at[p] is set, pixel p has taps outside
// the image; its stream holds 0 there, so popcount(s ^ w) also counted the weights' −1 bits at those taps, and
// corr[col[p]·stride + o] is that count for output channel o (padded to the groups' width + 16), col[p] the pixel's
// column pattern (which kernel columns fall inside the image).
struct Border {
  const uint8_t* at = nullptr;
  const int32_t* corr = nullptr;
  const uint8_t* col = nullptr;
  int stride = 0;
  Border from(int p) const { return {at + p, corr, col + p, stride}; }
};

// A binary conv with its weights re-laid once for the kernels: output channels in groups of 8, each group's weights
// as tap-major bit streams [kq][8], so one 512-bit load holds one stream word for 8 output channels. Bit t·cin + c of
// a stream is channel c of tap t; in a row-aligned layer each kernel row ky starts on a word instead (bit
// ky·64·wpr + kx·cin + c, wpr words a kernel row), where that costs no word (3×3 at cin 36 or 144: 6 and 21 words
// either way). Then the k taps of one input row are the same bits for every output row that reads it, so a stride-1
// layer builds each input row's horizontal streams once instead of k² taps per output row.
class BinConvLayer {
 public:
  BinConvLayer(const Geometry& g, const Bn& bn, const float* alpha, const uint32_t* sign, const uint32_t* mask);
  // Scratch words the layer needs for a batch of n images and `threads` threads.
  int64_t scratchWords(int n, int threads) const;
  void run(const float* x, int xStride, float* y, int yStride, bool accumulate, int n, uint64_t* scratch,
           int threads, Team* team, BinaryIsa isa, RunStats* stats = nullptr) const;
  int64_t weightBytes() const;
  // The kernel alone on this layer's shape (streams built once, L1/L2-resident): binary MACs per second.
  double probeMacsPerSecond(BinaryIsa isa, int reps) const;
  // The kernel this layer runs where the session's is isa: the AMX tiles where it has them, else the popcount one.
  BinaryIsa kernelFor(BinaryIsa isa) const {
    return isa == BinaryIsa::Amx && !amx_ ? BinaryIsa::Avx512 : isa;
  }

  const Geometry g;

 private:
  void pack(const float* x, int xStride, int64_t pixels, uint64_t* sign, uint64_t* mask, int32_t* count,
            int threads, Team* team, BinaryIsa isa) const;
  // signOnly: the input has no exact zeros, so only the sign streams are built; masks and valid counts then depend
  // on the geometry alone (which taps fall outside the image) and come from geoMask_ / geoValid_.
  void rowStreams(const uint64_t* sign, const uint64_t* mask, const int32_t* count, int64_t planeStride, int n, int oy,
                  uint64_t* s, uint64_t* m, int32_t* valid, bool signOnly, BinaryIsa isa) const;
  // Input rows [iy0, iy1) of image n's horizontal streams into buf ([slots_][wpr_][wo] words, row iy in slot
  // slotOf(iy)): word j of output column ox holds the k taps of input row iy, bit kx·cin + c the sign of channel c at
  // input column ox − pad + kx·dilation (0 outside the image; rows outside it all 0). Row-aligned stride-1 layers.
  void horizontalRows(const uint64_t* sign, int64_t planeStride, int n, int iy0, int iy1, uint64_t* buf) const;
  // Input rows iy, iy + d, iy + 2d… (d the dilation: the rows one output row reads) sit in consecutive slots, so the
  // k kernel rows' words of an output row are one run of k·wpr_ words, as a row's own streams are.
  int64_t slotOf(int iy) const {
    const int u = iy + top_;
    return int64_t(u % g.dilation) * slotRows_ + u / g.dilation;
  }
  // Bit t set where tap t of output coordinate o (a row or a column, the input's extent along it) is in the image.
  int tapsInside(int o, int extent) const;
  // The index of key in keys, added at the end where it is new.
  static int patternOf(std::vector<int>& keys, int key);
  // Output columns [lo, hi) whose tap kx falls inside the image.
  std::pair<int, int> columnsInside(int kx) const;
  // First stream bit of tap (ky, kx).
  int tapBit(int ky, int kx) const { return wpr_ ? ky * 64 * wpr_ + kx * g.cin : (ky * g.k + kx) * g.cin; }
  void buildGeometryMasks();
  void buildBorderCorrections();
  // The one-plane dot's border for output row oy (an input without zeros); null for a 1×1 conv (no padding).
  Border borderOfRow(int oy) const;
  int64_t rowWords() const;
  Bn bn_;
  // sign(BN(x)) as two compares per channel (see thresholds() in binconv.cc): neg ⟺ (x ^ flip) < lo,
  // nonzero ⟺ neg or (x ^ flip) ≥ hi. Empty where some channel's BN is not strictly monotone (γ = 0, non-finite).
  std::vector<float> lo_, hi_;
  std::vector<uint32_t> flip_;
  bool flips_ = false;  // some channel has γ < 0 (its x is negated before the compares)
  std::vector<float> alpha_;  // padded to groups·8 + 8 with zeros (the epilogue loads 16 at a time)
  int wq_, kbits_, kq_, kqs_, groups_;
  bool oneByOne_;
  int wpr_ = 0;                 // words per kernel row where the layer is row-aligned, else 0
  int top_ = 0;                 // rows of zero streams above the image's horizontal streams (pad)
  int slotRows_ = 0, slots_ = 0;  // horizontal stream rows per dilation phase, and in all
  bool imageStreams_ = false;   // row-aligned and stride 1: the one-plane dot reads horizontalRows' streams
  // Per distinct set of in-image kernel rows (top border, interior, bottom border...): a row of mask streams [kqs][wo]
  // and valid counts [wo] for an input without zeros; rowPattern_[oy] says which set output row oy has.
  std::vector<uint64_t> geoMask_;
  std::vector<int32_t> geoValid_;
  std::vector<int> rowPattern_;
  std::vector<int> patternKeys_;  // per pattern: bit ky set where kernel row ky is inside the image
  // Per row pattern and output column: whether some tap falls outside the image; per row pattern and column pattern
  // (colPattern_[ox]: which kernel columns are inside) the −1 weight bits those taps hold per output channel
  // ([pattern][colPatterns_][corrStride_]), for the one-plane dot (Border).
  std::vector<uint8_t> geoBorder_;
  std::vector<int32_t> geoCorr_;
  std::vector<uint8_t> colPattern_;
  int colPatterns_ = 0;
  int corrStride_ = 0;
  std::vector<uint64_t> wsign_;  // [groups][kq][8]
  std::vector<uint64_t> wmask_;  // same layout; empty unless some binary weight is exactly 0
  std::shared_ptr<const AmxBinConv> amx_;  // the int8 tile kernel's weights, where the CPU has AMX and it suits
};

// The binary conv as int8 products on AMX tiles (binconv_amx.cc): exact, as the popcount kernels, for stride-1
// layers. Made by BinConvLayer where the CPU has AMX and the layer's BN has thresholds.
class AmxBinConv {
 public:
  // weight(o, t, c): the binary weight of output o, tap t, input channel c as −1, 0 or +1.
  AmxBinConv(const Geometry& g, const std::vector<float>& lo, const std::vector<float>& hi,
             const std::vector<uint32_t>& flip, bool flips, const std::vector<float>& alpha,
             const std::function<int(int, int, int)>& weight);
  // Bytes of scratch for n images on `threads` threads (each its own padded int8 input).
  int64_t scratchBytes(int n, int threads) const;
  void run(const float* x, int xStride, float* y, int yStride, bool accumulate, int n, int8_t* scratch, int threads,
           Team* team, RunStats* stats) const;
  int64_t weightBytes() const;
  // The tile loop and its epilogue alone over every output row of this shape: binary MACs per second.
  double probeMacsPerSecond(int reps) const;
  // Int8 weight bytes a layer of this geometry would hold (the session keeps AMX to layers of at most 64 KB, so
  // the int8 copies stay a few MB beside the bit-packed ones).
  static int64_t weightBytesFor(const Geometry& g) {
    return int64_t((g.cout + 15) / 16) * g.k * ((g.k * g.cin + 63) / 64) * 1024;
  }

 private:
  // Image rows [iy0, iy1) of the batch (row iy of image img is img·h + iy) into act.
  void packRows(const float* x, int xStride, int iy0, int iy1, int8_t* act) const;
  void zeroPadding(int8_t* act, int img, int u0, int u1) const;
  void part(const float* x, int xStride, float* y, int yStride, bool accumulate, int r0, int r1, int8_t* act,
            RunStats* stats) const;
  void dotRows(const int8_t* act, int r0, int r1, float* y, int yStride, bool accumulate) const;
  Geometry g_;
  std::vector<float> lo_, hi_;
  std::vector<uint32_t> flip_;
  bool flips_;
  std::vector<float> alpha_;     // padded to whole tiles of 16 channels
  std::vector<int8_t> weightStore_;
  int8_t* weights_ = nullptr;  // in weightStore_, 64-byte aligned: B tiles [channel tile][ky][K chunk][16][64]
  int rows_ = 0, phaseWidth_ = 0, kt_ = 0, nt_ = 0;
  int64_t imageBytes_ = 0, slackBytes_ = 0;
};

// popcount-dot kernels over prepared streams (word q of pixel p at s[q·qStride + p], masks m likewise): acc[p][o] for
// the row's pixels and the layer's groups, written out as y = ReLU(α·(valid − 2·acc)) (+ y when accumulating).
void binaryRow(BinaryIsa isa, const uint64_t* s, const uint64_t* m, int qStride, const int32_t* valid, int pixels,
               const uint64_t* w, const uint64_t* wmask, int kq, int groups, const float* alpha, int cout, float* y,
               int yStride, bool accumulate);
// The same dot for an input without exact zeros and weights without zeros: dot = valid − 2·(popcount(s ^ w) −
// border correction), no mask plane. False where the ISA has no such kernel (the caller then uses binaryRow).
bool binaryRowOnePlane(BinaryIsa isa, const uint64_t* s, int qStride, const int32_t* valid, const Border* border,
                       int pixels, const uint64_t* w, int kq, int groups, const float* alpha, int cout, float* y,
                       int yStride, bool accumulate);

void bnForward(const float* x, int xStride, float* y, int yStride, int64_t pixels, int c, const Bn& bn);
void relu(const float* x, int xStride, float* y, int yStride, int64_t pixels, int c);
void add(const float* a, int aStride, const float* b, int bStride, float* y, int yStride, int64_t pixels, int c);
void copy(const float* x, int xStride, float* y, int yStride, int64_t pixels, int c);
void zero(float* y, int yStride, int64_t pixels, int c);
// Output rows [rowBegin, rowEnd) of every image (rowEnd −1: all).
void pool3x3(bool max, const float* x, int xStride, float* y, int yStride, int n, const Geometry& g, int rowBegin = 0,
             int rowEnd = -1);
void globalAvgPool(const float* x, int xStride, float* y, int yStride, int n, int hw, int c);
void linear(const float* x, int xStride, float* y, int yStride, int n, int fin, int fout, const float* w,
            const float* b);

// A float conv on oneDNN, its filter reordered once (shared by batch sizes that want the same layout); dense NHWC.
class FloatConvLayer {
 public:
  FloatConvLayer(const Geometry& g, const float* weight, const float* bias, bool relu);
  ~FloatConvLayer();
  void run(const float* x, float* y, int n, int threads);
  // Plans the primitive for batch n now (not thread-safe: called before threads run images).
  void prepare(int n);
  int64_t weightBytes() const;
  // oneDNN alone on this shape: float MACs per second (best of reps).
  double probeMacsPerSecond(int n, int threads, int reps);
  const Geometry g;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bnas::packed
