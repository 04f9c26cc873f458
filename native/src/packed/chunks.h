// The AVX-512 packers keep their per-channel thresholds in registers, so the number of 16-channel chunks a pass takes
// must be a compile-time constant: fn(std::integral_constant<int, CH>{}) with CH = min(12, chunks), one instance per
// count (12 chunks of thresholds, lo and hi, fill 24 of the 32 vector registers).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace bnas::packed {

constexpr int kMaxPassChunks = 12;

template <typename Fn>
inline void withPassChunks(int chunks, Fn&& fn) {
  using std::integral_constant;
  switch (std::min(kMaxPassChunks, chunks)) {
    case 1: return fn(integral_constant<int, 1>{});
    case 2: return fn(integral_constant<int, 2>{});
    case 3: return fn(integral_constant<int, 3>{});
    case 4: return fn(integral_constant<int, 4>{});
    case 5: return fn(integral_constant<int, 5>{});
    case 6: return fn(integral_constant<int, 6>{});
    case 7: return fn(integral_constant<int, 7>{});
    case 8: return fn(integral_constant<int, 8>{});
    case 9: return fn(integral_constant<int, 9>{});
    case 10: return fn(integral_constant<int, 10>{});
    case 11: return fn(integral_constant<int, 11>{});
    default: return fn(integral_constant<int, 12>{});
  }
}

#if defined(__x86_64__)
// A pass's thresholds into the caller's registers: lo, hi and the sign flip (γ < 0) of its CH chunks of 16 channels,
// and each chunk's live lanes (cin channels from the pass's first). Inlined into the packers (their arrays stay
// registers).
template <int CH>
__attribute__((always_inline, target("avx512f,avx512dq,avx512vl,avx512bw"))) inline void loadPassThresholds(
    const float* lo, const float* hi, const uint32_t* flip, int cin, __m512 (&vlo)[CH], __m512 (&vhi)[CH],
    __m512i (&vflip)[CH], __mmask16 (&live)[CH]) {
  for (int k = 0; k < CH; ++k) {
    const int c = 16 * k;
    live[k] = cin - c >= 16 ? __mmask16(0xffff) : __mmask16((1u << (cin - c)) - 1);
    vlo[k] = _mm512_loadu_ps(lo + c);
    vhi[k] = _mm512_loadu_ps(hi + c);
    vflip[k] = _mm512_loadu_si512(flip + c);
  }
}
#endif

}  // namespace bnas::packed
