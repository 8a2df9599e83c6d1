// Stage 1 of Problem 1's network for one image, forward and backward: Conv-1 (1 input channel -> C1,
// K1 x K1) + ReLU + AvgPool-1 (P1 x P1). A vector holds R rows x C1P channels of one column of conv
// outputs (C1P: C1 rounded up to a power of two; R = 16 / C1P; for the exam, 2 rows x 8 channels). Its
// input is the matching "row broadcast": lanes (r, c) = x[i + r][s] for every c, built once per image
// row (`Broadcasts`). So a conv output column is K1 * K1 FMAs, the pool a vector add (R divides P1),
// and the ReLU mask one bit per lane. Sizes: stages.h.

#pragma once

#include "stages.h"

namespace dlexam {
namespace {  // internal linkage, as stages.h

namespace stage1 {

constexpr int NB = kVectors >= 32 ? 14 : kVectors - 2;  // conv output columns per block (accumulators)

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
#if defined(__AVX512F__)  // a select per row: fastest in zmm registers
    v16i group;              // lane l belongs to row l / C1P
    for (int l = 0; l < L; ++l) group[l] = l / C1P;
    for (int col = 0; col < span; ++col) {
      v16 v = splat(src[col]);
      for (int r = 1; r < R; ++r) v = group == r ? splat(src[size_t(r) * cols + col]) : v;
      out[col] = v;
    }
#else  // the lanes written row by row, then loaded: 1.3x faster training than the select, split in halves
    for (int col = 0; col < span; ++col) {
      float lanes[L];
      for (int r = 0; r < R; ++r) std::fill_n(lanes + r * C1P, C1P, src[size_t(r) * cols + col]);  // lanes of row r
      out[col] = load(lanes);
    }
#endif
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

}  // namespace
}  // namespace dlexam
