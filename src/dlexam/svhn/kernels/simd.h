// 16 floats as one vector, for the fused kernels (fused.cpp, stages.h).
//
// GCC/Clang vector extensions: with -march=native on an AVX-512 CPU a v16 is one zmm register and
// `acc += w * x` one FMA; elsewhere the compiler splits it (two AVX registers, four SSE ones), so the
// same source is right everywhere and fast where the lanes exist. The two conversions between a
// vector and a bit per lane (the ReLU masks) use AVX-512's mask registers where present.

#pragma once

#include <cstdint>
#include <cstring>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace dlexam {
namespace {  // internal linkage: each library loaded (one per set of sizes, native or portable) keeps
             // its own pool and scratch; shared ones (GCC makes inline statics process-wide unique)
             // mixed a portable build's 16-byte aligned buffers into AVX-512 code

constexpr int L = 16;  // lanes of a vector

// How many v16 values the CPU's vector registers hold at once, for sizing a block of accumulators
// (stage 1's conv columns): a block with more accumulators than registers spills them to memory on
// every step. Blocking decides which outputs are computed together, never the order in which any
// one output's terms are added, so every value is the same bit for bit whatever it is.
#if defined(__AVX512F__)
constexpr int kVectors = 32;  // 32 zmm, one per v16
#elif defined(__AVX__)
constexpr int kVectors = 8;  // 16 ymm, two per v16
#else
constexpr int kVectors = 4;  // 16 xmm (SSE) or NEON's 32 q registers counted as x86's 16, four per v16
#endif
typedef float v16 __attribute__((vector_size(L * sizeof(float))));
typedef int32_t v16i __attribute__((vector_size(L * sizeof(int32_t))));

inline v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void store(float* p, v16 v) { std::memcpy(p, &v, sizeof(v)); }

inline v16 splat(float s) { return v16{s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }

inline v16 relu(v16 v) { return v > v16{} ? v : v16{}; }

// Bit l set where lane l is > 0 (ReLU passes a gradient there, as PyTorch's does: none at 0).
inline uint32_t positive_bits(v16 v) {
#if defined(__AVX512F__)
  return _mm512_cmp_ps_mask(__m512(v), _mm512_setzero_ps(), _CMP_GT_OQ);
#elif defined(__AVX2__)
  __m256 half[2];
  std::memcpy(half, &v, sizeof(v));
  const __m256 zero = _mm256_setzero_ps();
  return uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(half[0], zero, _CMP_GT_OQ))) |
         uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(half[1], zero, _CMP_GT_OQ))) << 8;
#else
  uint32_t bits = 0;
  for (int l = 0; l < L; ++l) bits |= uint32_t(v[l] > 0.0f) << l;
  return bits;
#endif
}

// v where bit l of `bits` is set, else 0.
inline v16 keep_bits(v16 v, uint32_t bits) {
#if defined(__AVX512F__)
  return v16(_mm512_maskz_mov_ps(__mmask16(bits), __m512(v)));
#elif defined(__AVX2__)
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  __m256 half[2];
  std::memcpy(half, &v, sizeof(v));
  for (int h = 0; h < 2; ++h) {
    const __m256i on = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int32_t(bits >> (8 * h))), lane_bit),
                                          lane_bit);
    half[h] = _mm256_and_ps(half[h], _mm256_castsi256_ps(on));  // +0 where off, as the select below gives
  }
  v16 out;
  std::memcpy(&out, half, sizeof(out));
  return out;
#else
  const v16i lane_bit = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
  const v16i on = ((v16i{} + int32_t(bits)) & lane_bit) != 0;
  return on ? v : v16{};
#endif
}

// Lanes [g*width, (g+1)*width) of v summed over the groups g: lane c of the result (c < width)
// holds sum_g v[g*width + c]. `width` divides L.
inline void fold_groups(v16 v, int width, float* out) {
  for (int c = 0; c < width; ++c) out[c] = v[c];
  for (int g = 1; g < L / width; ++g)
    for (int c = 0; c < width; ++c) out[c] += v[g * width + c];
}

}  // namespace
}  // namespace dlexam
