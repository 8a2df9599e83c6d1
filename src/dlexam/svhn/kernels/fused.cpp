// Problem 1's two conv stages as CPU kernels for training, forward and backward:
//   stage 1: Conv-1 (1 -> 8 channels, 5x5, pad 0) + ReLU + AvgPool-1 (4x4, stride 4);
//   stage 2: Conv-2 (8 -> 16 channels, 4x4, pad 1) + ReLU + AvgPool-2 (2x2, stride 2).
// dlexam/svhn/kernel_build.py compiles this file on first use, dlexam/svhn/fused.py makes the four
// entry points PyTorch operators, and tests check them against nn.Conv2d + nn.ReLU + nn.AvgPool2d and
// autograd.
//
// Why: in PyTorch's eager mode each stage is a conv, a ReLU and a pool, and backward a pool
// backward (after a zero fill), a ReLU backward and a conv backward: six passes over a map that at
// batch 256 (6.4 MB for stage 1) does not fit in cache, and oneDNN's convolutions are slow for so
// few channels. Here each pool cell's conv outputs are computed in registers, rectified and
// averaged at once, and only one ReLU mask bit per conv output is kept for the backward pass.
//
// Layouts are channels last. Stage 1: x (B, H, W) float (one input channel), wt (K, K, C) float
// (the C output channels of one tap contiguous), out (B, Hp, Wp, C), mask (B, Hp*P, Wp*P) uint8
// (bit c: channel c > 0). Stage 2: x (B, H, W, CI), wt (K, K, CI, CO), wtt (K, K, CO, CI), out
// (B, Hp, Wp, CO), mask (B, Hp*P, Wp*P) uint16. The caller checks every pointer (dtype, shape,
// contiguity). Threads: each entry point takes its thread count (fused.py passes
// torch.get_num_threads()) and runs its OpenMP regions on that many, whichever OpenMP runtime this
// library and PyTorch each loaded. Gradients of the weights are summed per image in float and across
// images in double per thread, then over threads in thread order: the results depend only on the
// inputs and the thread count.

#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// 8 floats as one vector (GCC/Clang vector extensions: one AVX register, or two SSE registers
// where there is no AVX).
typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t v8i __attribute__((vector_size(8 * sizeof(int32_t))));

inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof(v)); }

const v8i kBits = {1, 2, 4, 8, 16, 32, 64, 128};  // lane c <-> bit c of a mask byte

// The ReLU mask of 8 channels as one byte: bit c set where channel c is > 0.
inline unsigned mask_byte(v8 s) {
  const v8i on = (s > v8{}) & kBits;
  unsigned m = 0;
  for (int c = 0; c < 8; ++c) m |= unsigned(on[c]);
  return m;
}

// The inverse: gradient g where the byte's bit is set, else 0.
inline v8 masked(v8 g, unsigned byte) {
  const v8i on = ((v8i{} + int32_t(byte)) & kBits) != 0;
  return on ? g : v8{};
}

int thread_count() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Sums per-image gradients over B images in parallel: per_image(b, grads, scratch) overwrites
// grads[0..n) with image b's gradients; the sum is written to out[0..n). Runs on num_threads threads.
template <typename PerImage>
void sum_over_images(int64_t B, int n, size_t scratch_floats, float* out, int num_threads, PerImage per_image) {
  std::vector<double> partial;
  int nthreads = 1;
#pragma omp parallel num_threads(num_threads)
  {
#pragma omp single
    {
      nthreads = thread_count();
      partial.assign(size_t(nthreads) * n, 0.0);
    }
    double* acc = partial.data() + size_t(thread_id()) * n;
    std::vector<v8> grads((n + 7) / 8), scratch((scratch_floats + 7) / 8);
    float* g = reinterpret_cast<float*>(grads.data());
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      per_image(b, g, reinterpret_cast<float*>(scratch.data()));
      for (int k = 0; k < n; ++k) acc[k] += g[k];
    }
  }
  for (int k = 0; k < n; ++k) {
    double s = 0.0;
    for (int t = 0; t < nthreads; ++t) s += partial[size_t(t) * n + k];
    out[k] = float(s);
  }
}

namespace stage1 {


constexpr int C = 8;  // output channels (one vector)
constexpr int K = 5;  // kernel size
constexpr int P = 4;  // pool size and stride

// One image: out[Hp][Wp][C] and one mask byte per conv output, mask[Hp*P][Wp*P].
void forward_image(const float* __restrict x, int H, int W, const v8* __restrict wt, v8 bias,
                   float* __restrict out, uint8_t* __restrict mask) {
  const int Hp = (H - K + 1) / P, Wp = (W - K + 1) / P, Wm = Wp * P;
  const v8 zero = {};
  for (int pi = 0; pi < Hp; ++pi) {
    for (int pj = 0; pj < Wp; ++pj) {
      v8 acc = zero;
      const int j0 = pj * P;
      for (int di = 0; di < P; di += 2) {
        // two rows of the cell's P columns: 2P = 8 independent accumulators
        const int i0 = pi * P + di;
        v8 s[2][P];
        for (int r = 0; r < 2; ++r)
          for (int dj = 0; dj < P; ++dj) s[r][dj] = bias;
        for (int u = 0; u < K; ++u) {
          v8 w[K];
          for (int v = 0; v < K; ++v) w[v] = wt[u * K + v];
          for (int r = 0; r < 2; ++r) {
            // conv output (i0 + r, j0 + dj) takes x[i0 + r + u][j0 + dj + v] * w[u][v]: each of the
            // P + K - 1 inputs of this row is read once and feeds every (dj, v) with dj + v = t
            const float* xr = x + (i0 + r + u) * W + j0;
            for (int t = 0; t < P + K - 1; ++t) {
              const float xv = xr[t];
              for (int dj = 0; dj < P; ++dj) {
                const int v = t - dj;
                if (v >= 0 && v < K) s[r][dj] += w[v] * xv;
              }
            }
          }
        }
        for (int r = 0; r < 2; ++r) {
          for (int dj = 0; dj < P; ++dj) {
            const v8 sv = s[r][dj];
            acc += sv > zero ? sv : zero;  // ReLU, then the pool's sum
            mask[(i0 + r) * Wm + j0 + dj] = uint8_t(mask_byte(sv));
          }
        }
      }
      store8(out + (pi * Wp + pj) * C, acc * (1.0f / (P * P)));
    }
  }
}

// One image's weight and bias gradients, overwritten: dw[K*K] (one vector per tap) and *db.
// gm: scratch for the gradient at each of the (Hp*P) x (Wp*P) conv outputs.
void backward_image(const float* __restrict x, int H, int W, const float* __restrict g,
                    const uint8_t* __restrict mask, v8* __restrict gm, v8* __restrict dw,
                    v8* __restrict db) {
  const int Hp = (H - K + 1) / P, Wp = (W - K + 1) / P, Hm = Hp * P, Wm = Wp * P;
  const v8 zero = {};
  v8 dbias = zero;
  for (int i = 0; i < Hm; ++i) {
    for (int j = 0; j < Wm; j += P) {
      const v8 gc = load8(g + ((i / P) * Wp + j / P) * C) * (1.0f / (P * P));  // AvgPool's backward
      for (int dj = 0; dj < P; ++dj) {
        const v8 gv = masked(gc, mask[i * Wm + j + dj]);  // ReLU's backward
        gm[i * Wm + j + dj] = gv;
        dbias += gv;
      }
    }
  }
  *db = dbias;
  for (int u = 0; u < K; ++u) {
    v8 a[K];  // the K taps of kernel row u
    for (int v = 0; v < K; ++v) a[v] = zero;
    for (int i = 0; i < Hm; ++i) {
      const float* xr = x + (i + u) * W;
      const v8* gr = gm + i * Wm;
      for (int j = 0; j < Wm; ++j) {
        const v8 gv = gr[j];
        for (int v = 0; v < K; ++v) a[v] += gv * xr[j + v];
      }
    }
    for (int v = 0; v < K; ++v) dw[u * K + v] = a[v];
  }
}

}  // namespace stage1

namespace stage2 {

constexpr int CI = 8;   // input channels (one vector)
constexpr int CO = 16;  // output channels (two vectors)
constexpr int K = 4;    // kernel size
constexpr int PAD = 1;  // zero padding
constexpr int P = 2;    // pool size and stride

struct Dims {
  int H, W;    // input
  int Hc, Wc;  // conv output used by the pool: Hp*P x Wp*P
  int Hp, Wp;  // pooled output
  int Hx, Wx;  // padded input
  Dims(int h, int w) : H(h), W(w) {
    Hp = (H + 2 * PAD - K + 1) / P;
    Wp = (W + 2 * PAD - K + 1) / P;
    Hc = Hp * P;
    Wc = Wp * P;
    Hx = H + 2 * PAD;
    Wx = W + 2 * PAD;
  }
};

// The image (H, W, CI) copied into the middle of a zeroed (H + 2 PAD, W + 2 PAD, CI) buffer.
void pad_image(const float* __restrict x, const Dims& d, float* __restrict xp) {
  std::memset(xp, 0, sizeof(float) * d.Hx * d.Wx * CI);
  for (int i = 0; i < d.H; ++i)
    std::memcpy(xp + ((i + PAD) * d.Wx + PAD) * CI, x + i * d.W * CI, sizeof(float) * d.W * CI);
}

// One image: out (Hp, Wp, CO) and a 16-bit ReLU mask per conv output. xp: padded input.
void forward_image(const float* __restrict xp, const Dims& d, const v8* __restrict wt, v8 b0, v8 b1,
                   float* __restrict out, uint16_t* __restrict mask) {
  const v8 zero = {};
  for (int pi = 0; pi < d.Hp; ++pi) {
    for (int pj = 0; pj < d.Wp; ++pj) {
      // the cell's P x P = 4 positions, two vectors of output channels each: 8 accumulators
      v8 s[P * P][2];
      for (int q = 0; q < P * P; ++q) s[q][0] = b0, s[q][1] = b1;
      const int i0 = pi * P, j0 = pj * P;
      for (int u = 0; u < K; ++u) {
        for (int v = 0; v < K; ++v) {
          const v8* w = wt + (u * K + v) * CI * 2;
          const float* x00 = xp + ((i0 + u) * d.Wx + j0 + v) * CI;
          for (int ci = 0; ci < CI; ++ci) {
            const v8 w0 = w[ci * 2], w1 = w[ci * 2 + 1];
            for (int q = 0; q < P * P; ++q) {
              const float xv = x00[((q / P) * d.Wx + q % P) * CI + ci];
              s[q][0] += w0 * xv;
              s[q][1] += w1 * xv;
            }
          }
        }
      }
      v8 a0 = zero, a1 = zero;
      for (int q = 0; q < P * P; ++q) {
        a0 += s[q][0] > zero ? s[q][0] : zero;  // ReLU, then the pool's sum
        a1 += s[q][1] > zero ? s[q][1] : zero;
        mask[(i0 + q / P) * d.Wc + j0 + q % P] = uint16_t(mask_byte(s[q][0]) | (mask_byte(s[q][1]) << 8));
      }
      float* o = out + (pi * d.Wp + pj) * CO;
      store8(o, a0 * (1.0f / (P * P)));
      store8(o + 8, a1 * (1.0f / (P * P)));
    }
  }
}

// One image's gradients, overwritten: dw (K, K, CI, CO), db (CO) and dx (H, W, CI), the gradient of
// the input. xp: padded input; gm: scratch, Hc * Wc * 2 vectors.
void backward_image(const float* __restrict xp, const Dims& d, const float* __restrict g,
                    const uint16_t* __restrict mask, const v8* __restrict wtt, v8* __restrict gm,
                    float* __restrict dw, float* __restrict db, float* __restrict dx) {
  const v8 zero = {};
  v8 db0 = zero, db1 = zero;
  for (int i = 0; i < d.Hc; ++i) {
    for (int j = 0; j < d.Wc; ++j) {
      const float* gp = g + ((i / P) * d.Wp + j / P) * CO;  // AvgPool's backward
      const unsigned m = mask[i * d.Wc + j];
      const v8 g0 = masked(load8(gp) * (1.0f / (P * P)), m & 0xff);  // ReLU's backward
      const v8 g1 = masked(load8(gp + 8) * (1.0f / (P * P)), m >> 8);
      gm[(i * d.Wc + j) * 2] = g0;
      gm[(i * d.Wc + j) * 2 + 1] = g1;
      db0 += g0;
      db1 += g1;
    }
  }
  store8(db, db0);
  store8(db + 8, db1);
  // weights: dw[u][v][ci][:] = sum over conv outputs (i, j) of gm[i][j][:] * xp[i + u][j + v][ci]
  for (int u = 0; u < K; ++u) {
    for (int v = 0; v < K; ++v) {
      for (int ci = 0; ci < CI; ++ci) {
        // even and odd columns summed apart (Wc = Wp * P is even): four independent accumulators
        v8 e0 = zero, e1 = zero, o0 = zero, o1 = zero;
        for (int i = 0; i < d.Hc; ++i) {
          const float* xr = xp + ((i + u) * d.Wx + v) * CI + ci;
          const v8* gr = gm + i * d.Wc * 2;
          for (int j = 0; j < d.Wc; j += 2) {
            const float xe = xr[j * CI], xo = xr[(j + 1) * CI];
            e0 += gr[j * 2] * xe;
            e1 += gr[j * 2 + 1] * xe;
            o0 += gr[j * 2 + 2] * xo;
            o1 += gr[j * 2 + 3] * xo;
          }
        }
        float* o = dw + ((u * K + v) * CI + ci) * CO;
        store8(o, e0 + o0);
        store8(o + 8, e1 + o1);
      }
    }
  }
  // input: dx[a][b][:] = sum over taps (u, v) and output channels co of gm[i][j][co] * w[u][v][:][co]
  // where (i, j) = (a + PAD - u, b + PAD - v) is a conv output the pool uses
  for (int a = 0; a < d.H; ++a) {
    for (int b = 0; b < d.W; ++b) {
      v8 acc[4] = {zero, zero, zero, zero};
      for (int u = 0; u < K; ++u) {
        const int i = a + PAD - u;
        if (i < 0 || i >= d.Hc) continue;
        for (int v = 0; v < K; ++v) {
          const int j = b + PAD - v;
          if (j < 0 || j >= d.Wc) continue;
          const float* gp = reinterpret_cast<const float*>(gm + (i * d.Wc + j) * 2);
          const v8* w = wtt + (u * K + v) * CO;
          for (int co = 0; co < CO; ++co) acc[co & 3] += w[co] * gp[co];
        }
      }
      store8(dx + (a * d.W + b) * CI, (acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
  }
}

}  // namespace stage2

}  // namespace

extern "C" {

void dlexam_stage1_forward(const float* x, int64_t B, int H, int W, const float* wt, const float* bias,
                           float* out, uint8_t* mask, int num_threads) {
  using namespace stage1;
  const int Hp = (H - K + 1) / P, Wp = (W - K + 1) / P;
  const int64_t out_stride = int64_t(Hp) * Wp * C, mask_stride = int64_t(Hp) * P * Wp * P;
  v8 wv[K * K];
  for (int k = 0; k < K * K; ++k) wv[k] = load8(wt + k * C);
  const v8 bv = load8(bias);
#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t b = 0; b < B; ++b)
    forward_image(x + b * H * W, H, W, wv, bv, out + b * out_stride, mask + b * mask_stride);
}

// dwb: (K, K, C) weight gradient then (C) bias gradient, overwritten.
void dlexam_stage1_backward(const float* x, int64_t B, int H, int W, const float* g, const uint8_t* mask,
                            float* dwb, int num_threads) {
  using namespace stage1;
  const int Hp = (H - K + 1) / P, Wp = (W - K + 1) / P;
  const int64_t g_stride = int64_t(Hp) * Wp * C, mask_stride = int64_t(Hp) * P * Wp * P;
  const size_t scratch_floats = size_t(Hp) * P * Wp * P * C;
  sum_over_images(B, K * K * C + C, scratch_floats, dwb, num_threads, [&](int64_t b, float* grads, float* scratch) {
    backward_image(x + b * H * W, H, W, g + b * g_stride, mask + b * mask_stride, reinterpret_cast<v8*>(scratch),
                   reinterpret_cast<v8*>(grads), reinterpret_cast<v8*>(grads + K * K * C));
  });
}

void dlexam_stage2_forward(const float* x, int64_t B, int H, int W, const float* wt, const float* bias,
                           float* out, uint16_t* mask, int num_threads) {
  using namespace stage2;
  const Dims d(H, W);
  std::vector<v8> wv(K * K * CI * 2);
  for (int k = 0; k < K * K * CI * 2; ++k) wv[k] = load8(wt + k * 8);
  const v8 b0 = load8(bias), b1 = load8(bias + 8);
#pragma omp parallel num_threads(num_threads)
  {
    std::vector<float> xp(size_t(d.Hx) * d.Wx * CI);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      pad_image(x + b * H * W * CI, d, xp.data());
      forward_image(xp.data(), d, wv.data(), b0, b1, out + b * d.Hp * d.Wp * CO, mask + b * d.Hc * d.Wc);
    }
  }
}

// dwb: (K, K, CI, CO) weight gradient then (CO) bias gradient, and dx (B, H, W, CI), the input
// gradient, overwritten.
void dlexam_stage2_backward(const float* x, int64_t B, int H, int W, const float* g, const uint16_t* mask,
                            const float* wtt, float* dwb, float* dx, int num_threads) {
  using namespace stage2;
  const Dims d(H, W);
  std::vector<v8> wv(K * K * CO);
  for (int k = 0; k < K * K * CO; ++k) wv[k] = load8(wtt + k * CI);
  const size_t xp_floats = size_t(d.Hx) * d.Wx * CI, gm_floats = size_t(d.Hc) * d.Wc * CO;
  const int n = K * K * CI * CO + CO;
  sum_over_images(B, n, xp_floats + gm_floats, dwb, num_threads, [&](int64_t b, float* grads, float* scratch) {
    float* xp = scratch;
    pad_image(x + b * H * W * CI, d, xp);
    backward_image(xp, d, g + b * d.Hp * d.Wp * CO, mask + b * d.Hc * d.Wc, wv.data(),
                   reinterpret_cast<v8*>(scratch + xp_floats), grads, grads + K * K * CI * CO, dx + b * H * W * CI);
  });
}

}  // extern "C"
