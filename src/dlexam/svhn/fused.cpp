// Problem 1's first stage, Conv-1 (1 -> 8 channels, 5x5) + ReLU + AvgPool-1 (4x4, stride 4), as one
// CPU kernel for training: forward and the weight/bias gradients. dlexam/svhn/fused.py compiles it
// on first use and checks it against nn.Conv2d + nn.ReLU + nn.AvgPool2d and autograd.
//
// Why: in PyTorch's eager mode this stage is five passes over the (B, 8, 28, 28) map (conv, ReLU,
// pool, then pool backward with its zero fill, ReLU backward) plus a convolution backward, and the
// map does not fit in cache. Here the 28x28x8 map never leaves registers: each pool cell's 16 conv
// outputs are computed, rectified and averaged at once, and only a one-byte ReLU mask per conv
// output is kept for the backward pass.
//
// Layouts: x (B, H, W) float (one input channel); wt (K, K, C) float, the conv weight transposed so
// that the C output channels of one tap are contiguous; out (B, Hp, Wp, C) float, channels last;
// mask (B, Hp*P, Wp*P) uint8, bit c set where channel c of that conv output is > 0. Threads: OpenMP, the same runtime PyTorch has loaded, so
// torch.set_num_threads applies here too.

#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

constexpr int C = 8;  // output channels
constexpr int K = 5;  // kernel size
constexpr int P = 4;  // pool size and stride

// The C = 8 channels of one position as one vector (GCC/Clang vector extensions: one AVX register,
// or two SSE registers where there is no AVX).
typedef float v8 __attribute__((vector_size(C * sizeof(float))));
typedef int32_t v8i __attribute__((vector_size(C * sizeof(int32_t))));

inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof(v)); }

const v8i kBits = {1, 2, 4, 8, 16, 32, 64, 128};  // channel c <-> bit c of a position's mask byte

// The ReLU mask of one position's 8 channels as one byte: bit c set where channel c is > 0.
inline uint8_t mask_byte(v8 s) {
  const v8i on = (s > v8{}) & kBits;
  int m = 0;
  for (int c = 0; c < C; ++c) m |= on[c];
  return uint8_t(m);
}

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
            mask[(i0 + r) * Wm + j0 + dj] = mask_byte(sv);
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
        const v8i on = ((v8i{} + mask[i * Wm + j + dj]) & kBits) != 0;
        const v8 gv = on ? gc : zero;  // ReLU's backward
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

}  // namespace

extern "C" {

int dlexam_fused_version() { return 1; }

void dlexam_conv5_relu_avgpool4_forward(const float* x, int64_t B, int H, int W, const float* wt,
                                        const float* bias, float* out, uint8_t* mask) {
  const int Hp = (H - K + 1) / P, Wp = (W - K + 1) / P;
  const int64_t out_stride = int64_t(Hp) * Wp * C, mask_stride = int64_t(Hp) * P * Wp * P;
  v8 wv[K * K];
  for (int k = 0; k < K * K; ++k) wv[k] = load8(wt + k * C);
  const v8 bv = load8(bias);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b)
    forward_image(x + b * H * W, H, W, wv, bv, out + b * out_stride, mask + b * mask_stride);
}

// dw (K, K, C) and db (C) are overwritten. Each thread sums its images in float per image and in
// double across images; the threads' sums are added in thread order, so the result depends only
// on the inputs and the thread count.
void dlexam_conv5_relu_avgpool4_backward(const float* x, int64_t B, int H, int W, const float* g,
                                         const uint8_t* mask, float* dw, float* db) {
  const int Hp = (H - K + 1) / P, Wp = (W - K + 1) / P;
  const int64_t g_stride = int64_t(Hp) * Wp * C, mask_stride = int64_t(Hp) * P * Wp * P;
  constexpr int NW = K * K * C;
  std::vector<double> partial;
  int nthreads = 1;
#pragma omp parallel
  {
#pragma omp single
    {
#ifdef _OPENMP
      nthreads = omp_get_num_threads();
#endif
      partial.assign(size_t(nthreads) * (NW + C), 0.0);
    }
    int t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    double* acc = partial.data() + size_t(t) * (NW + C);
    v8 dwi[K * K + 1];
    std::vector<v8> gm(size_t(Hp) * P * Wp * P);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      backward_image(x + b * H * W, H, W, g + b * g_stride, mask + b * mask_stride, gm.data(), dwi,
                     dwi + K * K);
      const float* f = reinterpret_cast<const float*>(dwi);
      for (int k = 0; k < NW + C; ++k) acc[k] += f[k];
    }
  }
  for (int k = 0; k < NW + C; ++k) {
    double s = 0.0;
    for (int t = 0; t < nthreads; ++t) s += partial[size_t(t) * (NW + C) + k];
    if (k < NW)
      dw[k] = float(s);
    else
      db[k - NW] = float(s);
  }
}

}  // extern "C"
