// The linear head and the softmax cross-entropy of one image, forward and backward, for the fused
// training step (fused.cpp's dlexam_train_step): logits z = W f + b from the trunk's flattened output
// f (F floats, PyTorch's C, H, W order), the loss -log softmax(z)[y], and the gradients of
// scale * loss with respect to W, b and f. The number of classes K and the features F are arguments.
// Classes are the lanes of a vector (K up to L per vector, NK vectors), features the lanes of the
// gradient of f (NF vectors). The softmax runs in double.

#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "simd.h"

namespace dlexam {
namespace {
namespace head {

struct Weights {
  int K, F, NK, NF;
  std::vector<v16> wt;    // [f][nk]: lanes are W[nk L + l][f], zero past K
  std::vector<v16> rows;  // [k][nf]: lanes are W[k][nf L + l], zero past F
  std::vector<v16> bias;  // [nk]
  Weights(const float* w, const float* b, int k, int f)
      : K(k), F(f), NK((k + L - 1) / L), NF((f + L - 1) / L), wt(size_t(F) * NK), rows(size_t(K) * NF), bias(NK) {
    for (int c = 0; c < K; ++c) {
      bias[c / L][c % L] = b[c];
      for (int i = 0; i < F; ++i) {
        wt[size_t(i) * NK + c / L][c % L] = w[size_t(c) * F + i];
        rows[size_t(c) * NF + i / L][i % L] = w[size_t(c) * F + i];
      }
    }
  }
  // v16s of one chunk's sums: the weight gradient as wt, then the bias gradient.
  int sums() const { return F * NK + NK; }
};

struct Result {
  double loss;  // -log softmax(z)[y]
  bool correct;  // the first largest logit is y's
};

// f: the features (F); y: the label, in [0, K); adds scale * the gradients of the loss to dw, db
// (the layout of Weights::wt and Weights::bias) and writes the gradient of f into df (NF L floats).
inline Result forward_backward(const Weights& h, const float* f, int64_t y, float scale, v16* dw, v16* db,
                               float* df) {
  constexpr int kMaxNK = 4;  // classes up to 64 (checked by the caller)
  v16 z[kMaxNK];
  for (int nk = 0; nk < h.NK; ++nk) {
    v16 acc[4] = {};
    int i = 0;
    for (; i + 4 <= h.F; i += 4)
      for (int a = 0; a < 4; ++a) acc[a] += h.wt[size_t(i + a) * h.NK + nk] * splat(f[i + a]);
    for (; i < h.F; ++i) acc[0] += h.wt[size_t(i) * h.NK + nk] * splat(f[i]);
    z[nk] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + h.bias[nk];
  }
  auto logit = [&](int c) { return z[c / L][c % L]; };
  int best = 0;
  for (int c = 1; c < h.K; ++c)
    if (logit(c) > logit(best)) best = c;
  const double top = logit(best);
  double total = 0.0;
  double e[kMaxNK * L];
  for (int c = 0; c < h.K; ++c) total += e[c] = std::exp(double(logit(c)) - top);
  v16 g[kMaxNK] = {};
  for (int c = 0; c < h.K; ++c) g[c / L][c % L] = float(scale * (e[c] / total - (c == y ? 1.0 : 0.0)));
  for (int nk = 0; nk < h.NK; ++nk) {
    db[nk] += g[nk];
    for (int i = 0; i < h.F; ++i) dw[size_t(i) * h.NK + nk] += g[nk] * splat(f[i]);
  }
  for (int nf = 0; nf < h.NF; ++nf) {
    v16 acc = {};
    for (int c = 0; c < h.K; ++c) acc += splat(g[c / L][c % L]) * h.rows[size_t(c) * h.NF + nf];
    store(df + nf * L, acc);
  }
  return {std::log(total) - (double(logit(int(y))) - top), best == y};
}

}  // namespace head
}  // namespace
}  // namespace dlexam
