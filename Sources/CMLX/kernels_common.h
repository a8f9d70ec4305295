// Building blocks shared by our CPU kernels (kernels_attention.cpp, kernels_cross_entropy.cpp):
// 16-lane float vectors, a vectorised exp, register-blocked matrix micro-kernels, a parallel loop,
// strided loads with dtype conversion, scratch memory counted by MLX's allocator, and sgemm.
//
// Vectors use Clang's ext_vector_type: with -march=native they become one AVX-512 register (or
// two AVX2 / four NEON registers), so the same source vectorises on every CPU we build for.
// Not part of the public C interface.
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "mlx/mlx.h"

namespace pt_kernels {

namespace mx = mlx::core;

// The message of this thread's last failed pt_fused_* call (shared by both kernel files).
inline thread_local std::string last_error;

// ---- vectors -------------------------------------------------------------------------------

constexpr int W = 16;  // lanes per vector
typedef float vf __attribute__((ext_vector_type(16)));
typedef int32_t vi __attribute__((ext_vector_type(16)));
// Same vector, but only 4-byte aligned: for loads and stores at any float address.
typedef float vf_u __attribute__((ext_vector_type(16), aligned(4)));

inline vf load(const float *p) { return *reinterpret_cast<const vf_u *>(p); }
inline void store(float *p, vf v) { *reinterpret_cast<vf_u *>(p) = v; }
inline vf splat(float x) { return vf(x); }

inline vf vfma(vf a, vf b, vf c) {
#if __has_builtin(__builtin_elementwise_fma)
  return __builtin_elementwise_fma(a, b, c);
#else
  return a * b + c;
#endif
}
inline vf vmax(vf a, vf b) { return __builtin_elementwise_max(a, b); }
inline float hmax(vf v) { return __builtin_reduce_max(v); }
inline float hsum(vf v) {
  // Pairwise halves: a fixed order, independent of -ffast-math.
  typedef float v8 __attribute__((ext_vector_type(8)));
  typedef float v4 __attribute__((ext_vector_type(4)));
  v8 a = v.lo + v.hi;
  v4 b = a.lo + a.hi;
  return (b.x + b.y) + (b.z + b.w);
}

// e^x for x ≤ 88, Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7 polynomial,
// 2^n through the exponent bits. Relative error below 1e-7 (8.3e-8 measured against double
// precision exp on a 1e-4 grid over [-87, 88]).
// Inputs below -87.3 (including -inf) give exactly 0, so masked scores vanish; NaN stays NaN.
inline vf vexp(vf x) {
  const vf lo = splat(-87.33654f), hi = splat(88.0f);
  const vf x0 = x;
  const vi underflow = x < lo;
  x = __builtin_elementwise_min(__builtin_elementwise_max(x, lo), hi);
  // Round x·log2(e) to nearest with the 1.5·2^23 trick (exact for |n| < 2^22, needs no rint).
  const vf magic = splat(12582912.0f);
  const vf t = vfma(x, splat(1.44269504088896341f), magic);
  const vf n = t - magic;
  // Cody–Waite: ln2 = C1 + C2 with C1 exact in few bits, so n·C1 is exact.
  vf r = vfma(n, splat(-0.693359375f), x);
  r = vfma(n, splat(2.12194440e-4f), r);
  vf p = splat(1.9875691500e-4f);
  p = vfma(p, r, splat(1.3981999507e-3f));
  p = vfma(p, r, splat(8.3334519073e-3f));
  p = vfma(p, r, splat(4.1665795894e-2f));
  p = vfma(p, r, splat(1.6666665459e-1f));
  p = vfma(p, r, splat(5.0000001201e-1f));
  p = vfma(p * r, r, r) + splat(1.0f);
  // 2^n: n ∈ [-126, 127] after the clamp, so the biased exponent stays normal.
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  vf y = p * __builtin_bit_cast(vf, bits);
  y = underflow ? splat(0.0f) : y;
  return x0 != x0 ? x0 : y;  // the clamp would have turned NaN into a number
}

inline float sexp(float x) {
  vf v = vexp(splat(x));
  return v[0];
}

// ---- element loops over rows -----------------------------------------------------------------

// Max of x[0..n), -inf for n ≤ 0.
inline float row_max(const float *x, int n) {
  vf m = splat(-INFINITY);
  int j = 0;
  for (; j + W <= n; j += W) m = vmax(m, load(x + j));
  float r = hmax(m);
  for (; j < n; ++j) r = std::max(r, x[j]);
  return r;
}

// x[j] = exp(x[j] - shift) for j < n, returning the sum; x[n..npad) = 0 (npad a multiple of W
// or n itself).
inline float exp_shift_sum(float *x, int n, int npad, float shift) {
  const vf s = splat(shift);
  vf acc = splat(0.0f);
  int j = 0;
  for (; j + W <= n; j += W) {
    vf e = vexp(load(x + j) - s);
    store(x + j, e);
    acc += e;
  }
  float sum = hsum(acc);
  if (j < n) {
    // The tail goes through the vector path too, so every element is computed the same way.
    alignas(64) float tmp[W];
    for (int t = 0; t < W; ++t) tmp[t] = j + t < n ? x[j + t] : -INFINITY;
    vf e = vexp(load(tmp) - s);
    store(tmp, e);
    for (int t = 0; j + t < n; ++t) {
      x[j + t] = tmp[t];
      sum += tmp[t];
    }
    j = n;
  }
  for (; j < npad; ++j) x[j] = 0.0f;
  return sum;
}

inline void scale_row(float *x, int n, float a) {
  const vf av = splat(a);
  int j = 0;
  for (; j + W <= n; j += W) store(x + j, load(x + j) * av);
  for (; j < n; ++j) x[j] *= a;
}

inline float dot_row(const float *a, const float *b, int n) {
  vf acc = splat(0.0f);
  int j = 0;
  for (; j + W <= n; j += W) acc = vfma(load(a + j), load(b + j), acc);
  float s = hsum(acc);
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

// ---- register-blocked matrix products ------------------------------------------------------
//
// C[r][c] (+)= alpha · Σ_k A(r, k) · B(k, c) for an R × (NV·16) block, where
//   A(r, k) = A[r·ars + k·aks]                (any layout: row-major, transposed)
//   B(k, c) = B[k·bks + (c/16)·bvs + c%16]    (rows of 16 contiguous floats: a row-major matrix
//                                              with bvs = 16, or packed 16-column panels)
// The accumulators stay in registers for the whole k loop: R·NV ≤ 24 of the 32 vector registers.
template <int R, int NV>
inline void micro(int K, const float *__restrict A, ptrdiff_t ars, ptrdiff_t aks,
                  const float *__restrict B, ptrdiff_t bks, ptrdiff_t bvs, float *__restrict C,
                  ptrdiff_t ldc, float alpha, bool accumulate) {
  vf acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = splat(0.0f);
  // Not unrolled: a second iteration's B vectors would push accumulators out of registers.
#pragma clang loop unroll(disable)
  for (int k = 0; k < K; ++k) {
    vf b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load(B + k * bks + v * bvs);
    for (int r = 0; r < R; ++r) {
      const vf a = splat(A[r * ars + k * aks]);
      for (int v = 0; v < NV; ++v) acc[r][v] = vfma(a, b[v], acc[r][v]);
    }
  }
  const vf al = splat(alpha);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      float *c = C + r * ldc + v * W;
      store(c, accumulate ? vfma(acc[r][v], al, load(c)) : acc[r][v] * al);
    }
}

// Rows per register block for NV vectors of columns.
template <int NV>
constexpr int rows_for() { return NV == 4 ? 6 : NV == 3 ? 8 : NV == 2 ? 12 : 16; }

template <int NV, int R = rows_for<NV>()>
inline void micro_tail(int rows, int K, const float *A, ptrdiff_t ars, ptrdiff_t aks,
                       const float *B, ptrdiff_t bks, ptrdiff_t bvs, float *C, ptrdiff_t ldc,
                       float alpha, bool accumulate) {
  if constexpr (R > 0) {
    if (rows == R) return micro<R, NV>(K, A, ars, aks, B, bks, bvs, C, ldc, alpha, accumulate);
    return micro_tail<NV, R - 1>(rows, K, A, ars, aks, B, bks, bvs, C, ldc, alpha, accumulate);
  }
}

template <int NV>
inline void gemm_cols(int M, int K, const float *A, ptrdiff_t ars, ptrdiff_t aks, const float *B,
                      ptrdiff_t bks, ptrdiff_t bvs, float *C, ptrdiff_t ldc, float alpha,
                      bool accumulate) {
  constexpr int R = rows_for<NV>();
  int r = 0;
  for (; r + R <= M; r += R)
    micro<R, NV>(K, A + r * ars, ars, aks, B, bks, bvs, C + r * ldc, ldc, alpha, accumulate);
  if (r < M)
    micro_tail<NV>(M - r, K, A + r * ars, ars, aks, B, bks, bvs, C + r * ldc, ldc, alpha,
                   accumulate);
}

// C[M × N] (+)= alpha · A·B with the layouts above; N must be a multiple of 16 (callers pad their
// buffers), M and K are free. With K == 0 and !accumulate, C is zeroed.
inline void gemm_block(int M, int N, int K, const float *A, ptrdiff_t ars, ptrdiff_t aks,
                       const float *B, ptrdiff_t bks, ptrdiff_t bvs, float *C, ptrdiff_t ldc,
                       float alpha, bool accumulate) {
  for (int c = 0; c < N; c += 4 * W) {
    const int nv = std::min(4, (N - c) / W);
    const float *Bc = B + (c / W) * bvs;
    float *Cc = C + c;
    switch (nv) {
      case 4: gemm_cols<4>(M, K, A, ars, aks, Bc, bks, bvs, Cc, ldc, alpha, accumulate); break;
      case 3: gemm_cols<3>(M, K, A, ars, aks, Bc, bks, bvs, Cc, ldc, alpha, accumulate); break;
      case 2: gemm_cols<2>(M, K, A, ars, aks, Bc, bks, bvs, Cc, ldc, alpha, accumulate); break;
      default: gemm_cols<1>(M, K, A, ars, aks, Bc, bks, bvs, Cc, ldc, alpha, accumulate); break;
    }
  }
}

inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// ---- threads -------------------------------------------------------------------------------

inline int worker_count() {
  static const int n = [] {
    if (const char *e = std::getenv("PT_KERNEL_THREADS")) {
      int v = std::atoi(e);
      if (v > 0) return v;
    }
    unsigned h = std::thread::hardware_concurrency();
    return h == 0 ? 1 : int(h);
  }();
  return n;
}

// Runs f(task, worker) for task in [0, n) on up to worker_count() threads (the caller is worker
// 0). Tasks are handed out one at a time, so uneven tasks (causal rows) still balance. The first
// exception is rethrown on the caller after all threads have joined.
template <typename F>
void parallel_for(int n, F &&f) {
  const int nw = std::min(worker_count(), n);
  if (nw <= 1) {
    for (int i = 0; i < n; ++i) f(i, 0);
    return;
  }
  std::atomic<int> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto work = [&](int w) {
    try {
      for (int i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) f(i, w);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(nw - 1);
  for (int w = 1; w < nw; ++w) threads.emplace_back(work, w);
  work(0);
  for (auto &t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// ---- memory --------------------------------------------------------------------------------

// Scratch memory from MLX's allocator, so that Engine.Memory.peak counts it like any array.
class Scratch {
 public:
  explicit Scratch(size_t floats) : data_(mx::allocator::malloc(std::max<size_t>(floats, 1) * 4)) {}
  float *get() { return static_cast<float *>(data_.buffer().raw_ptr()); }

 private:
  mx::allocator::Data data_;
};

// ---- loads and stores with dtype conversion --------------------------------------------------

inline bool is_float_type(mx::Dtype t) {
  return t == mx::float32 || t == mx::float16 || t == mx::bfloat16;
}

// A read-only view of an evaluated array: base pointer and element strides.
struct View {
  const char *base = nullptr;
  mx::Dtype dtype = mx::float32;
  std::vector<int64_t> strides;

  View() = default;
  explicit View(const mx::array &a) : base(a.data<char>()), dtype(a.dtype()) {
    strides.assign(a.strides().begin(), a.strides().end());
  }
  int64_t item() const { return int64_t(dtype.size()); }
};

template <typename T>
inline void load_span(const T *p, int64_t stride, int n, float *dst) {
  if (stride == 1)
    for (int j = 0; j < n; ++j) dst[j] = static_cast<float>(p[j]);
  else
    for (int j = 0; j < n; ++j) dst[j] = static_cast<float>(p[j * stride]);
}

// dst[r][0..cols) = float(element at p + r·rs + c·cs) for r < rows (strides in elements of
// dtype), then dst[r][cols..ld) = 0.
inline void load_rows(const char *p, mx::Dtype dtype, int64_t rs, int64_t cs, int rows, int cols,
                      float *dst, int ld) {
  const int64_t item = dtype.size();
  for (int r = 0; r < rows; ++r) {
    const char *row = p + r * rs * item;
    float *d = dst + int64_t(r) * ld;
    if (dtype == mx::float32) {
      if (cs == 1) std::memcpy(d, row, size_t(cols) * 4);
      else load_span(reinterpret_cast<const float *>(row), cs, cols, d);
    } else if (dtype == mx::float16) {
      load_span(reinterpret_cast<const mx::float16_t *>(row), cs, cols, d);
    } else {
      load_span(reinterpret_cast<const mx::bfloat16_t *>(row), cs, cols, d);
    }
    for (int c = cols; c < ld; ++c) d[c] = 0.0f;
  }
}

// Writes rows × cols floats (row stride ld) into a row-contiguous output of dtype at p.
inline void store_rows(const float *src, int ld, int rows, int cols, char *p, mx::Dtype dtype) {
  for (int r = 0; r < rows; ++r) {
    const float *s = src + int64_t(r) * ld;
    if (dtype == mx::float32) {
      std::memcpy(reinterpret_cast<float *>(p) + int64_t(r) * cols, s, size_t(cols) * 4);
    } else if (dtype == mx::float16) {
      auto *d = reinterpret_cast<mx::float16_t *>(p) + int64_t(r) * cols;
      for (int c = 0; c < cols; ++c) d[c] = static_cast<mx::float16_t>(s[c]);
    } else {
      auto *d = reinterpret_cast<mx::bfloat16_t *>(p) + int64_t(r) * cols;
      for (int c = 0; c < cols; ++c) d[c] = static_cast<mx::bfloat16_t>(s[c]);
    }
  }
}

// ---- sgemm -----------------------------------------------------------------------------------

// cblas_sgemm of whatever BLAS the process loaded (OpenBLAS on Linux, Accelerate on macOS),
// looked up at run time so that the shim links with or without one; null when there is none.
using sgemm_fn = void (*)(int order, int transA, int transB, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc);
enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };

inline sgemm_fn blas_sgemm() {
  static const sgemm_fn f = reinterpret_cast<sgemm_fn>(dlsym(RTLD_DEFAULT, "cblas_sgemm"));
  return f;
}

// ---- transforms through the MLX-ops equivalent ---------------------------------------------

using ops_fn = std::function<std::vector<mx::array>(const std::vector<mx::array> &)>;

// jvp of a fused primitive, computed on the equivalent MLX ops (`fallback`): tangents of the
// inputs not in `argnums` are zero.
inline std::vector<mx::array> jvp_by_fallback(const ops_fn &fallback, const std::vector<mx::array> &primals,
                                              const std::vector<mx::array> &tangents,
                                              const std::vector<int> &argnums) {
  std::vector<mx::array> all;
  for (size_t i = 0, j = 0; i < primals.size(); ++i) {
    if (j < argnums.size() && int(i) == argnums[j]) all.push_back(tangents[j++]);
    else all.push_back(mx::zeros_like(primals[i]));
  }
  return mx::jvp(fallback, primals, all).second;
}

// vmap of a fused primitive through the equivalent MLX ops; outputs are batched on axis 0.
inline std::pair<std::vector<mx::array>, std::vector<int>> vmap_by_fallback(const ops_fn &fallback,
                                                                           const std::vector<mx::array> &in,
                                                                           const std::vector<int> &axes) {
  auto outs = mx::vmap(fallback, axes)(in);
  return {outs, std::vector<int>(outs.size(), 0)};
}

}  // namespace pt_kernels
