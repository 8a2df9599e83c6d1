// One image through Problem 1's two conv + ReLU + AvgPool stages, forward and backward (fused.cpp runs
// them over a batch). The channel counts and kernel sizes are compile-time constants that build.py
// derives from the exam's layer table (dlexam.spec) and passes as -D flags; the image size, the
// paddings and the pool sizes are arguments.
//
// Stage 1 (1 input channel -> C1, K1 x K1, ReLU, P1 x P1 average pool). A vector holds R rows x C1P
// channels of one column of conv outputs (C1P: C1 rounded up to a power of two; R = 16 / C1P; for the
// exam, 2 rows x 8 channels). Its input is the matching "row broadcast": lanes (r, c) = x[i + r][s]
// for every c, built once per image row (`broadcast_row`). So a conv output column is K1 * K1 FMAs,
// the pool a vector add (R divides P1), and the ReLU mask one bit per lane.
// Stage 2 (C1 -> C2, K2 x K2, ReLU, P2 x P2 average pool). A vector holds 16 output channels; each
// FMA takes one input value broadcast. Its weight gradient is the same shape of loop; its input
// gradient is computed per (conv output, kernel row) as a span of K2 * C1 floats (a kernel row's
// taps and channels, contiguous in the channels-last input) into `col`, then gathered row by row.
//
// Layouts: channels last for every map (x2 (H, W, C1), the pooled stage-1 output), except stage 2's
// output and its gradient, (C2, Hp, Wp) as nn.Flatten reads them.

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

// ---- stage 1 --------------------------------------------------------------------------------------
namespace stage1 {

constexpr int NB = 14;  // conv output columns per block (accumulators)

struct Weights {
  v16 w[K1 * K1];  // lanes (r, c): w[c][0][u][v]
  v16 bias;
  explicit Weights(const float* weight, const float* b) {
    for (int k = 0; k < K1 * K1; ++k) {
      w[k] = v16{};
      for (int l = 0; l < L; ++l) w[k][l] = l % C1P < C1 ? weight[(l % C1P) * K1 * K1 + k] : 0.0f;
    }
    bias = v16{};
    for (int l = 0; l < L; ++l) bias[l] = l % C1P < C1 ? b[l % C1P] : 0.0f;
  }
};

// Row broadcasts of one image: ring of K1 rows of `span` vectors each; row s holds lanes (r, c) =
// xpad[s + r][col].
struct Broadcasts {
  v16* ring;
  int span, cols;
  const float* xpad;
  Broadcasts(Scratch& s, const float* x, const Dims& d)
      : span(((d.Wu + NB - 1) / NB) * NB + K1), cols(std::max(span, d.Wx)) {
    xpad = padded(s.xpad, x, d.H, d.W, 1, d.pad, d.Hx, cols);
    ring = grown(s.rows, size_t(K1) * span);
  }
  void build(int row) {
    v16* out = ring + size_t(row % K1) * span;
    const float* src = xpad + size_t(row) * cols;
    v16i group;  // lane l belongs to row l / C1P
    for (int l = 0; l < L; ++l) group[l] = l / C1P;
    for (int col = 0; col < span; ++col) {
      v16 v = splat(src[col]);
      for (int r = 1; r < R; ++r) v = group == r ? splat(src[size_t(r) * cols + col]) : v;
      out[col] = v;
    }
  }
  const v16* row(int r) const { return ring + size_t(r % K1) * span; }
};

// out (Hp, Wp, C1) and the mask (Hu, Wu): bit c of mask[i][j] set where channel c of conv output (i, j) > 0.
inline void forward_image(const float* x, const Dims& d, const Weights& wt, float* out, Mask1* mask) {
  Scratch& s = scratch();
  Broadcasts pb(s, x, d);
  v16* rectified = grown(s.cells, size_t(pb.span) + d.Wp);  // one row group's ReLU outputs, then the pool's sums
  v16* cell = rectified + pb.span;
  const float inv = 1.0f / float(d.P * d.P);
  for (int i0 = 0, built = -1; i0 < d.Hu; i0 += R) {
    for (int row = std::max(i0, built + 1); row < i0 + K1; ++row) pb.build(row);
    built = i0 + K1 - 1;
    const v16* rows[K1];
    for (int u = 0; u < K1; ++u) rows[u] = pb.row(i0 + u);
    for (int j0 = 0; j0 < d.Wu; j0 += NB) {
      v16 acc[NB];
      for (int t = 0; t < NB; ++t) acc[t] = wt.bias;
      for (int u = 0; u < K1; ++u) {
        const v16* src = rows[u] + j0;
        for (int v = 0; v < K1; ++v) {
          const v16 w = wt.w[u * K1 + v];
          for (int t = 0; t < NB; ++t) acc[t] += w * src[t + v];
        }
      }
      for (int t = 0; t < NB; ++t) rectified[j0 + t] = relu(acc[t]);
      const int n = std::min(NB, d.Wu - j0);
      for (int t = 0; t < n; ++t) {
        const uint32_t bits = positive_bits(acc[t]);
        for (int r = 0; r < R; ++r) mask[size_t(i0 + r) * d.Wu + j0 + t] = Mask1((bits >> (r * C1P)) & kBits1);
      }
    }
    const bool first = i0 % d.P == 0, last = (i0 + R) % d.P == 0;
    for (int pj = 0; pj < d.Wp; ++pj) {
      v16 sum = first ? v16{} : cell[pj];
      for (int dj = 0; dj < d.P; ++dj) sum += rectified[pj * d.P + dj];
      cell[pj] = sum;
    }
    if (last) {
      float* o = out + size_t(i0 / d.P) * d.Wp * C1;
      for (int pj = 0; pj < d.Wp; ++pj) {
        float sum[C1P];
        fold_groups(cell[pj], C1P, sum);
        for (int c = 0; c < C1; ++c) o[pj * C1 + c] = sum[c] * inv;
      }
    }
  }
}

// dw[u K1 + v] += sum over columns j of gm[j] * rows[u][j + v], for UG kernel rows u0 .. u0 + UG - 1.
template <int UG>
inline void weight_rows(const v16* gm, int n, const v16* const* rows, int u0, v16* dw) {
  v16 acc[UG][K1];
  for (int a = 0; a < UG; ++a)
    for (int v = 0; v < K1; ++v) acc[a][v] = v16{};
  for (int j = 0; j < n; ++j) {
    const v16 g = gm[j];
    for (int a = 0; a < UG; ++a)
      for (int v = 0; v < K1; ++v) acc[a][v] += g * rows[u0 + a][j + v];
  }
  for (int a = 0; a < UG; ++a)
    for (int v = 0; v < K1; ++v) dw[(u0 + a) * K1 + v] += acc[a][v];
}

// Adds this image's weight gradient (lanes (r, c) of dw[u K1 + v], to be summed over r) and bias
// gradient to dw and db. g: the gradient of the pooled output (Hp, Wp, C1).
inline void backward_image(const float* x, const Dims& d, const float* g, const Mask1* mask, v16* dw, v16* db) {
  Scratch& s = scratch();
  Broadcasts pb(s, x, d);
  v16* gm = grown(s.cells, size_t(d.Wu) + d.Wp);  // one row group's conv-output gradients, then the cells'
  v16* cell = gm + d.Wu;
  const float inv = 1.0f / float(d.P * d.P);
  v16 bias = *db;
  for (int i0 = 0, built = -1; i0 < d.Hu; i0 += R) {
    for (int row = std::max(i0, built + 1); row < i0 + K1; ++row) pb.build(row);
    built = i0 + K1 - 1;
    if (i0 % d.P == 0) {  // AvgPool's backward: each cell's gradient / P^2, in every row of the vector
      const float* gr = g + size_t(i0 / d.P) * d.Wp * C1;
      for (int pj = 0; pj < d.Wp; ++pj) {
        v16 v = v16{};
        for (int l = 0; l < L; ++l) v[l] = l % C1P < C1 ? gr[pj * C1 + l % C1P] * inv : 0.0f;
        cell[pj] = v;
      }
    }
    const Mask1* m = mask + size_t(i0) * d.Wu;
    v16 row_bias = v16{};  // summed apart, then added: shorter chains of float additions
    for (int pj = 0; pj < d.Wp; ++pj)
      for (int dj = 0; dj < d.P; ++dj) {  // ReLU's backward
        const int j = pj * d.P + dj;
        uint32_t bits = 0;
        for (int r = 0; r < R; ++r) bits |= uint32_t(m[size_t(r) * d.Wu + j]) << (r * C1P);
        gm[j] = keep_bits(cell[pj], bits);
        row_bias += gm[j];
      }
    bias += row_bias;
    const v16* rows[K1];
    for (int u = 0; u < K1; ++u) rows[u] = pb.row(i0 + u);
    int u0 = 0;
    for (; u0 + 3 <= K1; u0 += 3) weight_rows<3>(gm, d.Wu, rows, u0, dw);
    if (K1 - u0 == 2) weight_rows<2>(gm, d.Wu, rows, u0, dw);
    if (K1 - u0 == 1) weight_rows<1>(gm, d.Wu, rows, u0, dw);
  }
  *db = bias;
}

}  // namespace stage1

// ---- stage 2 --------------------------------------------------------------------------------------
namespace stage2 {

constexpr int MA = 12;  // output vectors per block (accumulators)

struct Weights {
  v16 w[K2 * K2 * C1 * NV2];  // [(u K2 + v) C1 + ci][nv]: lanes co = 16 nv + l
  v16 bias[NV2];
  float wt[K2 * C2 * NS * L];  // [u][co][t]: w[co][ci][u][v] at t = v C1 + ci, zero for t >= KC
  explicit Weights(const float* weight, const float* b) {
    auto at = [&](int co, int ci, int u, int v) { return weight[((size_t(co) * C1 + ci) * K2 + u) * K2 + v]; };
    for (int u = 0; u < K2; ++u)
      for (int v = 0; v < K2; ++v)
        for (int ci = 0; ci < C1; ++ci)
          for (int nv = 0; nv < NV2; ++nv) {
            v16 x = v16{};
            for (int l = 0; l < L; ++l) x[l] = nv * L + l < C2 ? at(nv * L + l, ci, u, v) : 0.0f;
            w[((u * K2 + v) * C1 + ci) * NV2 + nv] = x;
          }
    for (int nv = 0; nv < NV2; ++nv) {
      bias[nv] = v16{};
      for (int l = 0; l < L; ++l) bias[nv][l] = nv * L + l < C2 ? b[nv * L + l] : 0.0f;
    }
    std::fill(wt, wt + K2 * C2 * NS * L, 0.0f);
    for (int u = 0; u < K2; ++u)
      for (int co = 0; co < C2; ++co)
        for (int v = 0; v < K2; ++v)
          for (int ci = 0; ci < C1; ++ci) wt[(u * C2 + co) * NS * L + v * C1 + ci] = at(co, ci, u, v);
  }
};

// The padded input with room for whole blocks past the last row and column.
struct Input {
  const float* xp;
  int rows, cols;
  Input(std::vector<float>& buf, const float* x, const Dims& d, int rb, int cb) {
    rows = std::max(d.Hx, ((d.Hu + rb - 1) / rb) * rb + K2 - 1);
    cols = std::max(d.Wx, ((d.Wu + cb - 1) / cb) * cb + K2 - 1);
    xp = padded(buf, x, d.H, d.W, C1, d.pad, rows, cols);
  }
  const float* at(int i, int j) const { return xp + (size_t(i) * cols + j) * C1; }
};

// Conv outputs (i0 .. i0 + RB - 1, j0 .. j0 + CB - 1), bias included, into acc[rb][cb][nv].
template <int RB, int CB>
inline void conv_block(const Input& in, const Weights& wt, int i0, int j0, v16 (&acc)[RB][CB][NV2]) {
  for (int rb = 0; rb < RB; ++rb)
    for (int cb = 0; cb < CB; ++cb)
      for (int nv = 0; nv < NV2; ++nv) acc[rb][cb][nv] = wt.bias[nv];
  for (int u = 0; u < K2; ++u) {
    const float* rows[RB];
    for (int rb = 0; rb < RB; ++rb) rows[rb] = in.at(i0 + rb + u, j0);
    for (int v = 0; v < K2; ++v)
      for (int ci = 0; ci < C1; ++ci)
        for (int nv = 0; nv < NV2; ++nv) {
          const v16 w = wt.w[((u * K2 + v) * C1 + ci) * NV2 + nv];
          for (int rb = 0; rb < RB; ++rb)
            for (int cb = 0; cb < CB; ++cb) acc[rb][cb][nv] += w * rows[rb][(cb + v) * C1 + ci];
        }
  }
}

template <int RB, int CB>
inline void forward_blocks(const float* x, const Dims& d, const Weights& wt, float* out, Mask2* mask) {
  Scratch& s = scratch();
  const Input in(s.xpad, x, d, RB, CB);
  const int cells = d.Hp * d.Wp;
  v16* cell = grown(s.cells, size_t(cells) * NV2);
  std::fill(cell, cell + size_t(cells) * NV2, v16{});
  for (int i0 = 0; i0 < d.Hu; i0 += RB)
    for (int j0 = 0; j0 < d.Wu; j0 += CB) {
      v16 acc[RB][CB][NV2];
      conv_block<RB, CB>(in, wt, i0, j0, acc);
      for (int rb = 0; rb < RB && i0 + rb < d.Hu; ++rb)
        for (int cb = 0; cb < CB && j0 + cb < d.Wu; ++cb) {
          const int i = i0 + rb, j = j0 + cb;
          v16* c = cell + size_t((i / d.P) * d.Wp + j / d.P) * NV2;
          uint64_t bits = 0;
          for (int nv = 0; nv < NV2; ++nv) {
            c[nv] += relu(acc[rb][cb][nv]);
            bits |= uint64_t(positive_bits(acc[rb][cb][nv])) << (L * nv);
          }
          mask[size_t(i) * d.Wu + j] = Mask2(bits);
        }
    }
  const float inv = 1.0f / float(d.P * d.P);
  for (int k = 0; k < cells; ++k)
    for (int co = 0; co < C2; ++co) out[size_t(co) * cells + k] = cell[size_t(k) * NV2 + co / L][co % L] * inv;
}

// out (C2, Hp, Wp) and the mask (Hu, Wu): bit co of mask[i][j] set where channel co of conv output
// (i, j) > 0. x: (H, W, C1).
inline void forward_image(const float* x, const Dims& d, const Weights& wt, float* out, Mask2* mask) {
  constexpr int CB2 = std::max(1, MA / NV2 / 2), CB1 = std::max(1, MA / NV2);
  if (d.Wu <= CB2)
    forward_blocks<2, CB2>(x, d, wt, out, mask);
  else
    forward_blocks<1, CB1>(x, d, wt, out, mask);
}

// Adds this image's weight gradient ([(u K2 + v) C1 + ci][nv], as Weights::w) and bias gradient to
// dw and db, and writes the input gradient dx (H, W, C1). g: the gradient of the output (C2, Hp, Wp).
inline void backward_image(const float* x, const Dims& d, const float* g, const Mask2* mask, const Weights& wt,
                           v16* dw, v16* db, float* dx) {
  Scratch& s = scratch();
  constexpr int TB = std::max(1, L / NV2);  // weight-gradient accumulators per block: taps x channels
  const Input in(s.xpad, x, d, 1, 1);
  const int cells = d.Hp * d.Wp, npos = d.Hu * d.Wu;
  const float inv = 1.0f / float(d.P * d.P);
  // the gradient at each conv output: AvgPool's backward, then ReLU's
  v16* gm = grown(s.gm, size_t(npos + cells) * NV2);
  v16* gcell = gm + size_t(npos) * NV2;  // (Hp Wp, NV2): the output gradient / P^2, channels in lanes
  for (int k = 0; k < cells; ++k)
    for (int nv = 0; nv < NV2; ++nv) {
      v16 v = v16{};
      for (int l = 0; l < L && nv * L + l < C2; ++l) v[l] = g[size_t(nv * L + l) * cells + k] * inv;
      gcell[size_t(k) * NV2 + nv] = v;
    }
  v16 bias[NV2] = {};
  for (int i = 0; i < d.Hu; ++i)
    for (int j = 0; j < d.Wu; ++j) {
      const v16* gc = gcell + size_t((i / d.P) * d.Wp + j / d.P) * NV2;
      const uint64_t bits = mask[size_t(i) * d.Wu + j];
      for (int nv = 0; nv < NV2; ++nv) {
        const v16 v = keep_bits(gc[nv], uint32_t(bits >> (L * nv)));
        gm[size_t(i * d.Wu + j) * NV2 + nv] = v;
        bias[nv] += v;
      }
    }
  for (int nv = 0; nv < NV2; ++nv) db[nv] += bias[nv];
  // weights: dw[u][t][nv] += sum over conv outputs (i, j) of gm[i][j][nv] * xpad[i + u][j][t], t = v C1 + ci
  for (int u = 0; u < K2; ++u)
    for (int t0 = 0; t0 < KC; t0 += TB) {
      v16 acc[TB][NV2];
      for (int tb = 0; tb < TB; ++tb)
        for (int nv = 0; nv < NV2; ++nv) acc[tb][nv] = v16{};
      for (int i = 0; i < d.Hu; ++i)
        for (int j = 0; j < d.Wu; ++j) {
          const float* xr = in.at(i + u, j) + t0;
          const v16* gp = gm + size_t(i * d.Wu + j) * NV2;
          for (int nv = 0; nv < NV2; ++nv)
            for (int tb = 0; tb < TB; ++tb) acc[tb][nv] += gp[nv] * xr[tb];
        }
      for (int tb = 0; tb < TB && t0 + tb < KC; ++tb)
        for (int nv = 0; nv < NV2; ++nv) dw[(size_t(u) * KC + t0 + tb) * NV2 + nv] += acc[tb][nv];
    }
  // input, step 1: col[(i, j)][u] = the span of K2 taps x C1 channels that conv output (i, j) sends back
  // through kernel row u: sum over co of gm[i][j][co] * wt[u][co][:]. Slots are NS vectors apart from
  // one zero vector each side, so a gather may read up to a vector past either end.
  constexpr int SS = (NS + 1) * L;  // floats from one slot to the next
  float* col = grown(s.col, size_t(L) + size_t(npos) * K2 * SS);
  std::fill(col, col + L, 0.0f);
  const float* gmf = reinterpret_cast<const float*>(gm);
  constexpr int PB = std::max(1, 24 / (K2 * NS));  // conv outputs per block
  for (int p0 = 0; p0 < npos; p0 += PB) {
    const int pn = std::min(PB, npos - p0);
    v16 acc[PB][K2][NS];
    for (int pb = 0; pb < PB; ++pb)
      for (int u = 0; u < K2; ++u)
        for (int n = 0; n < NS; ++n) acc[pb][u][n] = v16{};
    for (int co = 0; co < C2; ++co) {
      float gs[PB];
      for (int pb = 0; pb < PB; ++pb) gs[pb] = pb < pn ? gmf[size_t(p0 + pb) * NV2 * L + co] : 0.0f;
      for (int u = 0; u < K2; ++u)
        for (int n = 0; n < NS; ++n) {
          const v16 w = load(wt.wt + (u * C2 + co) * NS * L + n * L);
          for (int pb = 0; pb < PB; ++pb) acc[pb][u][n] += w * gs[pb];
        }
    }
    for (int pb = 0; pb < pn; ++pb)
      for (int u = 0; u < K2; ++u) {
        float* slot = col + L + (size_t(p0 + pb) * K2 + u) * SS;
        for (int n = 0; n < NS; ++n) store(slot + n * L, acc[pb][u][n]);
        std::fill(slot + NS * L, slot + SS, 0.0f);
      }
  }
  // input, step 2: dx[a][b][:] gathers the spans that cover it (padded row r = a + pad is reached from
  // conv row i = r - u through kernel row u; padded float f of that row from conv column j at offset
  // f - j C1 of the span)
  const int row_floats = d.W * C1, nq = (row_floats + L - 1) / L;
  for (int a = 0; a < d.H; ++a) {
    const int r = a + d.pad;
    float* dxr = dx + size_t(a) * row_floats;
    for (int q = 0; q < nq; ++q) {
      const int f = d.pad * C1 + q * L;
      v16 acc = v16{};
      // spans that reach f: -L < f - j C1 < NS L
      const int jlo = std::max(0, floor_div(f - NS * L, C1) + 1), jhi = std::min(d.Wu - 1, (f + L - 1) / C1);
      for (int u = 0; u < K2; ++u) {
        const int i = r - u;
        if (i < 0 || i >= d.Hu) continue;
        for (int j = jlo; j <= jhi; ++j) {
          const int off = f - j * C1;
          if (off <= -L || off >= NS * L) continue;
          acc += load(col + L + (size_t(i * d.Wu + j) * K2 + u) * SS + off);
        }
      }
      const int n = std::min(L, row_floats - q * L);
      if (n == L) {
        store(dxr + q * L, acc);
      } else {
        float tmp[L];
        store(tmp, acc);
        std::memcpy(dxr + q * L, tmp, sizeof(float) * n);
      }
    }
  }
}

}  // namespace stage2

}  // namespace
}  // namespace dlexam
