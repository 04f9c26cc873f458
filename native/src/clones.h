// BNAS_CLONES: a loop function compiled as AVX-512, AVX2 and baseline x86-64 clones, one picked at load time (GCC
// target_clones), so the addon never needs -march=native and runs on any x86-64. For the memory-bound loops (pooling,
// elementwise, batch norm, the binary block's halves, the packed session's float ops); the convs pick their
// instruction set themselves (conv_own_kernels.cc: target_clones' avx2 clone has no FMA).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BNAS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BNAS_CLONES
#endif
