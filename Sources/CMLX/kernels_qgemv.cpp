// Quantized GEMV for decoding (declared in cmlx_qgemv.h).
//
// Batch-1 decoding reads every weight once per token, so it is bound by memory traffic and by how
// fast packed weights can be unpacked. Per output row the kernel streams the row's packed weights
// once and, for each group of `group` weights with scale s and bias b, uses
//     Σ (s·q + b)·x = s·Σ q·x + b·Σ x
// so that the inner loop is integer unpack + FMA against x, one multiply by s per group, and the
// bias term is a short dot product of the row's biases with per-group sums of x computed once.
//
// 4-bit values sit in a uint32 from the least significant nibble up, so byte j holds values 2j
// (low nibble) and 2j+1 (high nibble). Rather than interleaving unpacked nibbles, x is permuted
// once per call into the order the SIMD unpack produces (low nibbles of a block of bytes, then the
// high nibbles); the sum Σ q·x does not care about order.
//
// The work is dispatched on MLX's CPU stream like MLX's own CPU kernels, so it runs after the
// inputs are computed; large matrices are split by output rows over a persistent thread pool.
#include "cmlx_qgemv.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
// The AVX-512 kernel uses 16-bit masked loads (AVX512BW/VL), present on every AVX-512 CPU but
// the Xeon Phi; without them the AVX2 kernel runs.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define PT_QGEMV_AVX512 1
#endif

// MLX's CPU encoder wraps tasks in std::bind, which libstdc++ 12 in C++20 mode reports as using
// the deprecated std::result_of; the diagnostic points into <functional>, so it can only be
// silenced for the whole file (which uses nothing deprecated itself).
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include "mlx/backend/cpu/encoder.h"
#include "mlx/mlx.h"
#include "mlx/primitives.h"

namespace mx = mlx::core;

#include "internal.h"

namespace {

thread_local std::string g_last_error;

// ---- instruction set ----------------------------------------------------------------------------

#if defined(PT_QGEMV_AVX512)
constexpr int kLanes = 16;       // floats per vector
constexpr int kMaxRows = 8;      // rows of x per pass over the weights (register budget)
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kLanes = 8;
constexpr int kMaxRows = 4;      // 16 ymm registers: more rows would spill accumulators
#else
constexpr int kLanes = 1;
constexpr int kMaxRows = 4;
#endif

// Position in x of the value that lands at position p of a 32-value step after a 4-bit unpack.
// A step (16 bytes) is unpacked in blocks of kLanes bytes: the low nibbles of the block's bytes
// (values 2i) fill one vector, the high nibbles (values 2i+1) the next.
inline int nibble_source(int p) {
  if (kLanes == 1) return p;  // the scalar kernel unpacks in natural order
  const int block = p / (2 * kLanes), r = p % (2 * kLanes);
  return 2 * kLanes * block + (r < kLanes ? 2 * r : 2 * (r - kLanes) + 1);
}

// ---- element conversion ---------------------------------------------------------------------

// Copies any strided array into a dense row-major buffer of float (or of its own type).
template <typename Src, typename Dst>
void gather(const mx::array &a, Dst *dst) {
  const Src *base = a.data<Src>();
  const size_t n = a.size();
  if (a.flags().row_contiguous) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(base[i]);
    return;
  }
  const int nd = a.ndim();
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;
  for (size_t i = 0; i < n; ++i) {
    dst[i] = static_cast<Dst>(base[off]);
    for (int d = nd - 1; d >= 0; --d) {  // odometer increment over the shape
      off += a.strides()[d];
      if (++idx[d] < a.shape(d)) break;
      off -= a.strides()[d] * a.shape(d);
      idx[d] = 0;
    }
  }
}

template <typename Dst>
void gather_float(const mx::array &a, Dst *dst) {
  switch (a.dtype().val()) {
    case mx::Dtype::Val::float32: gather<float>(a, dst); break;
    case mx::Dtype::Val::float16: gather<mx::float16_t>(a, dst); break;
    case mx::Dtype::Val::bfloat16: gather<mx::bfloat16_t>(a, dst); break;
    default: throw std::invalid_argument("[quantized_gemv] expected a float32, float16 or bfloat16 array");
  }
}

// A row-major [N, G] matrix of scales or biases in its stored dtype.
struct FloatRows {
  const void *data = nullptr;
  mx::Dtype dtype = mx::float32;
  size_t stride = 0;  // elements between rows
};

// ---- the kernel ---------------------------------------------------------------------------

// One pass: rows [n0, n1) of W against M rows of prepared x.
struct Pass {
  const uint8_t *w = nullptr;   // packed weights, row-major
  size_t w_stride = 0;          // bytes between rows of w
  FloatRows scales, biases;
  const float *x = nullptr;     // [M, K], nibble-permuted for 4-bit
  const float *xsum = nullptr;  // [M, G]: Σ x over each group
  float *y = nullptr;           // [M, N] (row stride ldy)
  size_t ldy = 0;
  size_t K = 0, G = 0;
};

#if !defined(PT_QGEMV_AVX512)
// Groups converted at a time into stack buffers (scales and biases of one row segment).
constexpr size_t kSegmentGroups = 512;

// Pointer to `count` float32 values of row n from column g0: the stored values themselves when they
// are float32, else converted into `buf`.
inline const float *row_floats(const FloatRows &m, size_t n, size_t g0, size_t count, float *buf) {
  const size_t at = n * m.stride + g0;
  if (m.dtype == mx::float32) return static_cast<const float *>(m.data) + at;
  if (m.dtype == mx::float16) {
    const uint16_t *src = static_cast<const uint16_t *>(m.data) + at;
    size_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= count; i += 8)
      _mm256_storeu_ps(buf + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + i))));
#endif
    const mx::float16_t *h = static_cast<const mx::float16_t *>(m.data) + at;
    for (; i < count; ++i) buf[i] = static_cast<float>(h[i]);
    return buf;
  }
  // bfloat16: the upper half of a float32.
  const uint16_t *src = static_cast<const uint16_t *>(m.data) + at;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t u = uint32_t(src[i]) << 16;
    std::memcpy(buf + i, &u, 4);
  }
  return buf;
}

inline float dot(const float *a, const float *b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

#endif

#if defined(PT_QGEMV_AVX512)
// 32 values (one step: 16 bytes at 4 bits, 32 bytes at 8 bits) as two float vectors.
template <int BITS>
inline void unpack_step(const uint8_t *p, __m512 &q0, __m512 &q1) {
  if constexpr (BITS == 4) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    q0 = _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0xF)));
    q1 = _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4));
  } else {
    q0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p))));
    q1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16))));
  }
}

// Up to 16 scales or biases from element `at` (the lanes set in k), as float32; other lanes are
// zero. Masked loads never touch memory past the end of the row.
inline __m512 load_group_floats(const FloatRows &m, size_t at, __mmask16 k) {
  if (m.dtype == mx::float32) return _mm512_maskz_loadu_ps(k, static_cast<const float *>(m.data) + at);
  const __m256i h = _mm256_maskz_loadu_epi16(k, static_cast<const uint16_t *>(m.data) + at);
  if (m.dtype == mx::float16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));  // bfloat16
}

// How far ahead of the current weights to prefetch (a few rows of a typical matrix), and how many
// rows ahead to fetch scales and biases.
constexpr size_t kPrefetchBytes = 2048;
constexpr size_t kPrefetchRows = 8;

// Requests the cache lines of `count` values from element `at` (prefetches never fault, so rows
// past the end are harmless).
inline void prefetch_ahead(const FloatRows &m, size_t at, size_t count) {
  const char *p = static_cast<const char *>(m.data) + at * m.dtype.size();
  _mm_prefetch(p, _MM_HINT_T0);
  _mm_prefetch(p + count * m.dtype.size() - 1, _MM_HINT_T0);
}

// R output rows from row n against M rows of x. Groups are taken 16 at a time so that their
// scales and biases convert with one vector instruction each; the bias term b·Σx is accumulated
// lane-wise with the products (only the final horizontal sum mixes lanes).
template <int BITS, int STEPS, int M, int R>
inline void block_rows(const Pass &a, size_t n) {
  constexpr size_t kStepBytes = BITS == 4 ? 16 : 32;
  constexpr size_t kGroup = 32 * STEPS, kGroupBytes = kStepBytes * STEPS;
  // Independent FMA chains: with few rows, consecutive groups alternate between U accumulators
  // so that the chain of one group's scale-FMA does not wait on the previous group's.
  constexpr int U = M * R >= 4 ? 1 : 4 / (M * R);
  __m512 acc[R][U][M];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < U; ++u)
      for (int m = 0; m < M; ++m) acc[r][u][m] = _mm512_setzero_ps();
  alignas(64) float sb[R][16];
  for (size_t g0 = 0; g0 < a.G; g0 += 16) {
    const size_t gn = std::min<size_t>(16, a.G - g0);
    const __mmask16 k = __mmask16((1u << gn) - 1);
    for (int r = 0; r < R; ++r) {
      // Scales and biases are two more streams (a few dozen bytes per row): fetch them ahead too,
      // or their misses stall every row.
      prefetch_ahead(a.scales, (n + r + kPrefetchRows) * a.scales.stride + g0, gn);
      prefetch_ahead(a.biases, (n + r + kPrefetchRows) * a.biases.stride + g0, gn);
      _mm512_store_ps(sb[r], load_group_floats(a.scales, (n + r) * a.scales.stride + g0, k));
      const __m512 bv = load_group_floats(a.biases, (n + r) * a.biases.stride + g0, k);
      for (int m = 0; m < M; ++m)
        acc[r][0][m] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(k, a.xsum + m * a.G + g0), acc[r][0][m]);
    }
    const float *xg = a.x + g0 * kGroup;
    const uint8_t *pg = a.w + n * a.w_stride + g0 * kGroupBytes;
    // The weights are one sequential stream; asking for lines a little ahead keeps more misses
    // in flight than the hardware prefetcher alone does while the core is busy unpacking.
    for (int r = 0; r < R; ++r)
      for (size_t off = 0; off < gn * kGroupBytes; off += 64)
        _mm_prefetch(reinterpret_cast<const char *>(pg + r * a.w_stride + off) + kPrefetchBytes, _MM_HINT_T0);
    auto group = [&](size_t j, int u) {
      for (int r = 0; r < R; ++r) {
        const uint8_t *p = pg + r * a.w_stride + j * kGroupBytes;
        __m512 t[M];
        for (int st = 0; st < STEPS; ++st) {
          __m512 q0, q1;
          unpack_step<BITS>(p + st * kStepBytes, q0, q1);
          for (int m = 0; m < M; ++m) {
            const float *xp = xg + m * a.K + j * kGroup + st * 32;
            t[m] = st == 0 ? _mm512_mul_ps(q0, _mm512_loadu_ps(xp)) : _mm512_fmadd_ps(q0, _mm512_loadu_ps(xp), t[m]);
            t[m] = _mm512_fmadd_ps(q1, _mm512_loadu_ps(xp + 16), t[m]);
          }
        }
        const __m512 sv = _mm512_set1_ps(sb[r][j]);
        for (int m = 0; m < M; ++m) acc[r][u][m] = _mm512_fmadd_ps(t[m], sv, acc[r][u][m]);
      }
    };
    size_t j = 0;
    for (; j + U <= gn; j += U)
      for (int u = 0; u < U; ++u) group(j + u, u);
    for (; j < gn; ++j) group(j, 0);
  }
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < M; ++m) {
      __m512 total = acc[r][0][m];
      for (int u = 1; u < U; ++u) total = _mm512_add_ps(total, acc[r][u][m]);
      a.y[m * a.ldy + n + r] = _mm512_reduce_add_ps(total);
    }
}

template <int BITS, int STEPS, int M>
void run_rows(const Pass &a, size_t n0, size_t n1) {
  // Two output rows at a time share the loads of x and give more independent chains.
  constexpr int R = M <= 2 ? 2 : 1;
  size_t n = n0;
  for (; n + R <= n1; n += R) block_rows<BITS, STEPS, M, R>(a, n);
  for (; n < n1; ++n) block_rows<BITS, STEPS, M, 1>(a, n);
}

#elif defined(__AVX2__) && defined(__FMA__)
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i load8_u8(const uint8_t *p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(p)));
}

// 32 values as four float vectors, in the order nibble_source describes.
template <int BITS>
inline void unpack_step(const uint8_t *p, __m256 q[4]) {
  if constexpr (BITS == 4) {
    const __m256i lo = _mm256_set1_epi32(0xF);
    const __m256i v0 = load8_u8(p), v1 = load8_u8(p + 8);
    q[0] = _mm256_cvtepi32_ps(_mm256_and_si256(v0, lo));
    q[1] = _mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4));
    q[2] = _mm256_cvtepi32_ps(_mm256_and_si256(v1, lo));
    q[3] = _mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4));
  } else {
    for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtepi32_ps(load8_u8(p + 8 * i));
  }
}

template <int BITS, int STEPS, int M>
void run_rows(const Pass &a, size_t n0, size_t n1) {
  constexpr size_t kStepBytes = BITS == 4 ? 16 : 32;
  constexpr size_t kGroup = 32 * STEPS, kGroupBytes = kStepBytes * STEPS;
  constexpr int U = M == 1 ? 2 : 1;
  alignas(32) float sbuf[kSegmentGroups], bbuf[kSegmentGroups];
  for (size_t n = n0; n < n1; ++n) {
    const uint8_t *wrow = a.w + n * a.w_stride;
    __m256 acc[U][M];
    for (int u = 0; u < U; ++u)
      for (int m = 0; m < M; ++m) acc[u][m] = _mm256_setzero_ps();
    float bias_term[M] = {};
    for (size_t g0 = 0; g0 < a.G; g0 += kSegmentGroups) {
      const size_t gn = std::min(kSegmentGroups, a.G - g0);
      const float *s = row_floats(a.scales, n, g0, gn, sbuf);
      const float *b = row_floats(a.biases, n, g0, gn, bbuf);
      for (int m = 0; m < M; ++m) bias_term[m] += dot(b, a.xsum + m * a.G + g0, gn);
      const uint8_t *p = wrow + g0 * kGroupBytes;
      const float *xg = a.x + g0 * kGroup;
      auto group = [&](size_t g, __m256 *accu) {
        __m256 t[M];
        for (int st = 0; st < STEPS; ++st) {
          __m256 q[4];
          unpack_step<BITS>(p + g * kGroupBytes + st * kStepBytes, q);
          for (int m = 0; m < M; ++m) {
            const float *xp = xg + m * a.K + g * kGroup + st * 32;
            t[m] = st == 0 ? _mm256_mul_ps(q[0], _mm256_loadu_ps(xp)) : _mm256_fmadd_ps(q[0], _mm256_loadu_ps(xp), t[m]);
            for (int i = 1; i < 4; ++i) t[m] = _mm256_fmadd_ps(q[i], _mm256_loadu_ps(xp + 8 * i), t[m]);
          }
        }
        const __m256 sv = _mm256_set1_ps(s[g]);
        for (int m = 0; m < M; ++m) accu[m] = _mm256_fmadd_ps(t[m], sv, accu[m]);
      };
      size_t g = 0;
      for (; g + U <= gn; g += U)
        for (int u = 0; u < U; ++u) group(g + u, acc[u]);
      for (; g < gn; ++g) group(g, acc[0]);
    }
    for (int m = 0; m < M; ++m) {
      __m256 total = acc[0][m];
      for (int u = 1; u < U; ++u) total = _mm256_add_ps(total, acc[u][m]);
      a.y[m * a.ldy + n] = hsum(total) + bias_term[m];
    }
  }
}

#else
// Portable code: values in natural order, one group at a time.
template <int BITS, int STEPS, int M>
void run_rows(const Pass &a, size_t n0, size_t n1) {
  constexpr size_t kGroup = 32 * STEPS, kGroupBytes = kGroup * BITS / 8;
  float sbuf[kSegmentGroups], bbuf[kSegmentGroups];
  for (size_t n = n0; n < n1; ++n) {
    const uint8_t *wrow = a.w + n * a.w_stride;
    float acc[M] = {}, bias_term[M] = {};
    for (size_t g0 = 0; g0 < a.G; g0 += kSegmentGroups) {
      const size_t gn = std::min(kSegmentGroups, a.G - g0);
      const float *s = row_floats(a.scales, n, g0, gn, sbuf);
      const float *b = row_floats(a.biases, n, g0, gn, bbuf);
      for (int m = 0; m < M; ++m) bias_term[m] += dot(b, a.xsum + m * a.G + g0, gn);
      for (size_t g = 0; g < gn; ++g) {
        const uint8_t *p = wrow + (g0 + g) * kGroupBytes;
        float t[M] = {};
        for (size_t i = 0; i < kGroup; ++i) {
          const float q = BITS == 4 ? float((p[i / 2] >> (4 * (i % 2))) & 0xF) : float(p[i]);
          for (int m = 0; m < M; ++m) t[m] += q * a.x[m * a.K + (g0 + g) * kGroup + i];
        }
        for (int m = 0; m < M; ++m) acc[m] += s[g] * t[m];
      }
    }
    for (int m = 0; m < M; ++m) a.y[m * a.ldy + n] = acc[m] + bias_term[m];
  }
}
#endif

using RowsFn = void (*)(const Pass &, size_t, size_t);

template <int BITS, int STEPS, int... Ms>
RowsFn pick_rows(int m, std::integer_sequence<int, Ms...>) {
  RowsFn fn = nullptr;
  ((m == Ms + 1 ? (fn = &run_rows<BITS, STEPS, Ms + 1>, 0) : 0), ...);
  return fn;
}

RowsFn kernel_for(int bits, int group, int m) {
  const auto rows = std::make_integer_sequence<int, kMaxRows>{};
  if (bits == 4) {
    if (group == 32) return pick_rows<4, 1>(m, rows);
    if (group == 64) return pick_rows<4, 2>(m, rows);
    if (group == 128) return pick_rows<4, 4>(m, rows);
  } else if (bits == 8) {
    if (group == 32) return pick_rows<8, 1>(m, rows);
    if (group == 64) return pick_rows<8, 2>(m, rows);
    if (group == 128) return pick_rows<8, 4>(m, rows);
  }
  return nullptr;
}

// ---- thread pool --------------------------------------------------------------------------
//
// The caller and the workers claim chunks of a job with a compare-and-swap on one 64-bit ticket
// (job generation in the high half, next chunk in the low half). The caller never waits for a
// worker to wake: if the workers are asleep or descheduled (this machine is shared), it simply
// runs more chunks itself and only waits for chunks a worker already claimed. Workers spin
// briefly between jobs and then sleep on a futex.

struct Job {
  void (*fn)(const void *ctx, size_t chunk);
  const void *ctx;
};

class Pool {
 public:
  static Pool &instance() {
    static Pool *pool = new Pool();  // never destroyed: workers may sleep through exit
    return *pool;
  }

  int threads() const { return int(workers_) + 1; }

  // Runs job.fn(ctx, c) for every c in [0, chunks); returns when all have finished.
  void run(const Job &job, uint32_t chunks) {
    std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
    if (!lock.owns_lock() || workers_ == 0 || chunks <= 1) {
      // Another stream is using the pool (or there is none): run here, serially.
      for (uint32_t c = 0; c < chunks; ++c) job.fn(job.ctx, c);
      return;
    }
    const uint32_t gen = uint32_t(ticket_.load(std::memory_order_relaxed) >> 32) + 1;
    job_.store(&job, std::memory_order_relaxed);
    chunks_.store(chunks, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    ticket_.store(uint64_t(gen) << 32, std::memory_order_seq_cst);  // publishes the job
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) epoch_.notify_all();
    const uint32_t mine = work(gen, &job, chunks);
    // Only chunks a worker already claimed are left. A worker that was descheduled mid-chunk
    // (the machine may be oversubscribed) needs a core to finish: after a short spin, yield.
    for (int i = 0; done_.load(std::memory_order_acquire) + mine < chunks; ++i) {
      if (i < 4096) pause();
      else std::this_thread::yield();
    }
  }

 private:
  Pool() {
    unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    unsigned want = std::min(hw, 8u);
    if (const char *env = std::getenv("PT_QGEMV_THREADS")) {
      const int v = std::atoi(env);
      if (v >= 1) want = std::min(unsigned(v), 64u);
    }
    for (unsigned i = 1; i < want; ++i) {
      try {
        std::thread(&Pool::worker, this).detach();
        ++workers_;
      } catch (const std::system_error &) {
        break;  // fewer threads than asked for is fine
      }
    }
  }

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  // Claims and runs chunks of generation `gen`; returns how many this thread ran.
  uint32_t work(uint32_t gen, const Job *job, uint32_t chunks) {
    uint32_t ran = 0;
    uint64_t t = ticket_.load(std::memory_order_acquire);
    while (uint32_t(t >> 32) == gen && uint32_t(t) < chunks) {
      if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        job->fn(job->ctx, uint32_t(t));
        ++ran;
        t = ticket_.load(std::memory_order_acquire);
      }
    }
    return ran;
  }

  void worker() {
    uint32_t seen = 0;
    for (;;) {
      uint64_t t = ticket_.load(std::memory_order_acquire);
      if (uint32_t(t >> 32) == seen) {
        // Spin briefly (a batch of large products comes back to back), then sleep until the
        // caller bumps the epoch.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
        bool fresh = false;
        for (int i = 0; !fresh; ++i) {
          pause();
          fresh = uint32_t(ticket_.load(std::memory_order_acquire) >> 32) != seen;
          if (!fresh && (i & 255) == 255 && std::chrono::steady_clock::now() > until) break;
        }
        if (!fresh) {
          const uint32_t e = epoch_.load(std::memory_order_seq_cst);
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          if (uint32_t(ticket_.load(std::memory_order_seq_cst) >> 32) == seen) epoch_.wait(e, std::memory_order_seq_cst);
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        }
        continue;
      }
      seen = uint32_t(t >> 32);
      // The job and chunk count belong to generation `seen` (or a later one, in which case every
      // claim below fails and nothing is dereferenced).
      const Job *job = job_.load(std::memory_order_acquire);
      const uint32_t chunks = chunks_.load(std::memory_order_acquire);
      while (uint32_t(t >> 32) == seen && uint32_t(t) < chunks) {
        if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
          job->fn(job->ctx, uint32_t(t));
          done_.fetch_add(1, std::memory_order_release);
          t = ticket_.load(std::memory_order_acquire);
        }
      }
    }
  }

  // Long enough to catch back-to-back jobs, short enough not to steal a busy machine's cores.
  static constexpr int kSpinMicros = 20;
  unsigned workers_ = 0;
  std::mutex busy_;
  std::atomic<uint64_t> ticket_{0};
  std::atomic<const Job *> job_{nullptr};
  std::atomic<uint32_t> chunks_{0};
  std::atomic<uint32_t> done_{0};
  std::atomic<uint32_t> epoch_{0};
  std::atomic<int> sleepers_{0};
};

// Below this many weights a matrix is done on the calling thread. A 1536×576 4-bit matrix takes
// ~25 µs on one core, comparable to waking a worker, and on a loaded machine a worker that is
// descheduled mid-chunk stalls the caller: measured on the 2-core dev box, splitting every matrix
// of ≥2^18 weights decoded 30% slower than one thread, while splitting only the lm_head-sized
// ones (49152×576) was as fast or faster.
constexpr size_t kParallelWeights = size_t(1) << 22;
// Weights per chunk of rows: small enough to balance two threads on a noisy machine.
constexpr size_t kChunkWeights = size_t(1) << 16;

// ---- evaluation ---------------------------------------------------------------------------

void compute(const mx::array &x, const mx::array &w, const mx::array &scales, const mx::array &biases,
             mx::array &out, int group, int bits) {
  const size_t K = size_t(x.shape(-1));
  const size_t N = size_t(w.shape(0));
  if (out.size() == 0) return;
  if (K == 0) {
    // Empty sums: zeros (all-zero bits in every float type).
    std::memset(out.data<void>(), 0, out.nbytes());
    return;
  }
  const size_t M = x.size() / K;
  const size_t G = K / size_t(group);

  // Dense copies of anything that is not row-contiguous (slices, transposes; rare for weights).
  std::vector<uint32_t> w_copy;
  const uint8_t *wp;
  if (w.flags().row_contiguous) {
    wp = reinterpret_cast<const uint8_t *>(w.data<uint32_t>());
  } else {
    w_copy.resize(w.size());
    gather<uint32_t>(w, w_copy.data());
    wp = reinterpret_cast<const uint8_t *>(w_copy.data());
  }
  std::vector<float> s_copy, b_copy;
  auto rows_of = [&](const mx::array &a, std::vector<float> &copy) {
    FloatRows r;
    if (a.flags().row_contiguous) {
      r.data = a.data<void>();
      r.dtype = a.dtype();
    } else {
      copy.resize(a.size());
      gather_float(a, copy.data());
      r.data = copy.data();
      r.dtype = mx::float32;
    }
    r.stride = G;
    return r;
  };
  const FloatRows srows = rows_of(scales, s_copy), brows = rows_of(biases, b_copy);

  // x in float32, then permuted for the 4-bit unpack order, and its per-group sums.
  std::vector<float> xf(M * K), xperm(bits == 4 ? M * K : 0), xsum(M * G);
  gather_float(x, xf.data());
  for (size_t m = 0; m < M; ++m) {
    const float *xr = xf.data() + m * K;
    for (size_t g = 0; g < G; ++g) {
      float s = 0;
      for (size_t i = 0; i < size_t(group); ++i) s += xr[g * group + i];
      xsum[m * G + g] = s;
    }
    if (bits == 4) {
      float *dst = xperm.data() + m * K;
      for (size_t k0 = 0; k0 < K; k0 += 32)
        for (int p = 0; p < 32; ++p) dst[k0 + p] = xr[k0 + nibble_source(p)];
    }
  }
  const float *xk = bits == 4 ? xperm.data() : xf.data();

  const bool f32_out = out.dtype() == mx::float32;
  std::vector<float> ybuf(f32_out ? 0 : M * N);
  float *y = f32_out ? out.data<float>() : ybuf.data();

  Pool &pool = Pool::instance();
  const bool parallel = N * K >= kParallelWeights && pool.threads() > 1 && N > 1;
  const size_t rows_per_chunk = parallel ? std::max<size_t>(1, std::min(N, kChunkWeights / K)) : N;
  const uint32_t chunks = uint32_t((N + rows_per_chunk - 1) / rows_per_chunk);

  for (size_t m0 = 0; m0 < M; m0 += kMaxRows) {
    const int mb = int(std::min<size_t>(kMaxRows, M - m0));
    struct Ctx {
      Pass pass;
      RowsFn fn;
      size_t rows_per_chunk, N;
    } ctx;
    ctx.pass.w = wp;
    ctx.pass.w_stride = K * size_t(bits) / 8;
    ctx.pass.scales = srows;
    ctx.pass.biases = brows;
    ctx.pass.x = xk + m0 * K;
    ctx.pass.xsum = xsum.data() + m0 * G;
    ctx.pass.y = y + m0 * N;
    ctx.pass.ldy = N;
    ctx.pass.K = K;
    ctx.pass.G = G;
    ctx.fn = kernel_for(bits, group, mb);
    ctx.rows_per_chunk = rows_per_chunk;
    ctx.N = N;
    if (!ctx.fn) throw std::invalid_argument("[quantized_gemv] unsupported bits or group size");
    const Job job{[](const void *p, size_t c) {
                    const Ctx &k = *static_cast<const Ctx *>(p);
                    const size_t n0 = c * k.rows_per_chunk;
                    k.fn(k.pass, n0, std::min(k.N, n0 + k.rows_per_chunk));
                  },
                  &ctx};
    pool.run(job, chunks);
  }

  if (!f32_out) {
    if (out.dtype() == mx::float16) {
      auto *o = out.data<mx::float16_t>();
      for (size_t i = 0; i < M * N; ++i) o[i] = static_cast<mx::float16_t>(ybuf[i]);
    } else {
      auto *o = out.data<mx::bfloat16_t>();
      for (size_t i = 0; i < M * N; ++i) o[i] = static_cast<mx::bfloat16_t>(ybuf[i]);
    }
  }
}

// ---- the primitive ------------------------------------------------------------------------

mx::array quantized_gemv(const mx::array &x, const mx::array &w, const mx::array &scales,
                         const mx::array &biases, int group, int bits);

class QuantizedGEMV : public mx::UnaryPrimitive {
 public:
  QuantizedGEMV(mx::Stream stream, int group, int bits) : mx::UnaryPrimitive(stream), group_(group), bits_(bits) {}

  void eval_cpu(const std::vector<mx::array> &inputs, mx::array &out) override {
    auto &encoder = mx::cpu::get_command_encoder(stream());
    out.set_data(mx::allocator::malloc(out.nbytes()));
    for (auto &a : inputs) encoder.set_input_array(a);
    encoder.set_output_array(out);
    // Runs on the stream's thread once the inputs are computed, as MLX's own CPU kernels do.
    encoder.dispatch([out = mx::array::unsafe_weak_copy(out), x = mx::array::unsafe_weak_copy(inputs[0]),
                      w = mx::array::unsafe_weak_copy(inputs[1]), s = mx::array::unsafe_weak_copy(inputs[2]),
                      b = mx::array::unsafe_weak_copy(inputs[3]), group = group_, bits = bits_]() mutable {
      compute(x, w, s, b, out, group, bits);
    });
  }

  void eval_gpu(const std::vector<mx::array> &, mx::array &) override {
    throw std::runtime_error("[quantized_gemv] is a CPU kernel; on the GPU use quantized_matmul");
  }

  // Forward-mode derivative with respect to x (the map is linear in x).
  std::vector<mx::array> jvp(const std::vector<mx::array> &primals, const std::vector<mx::array> &tangents,
                             const std::vector<int> &argnums) override {
    for (int a : argnums)
      if (a != 0) throw std::invalid_argument("[quantized_gemv] jvp is implemented with respect to x only");
    return {quantized_gemv(tangents[0], primals[1], primals[2], primals[3], group_, bits_)};
  }

  // Gradients with respect to x, scales and biases (as MLX's QuantizedMatmul gives them).
  std::vector<mx::array> vjp(const std::vector<mx::array> &primals, const std::vector<mx::array> &cotangents,
                             const std::vector<int> &argnums, const std::vector<mx::array> &) override {
    const auto s = stream();
    const auto &x = primals[0], &w = primals[1], &scales = primals[2], &biases = primals[3];
    const int K = x.shape(-1), N = w.shape(0);
    auto cot = mx::astype(cotangents[0], mx::float32, s);
    std::vector<mx::array> grads;
    std::optional<mx::array> outer;  // Σ_m cot[m, n] x[m, k] as [N, K/group, group]
    auto flat = [&](const mx::array &a, int last) { return mx::reshape(a, {-1, last}, s); };
    for (int arg : argnums) {
      if (arg == 0) {
        // dx = cot · W, with W dequantized in float32 (float16 scales would round every weight).
        auto wf = mx::dequantize(w, mx::astype(scales, mx::float32, s), mx::astype(biases, mx::float32, s),
                                 group_, bits_, "affine", std::nullopt, std::nullopt, s);
        grads.push_back(mx::astype(mx::matmul(cot, wf, s), x.dtype(), s));
      } else if (arg == 1) {
        throw std::invalid_argument("[quantized_gemv] no gradient with respect to the packed quantized weights");
      } else {
        if (!outer) {
          auto m = mx::matmul(mx::transpose(flat(cot, N), s), flat(mx::astype(x, mx::float32, s), K), s);
          outer = mx::reshape(m, {N, K / group_, group_}, s);
        }
        if (arg == 3) {
          grads.push_back(mx::astype(mx::sum(*outer, -1, false, s), biases.dtype(), s));
        } else {
          auto q = mx::dequantize(w, mx::ones({N, K / group_}, mx::float32, s),
                                  mx::zeros({N, K / group_}, mx::float32, s), group_, bits_, "affine",
                                  std::nullopt, std::nullopt, s);
          q = mx::reshape(q, {N, K / group_, group_}, s);
          grads.push_back(mx::astype(mx::sum(mx::multiply(*outer, q, s), -1, false, s), scales.dtype(), s));
        }
      }
    }
    return grads;
  }

  const char *name() const override { return "QuantizedGEMV"; }

  bool is_equivalent(const mx::Primitive &other) const override {
    auto *o = dynamic_cast<const QuantizedGEMV *>(&other);
    return o && o->group_ == group_ && o->bits_ == bits_;
  }

  std::vector<mx::Shape> output_shapes(const std::vector<mx::array> &inputs) override {
    auto shape = inputs[0].shape();
    shape.back() = inputs[1].shape(0);
    return {shape};
  }

 private:
  int group_;
  int bits_;
};

bool is_float(mx::Dtype d) { return d == mx::float32 || d == mx::float16 || d == mx::bfloat16; }

mx::array quantized_gemv(const mx::array &x, const mx::array &w, const mx::array &scales,
                         const mx::array &biases, int group, int bits) {
  // Called once per linear layer per decoded token: messages are only built on failure.
  auto fail = [](const std::string &why) { throw std::invalid_argument("[quantized_gemv] " + why); };
  if (bits != 4 && bits != 8) fail("bits must be 4 or 8, got " + std::to_string(bits));
  if (group != 32 && group != 64 && group != 128)
    fail("group size must be 32, 64 or 128, got " + std::to_string(group));
  if (w.dtype() != mx::uint32 || w.ndim() != 2) fail("the packed weight must be a 2-D uint32 array");
  if (!is_float(x.dtype()) || x.ndim() < 1)
    fail("x must be a float32, float16 or bfloat16 array of at least one dimension");
  if (!is_float(scales.dtype()) || !is_float(biases.dtype()))
    fail("scales and biases must be float32, float16 or bfloat16");
  const int N = w.shape(0);
  const int64_t K = int64_t(w.shape(1)) * 32 / bits;
  if (K % group != 0) fail("the row length is not a whole number of groups");
  const mx::Shape sb{N, int(K / group)};
  if (scales.shape() != sb || biases.shape() != sb) {
    std::ostringstream msg;
    msg << "scales and biases must have shape [" << N << ", " << K / group << "] for a weight of shape [" << N
        << ", " << w.shape(1) << "] with " << bits << " bits and group size " << group;
    fail(msg.str());
  }
  if (x.shape(-1) != K) {
    fail("x has " + std::to_string(x.shape(-1)) + " features but the quantized matrix has " + std::to_string(K) +
         " columns");
  }
  auto shape = x.shape();
  shape.back() = N;
  const auto stream = mx::default_stream(mx::Device::cpu);
  return mx::array(std::move(shape), x.dtype(), std::make_shared<QuantizedGEMV>(stream, group, bits),
                   {x, w, scales, biases});
}

}  // namespace

extern "C" {

const char *pt_qgemv_last_error(void) { return g_last_error.c_str(); }

pt_array pt_quantized_gemv(pt_array x, pt_array w, pt_array scales, pt_array biases, int group_size, int bits) {
  try {
    if (!x || !w || !scales || !biases) throw std::invalid_argument("[quantized_gemv] null array handle");
    return new pt_array_s{quantized_gemv(x->a, w->a, scales->a, biases->a, group_size, bits)};
  } catch (const std::exception &e) {
    g_last_error = e.what();
  } catch (...) {
    g_last_error = "[quantized_gemv] unknown error";
  }
  return nullptr;
}

}  // extern "C"
