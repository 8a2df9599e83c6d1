// Problem 1's conv + ReLU + AvgPool stages as CPU training kernels over a batch, forward and backward,
// each stage alone and both together (the "trunk": Conv-1 .. AvgPool-2 of one image at a time, so the
// image's maps stay in cache between the stages), and the gather + standardisation of a training
// batch. dlexam/svhn/kernels/build.py compiles this file with the sizes that dlexam.spec gives
// (-DDLEXAM_C1 ...; see stages.h; one image through each stage: stage1.h, stage2.h), fused.py makes the entry points PyTorch operators, and tests check
// them against nn.Conv2d + nn.ReLU + nn.AvgPool2d and autograd.
//
// A batch is cut into chunks of images (kChunk each, the last kTail images kTailChunk each, so that the
// threads finish close together) that the threads of pool.h take in turn. Weight
// gradients are summed per chunk (in float, in the image order) and the chunks' sums then added in
// chunk order, so every result depends on the inputs alone: not on the thread count, nor on which
// thread took which chunk. The caller (fused.py) checks every pointer: dtype, shape, layout.

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "head.h"
#include "pool.h"
#include "simd.h"
#include "stage1.h"
#include "stage2.h"
#include "stages.h"

namespace dlexam {
namespace {

constexpr int64_t kChunk = 8, kTail = 32, kTailChunk = 2;  // images

// The chunks of a batch of B images: fixed by B alone, never by the thread count.
struct Chunks {
  int64_t B, n_head, head_end, n;
  explicit Chunks(int64_t b) : B(b) {
    n_head = (B - std::min(B, kTail)) / kChunk;
    head_end = n_head * kChunk;
    n = n_head + (B - head_end + kTailChunk - 1) / kTailChunk;
  }
  int64_t begin(int64_t c) const { return c < n_head ? c * kChunk : head_end + (c - n_head) * kTailChunk; }
  int64_t end(int64_t c) const { return std::min(B, c < n_head ? begin(c) + kChunk : begin(c) + kTailChunk); }
};

int64_t chunks_of(int64_t B) { return Chunks(B).n; }

// Runs body(b) for every image b of each chunk on `threads` threads; body(b, chunk) gets the chunk too.
template <typename Body>
void for_each_chunk(int64_t B, int threads, Body body) {
  struct Ctx {
    Body* body;
    Chunks chunks;
  } ctx{&body, Chunks(B)};
  Pool::get().run(threads, ctx.chunks.n, [](void* p, int64_t chunk) {
    Ctx& c = *static_cast<Ctx*>(p);
    (*c.body)(chunk, c.chunks.begin(chunk), c.chunks.end(chunk));
  }, &ctx);
}

// The sum of `chunks` rows of `n` vectors each, added in row order, element by element: the same
// result on any number of threads, which split the elements between them.
std::vector<v16> total_in_order(const v16* rows, int64_t chunks, int n, int threads) {
  constexpr int kBlock = 32;  // vectors per job
  struct Ctx {
    const v16* rows;
    int64_t chunks;
    int n;
    v16* t;
  };
  std::vector<v16> t(n);
  Ctx ctx{rows, chunks, n, t.data()};
  Pool::get().run(threads, (n + kBlock - 1) / kBlock, [](void* p, int64_t job) {
    const Ctx& c = *static_cast<const Ctx*>(p);
    const int k0 = int(job) * kBlock, k1 = std::min(c.n, k0 + kBlock);
    for (int64_t r = 0; r < c.chunks; ++r)
      for (int k = k0; k < k1; ++k) c.t[k] += c.rows[size_t(r) * c.n + k];
  }, &ctx);
  return t;
}

// Per-chunk sums of `n` vectors, zeroed; total() adds them in chunk order.
struct ChunkSums {
  std::vector<v16> sums;
  int n;
  ChunkSums(int64_t B, int n_) : sums(size_t(chunks_of(B)) * n_), n(n_) {}
  v16* of(int64_t chunk) { return sums.data() + size_t(chunk) * n; }
  std::vector<v16> total(int threads) const { return total_in_order(sums.data(), int64_t(sums.size() / n), n, threads); }
};

// Stage 1's sums (lanes (r, c) of K1 K1 + 1 vectors) -> dweight (C1, 1, K1, K1) and dbias (C1).
void write_stage1_grads(const v16* t, float* dweight, float* dbias) {
  float sum[C1P];
  for (int k = 0; k < K1 * K1; ++k) {
    fold_groups(t[k], C1P, sum);
    for (int c = 0; c < C1; ++c) dweight[c * K1 * K1 + k] = sum[c];
  }
  fold_groups(t[K1 * K1], C1P, sum);
  for (int c = 0; c < C1; ++c) dbias[c] = sum[c];
}

constexpr int kStage2Sums = K2 * K2 * C1 * NV2 + NV2;

// Stage 2's sums ([(u K2 + v) C1 + ci][nv], then [nv]) -> dweight (C2, C1, K2, K2) and dbias (C2).
void write_stage2_grads(const v16* t, float* dweight, float* dbias) {
  for (int co = 0; co < C2; ++co) {
    for (int ci = 0; ci < C1; ++ci)
      for (int u = 0; u < K2; ++u)
        for (int v = 0; v < K2; ++v)
          dweight[((co * C1 + ci) * K2 + u) * K2 + v] = t[((u * K2 + v) * C1 + ci) * NV2 + co / L][co % L];
    dbias[co] = t[K2 * K2 * C1 * NV2 + co / L][co % L];
  }
}

size_t align8(size_t n) { return (n + 7) & ~size_t(7); }

// One image's share of the trunk's saved bytes: stage 1's pooled output (Hp, Wp, C1) floats, its mask
// (Hu, Wu), stage 2's mask (Hu, Wu).
struct Saved {
  size_t pooled, mask1, mask2, bytes;
  Saved(const Dims& d1, const Dims& d2) {
    pooled = 0;
    mask1 = align8(sizeof(float) * d1.Hp * d1.Wp * C1);
    mask2 = mask1 + align8(sizeof(Mask1) * d1.Hu * d1.Wu);
    bytes = mask2 + align8(sizeof(Mask2) * d2.Hu * d2.Wu);
  }
};

// The trunk's sizes for an H x W image and one image through it, forward and backward: the batch entry
// points below (trunk forward, trunk backward, the whole step) run these per image.
constexpr int kStage1Sums = K1 * K1 + 1;
constexpr int kTrunkSums = kStage1Sums + kStage2Sums;  // stage 1's sums, then stage 2's

struct Trunk {
  Dims d1, d2;
  Saved sv;
  int features;  // of the output: C2 Hp2 Wp2
  Trunk(int H, int W, int pad1, int pool1, int pad2, int pool2)
      : d1(H, W, pad1, pool1, K1), d2(d1.Hp, d1.Wp, pad2, pool2, K2), sv(d1, d2), features(C2 * d2.Hp * d2.Wp) {}

  // x: one (H, W) image -> out (C2, Hp2, Wp2), and what backward needs into saved (sv.bytes).
  void forward(const float* x, const stage1::Weights& w1, const stage2::Weights& w2, float* out,
               uint8_t* saved) const {
    float* pooled = reinterpret_cast<float*>(saved + sv.pooled);
    stage1::forward_image(x, d1, w1, pooled, reinterpret_cast<Mask1*>(saved + sv.mask1));
    stage2::forward_image(pooled, d2, w2, out, reinterpret_cast<Mask2*>(saved + sv.mask2));
  }

  // Adds the image's weight and bias gradients to sums (kTrunkSums vectors), given g, the gradient of out.
  void backward(const float* x, const float* g, const uint8_t* saved, const stage2::Weights& w2, v16* sums) const {
    const float* pooled = reinterpret_cast<const float*>(saved + sv.pooled);
    float* dpooled = grown(scratch().dx, size_t(d1.Hp) * d1.Wp * C1);
    v16* s2 = sums + kStage1Sums;
    stage2::backward_image(pooled, d2, g, reinterpret_cast<const Mask2*>(saved + sv.mask2), w2, s2,
                           s2 + kStage2Sums - NV2, dpooled);
    stage1::backward_image(x, d1, dpooled, reinterpret_cast<const Mask1*>(saved + sv.mask1), sums, sums + K1 * K1);
  }

  // The trunk's total sums (kTrunkSums vectors) -> its four gradients.
  static void write_grads(const v16* t, float* dw1, float* db1, float* dw2, float* db2) {
    write_stage1_grads(t, dw1, db1);
    write_stage2_grads(t + kStage1Sums, dw2, db2);
  }
};

// The gather and standardisation of a training batch, chunk by chunk.
struct Standardise {
  const uint8_t* images;
  int64_t pixels;
  const int64_t* idx;
  int64_t B;
  const float *mean, *std;
  float* out;

  bool valid(int64_t n) const {
    for (int64_t b = 0; b < B; ++b)
      if (idx[b] < 0 || idx[b] >= n) return false;
    return true;
  }

  static void chunk(void* p, int64_t c) {
    const Standardise& s = *static_cast<const Standardise*>(p);
    constexpr int64_t kAhead = 4;  // images fetched ahead: the rows are scattered over the whole data set
    const Chunks chunks(s.B);
    const int64_t b0 = chunks.begin(c), b1 = chunks.end(c);
    for (int64_t b = b0; b < b1; ++b) {
      if (b + kAhead < b1) {
        const uint8_t* next = s.images + s.idx[b + kAhead] * s.pixels;
        for (int64_t i = 0; i < s.pixels; i += 64) __builtin_prefetch(next + i);
      }
      const int64_t k = s.idx[b];
      const uint8_t* src = s.images + k * s.pixels;
      float* dst = s.out + b * s.pixels;
      const float m = s.mean[k], d = s.std[k] + 1.0f;
      for (int64_t i = 0; i < s.pixels; ++i) dst[i] = (float(src[i]) - m) / d;
    }
  }
};

}  // namespace
}  // namespace dlexam

using namespace dlexam;

extern "C" {

// The sizes this library was compiled for: C1, K1, C2, K2.
void dlexam_geometry(int* out) {
  out[0] = C1;
  out[1] = K1;
  out[2] = C2;
  out[3] = K2;
}

// The pool's wait policy now: "spin" or "sleep" (pool.h).
const char* dlexam_wait_policy() { return Pool::get().policy(); }

void dlexam_stage1_forward(const float* x, int64_t B, int H, int W, int pad, int pool, const float* weight,
                           const float* bias, float* out, void* mask, int threads) {
  const Dims d(H, W, pad, pool, K1);
  const stage1::Weights wt(weight, bias);
  for_each_chunk(B, threads, [&](int64_t, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      stage1::forward_image(x + b * H * W, d, wt, out + b * d.Hp * d.Wp * C1,
                            static_cast<Mask1*>(mask) + b * d.Hu * d.Wu);
  });
}

// g: the gradient of the output, (B, Hp, Wp, C1).
void dlexam_stage1_backward(const float* x, int64_t B, int H, int W, int pad, int pool, const float* g,
                            const void* mask, float* dweight, float* dbias, int threads) {
  const Dims d(H, W, pad, pool, K1);
  ChunkSums sums(B, K1 * K1 + 1);
  for_each_chunk(B, threads, [&](int64_t chunk, int64_t b0, int64_t b1) {
    v16* s = sums.of(chunk);
    for (int64_t b = b0; b < b1; ++b)
      stage1::backward_image(x + b * H * W, d, g + b * d.Hp * d.Wp * C1,
                             static_cast<const Mask1*>(mask) + b * d.Hu * d.Wu, s, s + K1 * K1);
  });
  write_stage1_grads(sums.total(threads).data(), dweight, dbias);
}

// x: (B, H, W, C1); out: (B, C2, Hp, Wp).
void dlexam_stage2_forward(const float* x, int64_t B, int H, int W, int pad, int pool, const float* weight,
                           const float* bias, float* out, void* mask, int threads) {
  const Dims d(H, W, pad, pool, K2);
  const auto* wt = new stage2::Weights(weight, bias);
  for_each_chunk(B, threads, [&](int64_t, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      stage2::forward_image(x + b * H * W * C1, d, *wt, out + b * C2 * d.Hp * d.Wp,
                            static_cast<Mask2*>(mask) + b * d.Hu * d.Wu);
  });
  delete wt;
}

// g: (B, C2, Hp, Wp); dx: (B, H, W, C1).
void dlexam_stage2_backward(const float* x, int64_t B, int H, int W, int pad, int pool, const float* g,
                            const void* mask, const float* weight, float* dweight, float* dbias, float* dx,
                            int threads) {
  const Dims d(H, W, pad, pool, K2);
  const std::vector<float> no_bias(C2);
  const auto* wt = new stage2::Weights(weight, no_bias.data());
  ChunkSums sums(B, kStage2Sums);
  for_each_chunk(B, threads, [&](int64_t chunk, int64_t b0, int64_t b1) {
    v16* s = sums.of(chunk);
    for (int64_t b = b0; b < b1; ++b)
      stage2::backward_image(x + b * H * W * C1, d, g + b * C2 * d.Hp * d.Wp,
                             static_cast<const Mask2*>(mask) + b * d.Hu * d.Wu, *wt, s, s + kStage2Sums - NV2,
                             dx + b * H * W * C1);
  });
  write_stage2_grads(sums.total(threads).data(), dweight, dbias);
  delete wt;
}

// Bytes per image that trunk_forward saves for trunk_backward.
int64_t dlexam_trunk_saved_bytes(int H, int W, int pad1, int pool1, int pad2, int pool2) {
  return int64_t(Trunk(H, W, pad1, pool1, pad2, pool2).sv.bytes);
}

// x: (B, H, W) images; out: (B, C2, Hp2, Wp2); saved: (B, trunk_saved_bytes).
void dlexam_trunk_forward(const float* x, int64_t B, int H, int W, int pad1, int pool1, int pad2, int pool2,
                          const float* w1, const float* b1, const float* w2, const float* b2, float* out,
                          uint8_t* saved, int threads) {
  const Trunk tr(H, W, pad1, pool1, pad2, pool2);
  const stage1::Weights wt1(w1, b1);
  const auto* wt2 = new stage2::Weights(w2, b2);
  for_each_chunk(B, threads, [&](int64_t, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) tr.forward(x + b * H * W, wt1, *wt2, out + b * tr.features, saved + b * tr.sv.bytes);
  });
  delete wt2;
}

// g: the gradient of out, (B, C2, Hp2, Wp2).
void dlexam_trunk_backward(const float* x, int64_t B, int H, int W, int pad1, int pool1, int pad2, int pool2,
                           const float* g, const uint8_t* saved, const float* w2, float* dw1, float* db1,
                           float* dw2, float* db2, int threads) {
  const Trunk tr(H, W, pad1, pool1, pad2, pool2);
  const std::vector<float> no_bias(C2);
  const auto* wt2 = new stage2::Weights(w2, no_bias.data());
  ChunkSums sums(B, kTrunkSums);
  for_each_chunk(B, threads, [&](int64_t chunk, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      tr.backward(x + b * H * W, g + b * tr.features, saved + b * tr.sv.bytes, *wt2, sums.of(chunk));
  });
  Trunk::write_grads(sums.total(threads).data(), dw1, db1, dw2, db2);
  delete wt2;
}

// A whole training step of the network's trunk and linear head on one batch, image by image, with no
// map of the batch ever written: the trunk forward (as dlexam_trunk_forward), the head and softmax
// cross-entropy (head.h), and the backward pass of both (as dlexam_trunk_backward), so each image's
// maps stay in cache from its forward pass to its backward pass, and the head runs on every thread.
// x: (B, H, W) images; labels: (B,) in [0, K); fw: (K, F) and fb: (K,) the head, F = C2 Hp2 Wp2 in
// (C2, Hp2, Wp2) order. Writes the gradients of scale * (the summed loss) into dw1 .. dfb, the summed
// loss (not scaled) into *loss and the count of images whose first largest logit is their label into
// *correct. Per-chunk sums added in chunk order, as everywhere here: the result does not depend on the
// thread count. Returns -1, writing nothing, if a label is outside [0, K), -2 if K is not in 1..64.
int dlexam_train_step(const float* x, int64_t B, int H, int W, int pad1, int pool1, int pad2, int pool2,
                      const float* w1, const float* b1, const float* w2, const float* b2, const float* fw,
                      const float* fb, int K, const int64_t* labels, float scale, float* dw1, float* db1, float* dw2,
                      float* db2, float* dfw, float* dfb, double* loss, int64_t* correct, int threads) {
  if (K < 1 || K > 64) return -2;
  for (int64_t b = 0; b < B; ++b)
    if (labels[b] < 0 || labels[b] >= K) return -1;
  const Trunk tr(H, W, pad1, pool1, pad2, pool2);
  const int F = tr.features;
  const stage1::Weights wt1(w1, b1);
  const auto* wt2 = new stage2::Weights(w2, b2);
  const head::Weights hw(fw, fb, K, F);
  const int n = kTrunkSums + hw.sums();
  const Chunks chunks(B);
  static thread_local std::vector<v16> sums_of_chunks;  // zeroed by each chunk: no serial fill
  v16* sums = grown(sums_of_chunks, size_t(chunks.n) * n);
  std::vector<double> losses(chunks.n);
  std::vector<int64_t> rights(chunks.n);
  for_each_chunk(B, threads, [&](int64_t chunk, int64_t b0, int64_t b1) {
    v16* s = sums + size_t(chunk) * n;
    std::fill(s, s + n, v16{});
    v16* sh = s + kTrunkSums;
    static thread_local std::vector<uint8_t> saved_buf;
    static thread_local std::vector<float> out_buf, df_buf;
    uint8_t* saved = grown(saved_buf, tr.sv.bytes);
    float* out = grown(out_buf, size_t(F));
    float* df = grown(df_buf, size_t(hw.NF) * L);
    double l = 0.0;
    int64_t right = 0;
    for (int64_t b = b0; b < b1; ++b) {
      tr.forward(x + b * H * W, wt1, *wt2, out, saved);
      const head::Result r = head::forward_backward(hw, out, labels[b], scale, sh, sh + F * hw.NK, df);
      l += r.loss;
      right += r.correct;
      tr.backward(x + b * H * W, df, saved, *wt2, s);
    }
    losses[chunk] = l;
    rights[chunk] = right;
  });
  const std::vector<v16> t = total_in_order(sums, chunks.n, n, threads);
  double l = 0.0;
  int64_t right = 0;
  for (int64_t c = 0; c < chunks.n; ++c) {
    l += losses[c];
    right += rights[c];
  }
  Trunk::write_grads(t.data(), dw1, db1, dw2, db2);
  const v16* th = t.data() + kTrunkSums;
  for (int k = 0; k < K; ++k) {
    for (int i = 0; i < F; ++i) dfw[size_t(k) * F + i] = th[size_t(i) * hw.NK + k / L][k % L];
    dfb[k] = th[size_t(F) * hw.NK + k / L][k % L];
  }
  *loss = l;
  *correct = right;
  delete wt2;
  return 0;
}

// out[b] = (images[idx[b]] - mean[idx[b]]) / (std[idx[b]] + 1) as floats, the same arithmetic as
// dlexam.svhn.data.official.preprocess. Returns -1, writing nothing, if an index is outside [0, n).
// dlexam_standardise_start hands the work to the pool's workers and returns at once; dlexam_join waits,
// taking the chunks no worker has started (the caller keeps every buffer alive until then).
int dlexam_standardise_start(const uint8_t* images, int64_t n, int64_t pixels, const int64_t* idx, int64_t B,
                             const float* mean, const float* std, float* out, int threads) {
  static thread_local Standardise job;  // this thread's started job (joined before the next starts)
  Pool::get().join_if_mine();
  job = Standardise{images, pixels, idx, B, mean, std, out};
  if (!job.valid(n)) return -1;
  Pool::get().start(threads, chunks_of(B), &Standardise::chunk, &job);
  return 0;
}

void dlexam_join() { Pool::get().join_if_mine(); }

// A check of the pool for the tests: `jobs` jobs back to back on `threads` threads, job j of 1 + j % 40
// chunks that each count their runs. Returns how many chunks did not run exactly once.
int64_t dlexam_pool_check(int threads, int64_t jobs) {
  std::vector<std::atomic<int>> runs(40);
  int64_t wrong = 0;
  for (int64_t j = 0; j < jobs; ++j) {
    const int64_t chunks = 1 + j % 40;
    for (auto& r : runs) r.store(0, std::memory_order_relaxed);
    Pool::get().run(threads, chunks, [](void* p, int64_t c) {
      static_cast<std::atomic<int>*>(p)[c].fetch_add(1, std::memory_order_relaxed);
    }, runs.data());
    for (int64_t c = 0; c < chunks; ++c) wrong += runs[c].load(std::memory_order_relaxed) != 1;
  }
  return wrong;
}

}  // extern "C"
