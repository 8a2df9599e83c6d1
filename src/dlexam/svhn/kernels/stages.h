// What both stages of Problem 1's network share (stage1.h, stage2.h; fused.cpp runs them over a
// batch): the sizes, one image's dimensions, per-thread scratch buffers, the padded copy of an input.
// The channel counts and kernel sizes are compile-time constants that build.py derives from the exam's
// layer table (dlexam.spec) and passes as -D flags; the image size, the paddings and the pool sizes
// are arguments. Maps are channels last: x2 (H, W, C1), the pooled stage-1 output.

#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "simd.h"

#if !defined(DLEXAM_C1) || !defined(DLEXAM_K1) || !defined(DLEXAM_C2) || !defined(DLEXAM_K2)
#error "compile with the stage sizes derived from dlexam.spec: -DDLEXAM_C1= -DDLEXAM_K1= -DDLEXAM_C2= -DDLEXAM_K2="
#endif

namespace dlexam {
namespace {  // internal linkage: each library loaded (one per set of sizes, native or portable) keeps
             // its own pool and scratch; shared ones (GCC makes inline statics process-wide unique)
             // mixed a portable build's 16-byte aligned buffers into AVX-512 code

constexpr int pow2_at_least(int n) { return n <= 1 ? 1 : 2 * pow2_at_least((n + 1) / 2); }
constexpr int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

constexpr int C1 = DLEXAM_C1, K1 = DLEXAM_K1, C2 = DLEXAM_C2, K2 = DLEXAM_K2;
constexpr int C1P = pow2_at_least(C1);  // channels per row of a stage-1 vector
constexpr int R = L / C1P;              // rows per stage-1 vector
constexpr int NV2 = (C2 + L - 1) / L;   // vectors per stage-2 output position
constexpr int KC = K2 * C1;             // floats of one kernel row of stage 2: taps x channels
constexpr int NS = (KC + L - 1) / L;    // vectors that hold them
static_assert(C1 >= 1 && C1 <= L && C2 >= 1 && C2 <= 64 && K1 >= 1 && K1 <= 8 && K2 >= 1 && K2 <= 8,
              "sizes outside what dlexam.svhn.kernels.fused.Geometry accepts");

template <int C>
using mask_of = std::conditional_t<C <= 8, uint8_t,
                                   std::conditional_t<C <= 16, uint16_t, std::conditional_t<C <= 32, uint32_t, uint64_t>>>;
using Mask1 = mask_of<C1>;  // one bit per channel of one conv output
using Mask2 = mask_of<C2>;
constexpr uint64_t kBits1 = C1 == 64 ? ~0ull : (1ull << C1) - 1;

// The sizes of one stage for an H x W input: padded input, conv output, pooled output, and the part
// of the conv output the pool reads (Hu x Wu = Hp P x Wp P).
struct Dims {
  int H, W, pad, P, K;
  int Hx, Wx, Hc, Wc, Hp, Wp, Hu, Wu;
  Dims(int h, int w, int padding, int pool, int k) : H(h), W(w), pad(padding), P(pool), K(k) {
    Hx = H + 2 * pad;
    Wx = W + 2 * pad;
    Hc = Hx - K + 1;
    Wc = Wx - K + 1;
    Hp = Hc / P;
    Wp = Wc / P;
    Hu = Hp * P;
    Wu = Wp * P;
  }
};

// Per-thread scratch, grown on demand and reused.
struct Scratch {
  std::vector<float> xpad, col, dx;
  std::vector<v16> rows, cells, gm;
};
inline Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}
template <typename T>
T* grown(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// `x` (H, W, C) copied into the middle of a zeroed (rows, cols, C) buffer at (pad, pad).
inline float* padded(std::vector<float>& buf, const float* x, int H, int W, int C, int pad, int rows, int cols) {
  float* xp = grown(buf, size_t(rows) * cols * C + L);
  std::memset(xp, 0, sizeof(float) * (size_t(rows) * cols * C + L));
  for (int i = 0; i < H; ++i)
    std::memcpy(xp + (size_t(i + pad) * cols + pad) * C, x + size_t(i) * W * C, sizeof(float) * W * C);
  return xp;
}

}  // namespace
}  // namespace dlexam
