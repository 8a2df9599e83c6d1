// Stage 2 of Problem 1's network for one image, forward and backward: Conv-2 (C1 -> C2, K2 x K2) +
// ReLU + AvgPool-2 (P2 x P2). A vector holds 16 output channels; each FMA takes one input value
// broadcast. Its weight gradient is the same shape of loop; its input gradient is computed per (conv
// output, kernel row) as a span of K2 * C1 floats (a kernel row's taps and channels, contiguous in the
// channels-last input) into `col`, then gathered row by row. Its output and the output's gradient are
// (C2, Hp, Wp), as nn.Flatten reads them. Sizes: stages.h.

#pragma once

#include "stages.h"

namespace dlexam {
namespace {  // internal linkage, as stages.h

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
