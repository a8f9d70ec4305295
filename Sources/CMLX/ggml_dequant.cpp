// Dequantization of GGML block formats (declared in cmlx_ggml.h).
//
// Layouts follow llama.cpp's ggml-common.h; the arithmetic follows ggml-quants.c's
// dequantize_row_* so that every value is the float32 ggml itself computes. In every format the
// product (scale × quant) is exact in float32 (at most 24 significant bits), so the only rounding
// is the final add of a min/offset, and fused multiply-add contraction cannot change a result.
#include "cmlx_ggml.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mlx/mlx.h"

namespace mx = mlx::core;

// The handle type of shim.cpp, declared with the identical token sequence (a permitted repeated
// class definition) so that arrays made here are freed by its pt_free.
#include "internal.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGML data is little-endian; add byte swapping");

namespace {

thread_local std::string g_last_error;

int fail(int code, std::string message) {
  g_last_error = std::move(message);
  return code;
}

// ---- scalar helpers --------------------------------------------------------------------------

inline uint16_t load_u16(const uint8_t *p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t load_u32(const uint8_t *p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline float load_f32(const uint8_t *p) { float v; std::memcpy(&v, p, 4); return v; }
inline uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// IEEE half -> float, exact for every number; NaNs come out quiet with their payload, as F16C and
// NEON convert them. Branch-free so that the bulk F16 loop vectorises; done in software so results
// do not depend on which conversion instructions the CPU has.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7FFFu;
  const uint32_t normal = (em << 13) + ((127u - 15u) << 23);  // rebias the exponent
  const uint32_t payload = (em & 0x3FFu) << 13;
  const uint32_t special = 0x7F800000u | payload | (payload ? 0x00400000u : 0u);  // inf / quiet NaN
  const uint32_t subnormal = bits_of(float(em) * 0x1p-24f);        // exact: em < 2^10
  const uint32_t mag = em >= 0x7C00u ? special : (em >= 0x0400u ? normal : subnormal);
  return float_of(sign | mag);
}

// float -> IEEE half, round to nearest even (as the hardware conversion does); NaN -> quiet NaN.
inline uint16_t float_to_half(float f) {
  const uint32_t x = bits_of(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7FFFFFFFu;
  // Values below 2^-14 become subnormal: adding 0.5 puts the half ulp (2^-24) at the float's
  // last mantissa bit, so the FPU's own round-to-nearest-even does the rounding.
  const uint32_t sub = bits_of(float_of(ax) + 0.5f) - 0x3F000000u;
  // Normal range: rebias and round on the 13 dropped bits (ties to even); a carry out of the
  // mantissa correctly bumps the exponent, up to infinity.
  const uint32_t nor = (ax + ((15u - 127u) << 23) + 0xFFFu + ((ax >> 13) & 1u)) >> 13;
  const uint32_t big = ax > 0x7F800000u ? 0x7E00u : 0x7C00u;  // NaN or overflow to inf
  const uint32_t mag = ax >= 0x47800000u ? big : (ax < 0x38800000u ? sub : nor);
  return uint16_t(sign | mag);
}

// float -> bfloat16, round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t float_to_bf16(float f) {
  const uint32_t x = bits_of(f);
  const uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
  return uint16_t((x & 0x7FFFFFFFu) > 0x7F800000u ? ((x >> 16) | 0x40u) : rounded);
}

// 6-bit scale and min j of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t *q, uint8_t &sc, uint8_t &m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// ---- block kernels -----------------------------------------------------------------------------
// Each format: qk elements per block, `bytes` bytes per block, block() writes qk floats.

struct F32 {
  static constexpr size_t qk = 1, bytes = 4;
  static void span(const uint8_t *__restrict src, float *__restrict y, size_t nb) {
    std::memcpy(y, src, nb * 4);
  }
};

struct F16 {
  static constexpr size_t qk = 1, bytes = 2;
  static void span(const uint8_t *__restrict src, float *__restrict y, size_t nb) {
    for (size_t i = 0; i < nb; ++i) y[i] = half_to_float(load_u16(src + 2 * i));
  }
};

struct BF16 {
  static constexpr size_t qk = 1, bytes = 2;
  static void span(const uint8_t *__restrict src, float *__restrict y, size_t nb) {
    for (size_t i = 0; i < nb; ++i) y[i] = float_of(uint32_t(load_u16(src + 2 * i)) << 16);
  }
};

// d (f16), qs[16]: x = (q - 8)·d; low nibbles are elements 0..15, high nibbles 16..31.
struct Q4_0 {
  static constexpr size_t qk = 32, bytes = 18;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = half_to_float(load_u16(b));
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; ++j) {
      y[j] = float((qs[j] & 0xF) - 8) * d;
      y[j + 16] = float((qs[j] >> 4) - 8) * d;
    }
  }
};

// d, m (f16), qs[16]: x = q·d + m.
struct Q4_1 {
  static constexpr size_t qk = 32, bytes = 20;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = half_to_float(load_u16(b));
    const float m = half_to_float(load_u16(b + 2));
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; ++j) {
      y[j] = float(qs[j] & 0xF) * d + m;
      y[j + 16] = float(qs[j] >> 4) * d + m;
    }
  }
};

// d (f16), qh (u32: bit j is the fifth bit of element j), qs[16]: x = (q - 16)·d.
struct Q5_0 {
  static constexpr size_t qk = 32, bytes = 22;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = half_to_float(load_u16(b));
    const uint32_t qh = load_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; ++j) {
      const int h0 = int((qh >> j) << 4) & 0x10;
      const int h1 = int(qh >> (j + 12)) & 0x10;
      y[j] = float(((qs[j] & 0xF) | h0) - 16) * d;
      y[j + 16] = float(((qs[j] >> 4) | h1) - 16) * d;
    }
  }
};

// d, m (f16), qh (u32), qs[16]: x = q·d + m.
struct Q5_1 {
  static constexpr size_t qk = 32, bytes = 24;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = half_to_float(load_u16(b));
    const float m = half_to_float(load_u16(b + 2));
    const uint32_t qh = load_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; ++j) {
      const int h0 = int((qh >> j) << 4) & 0x10;
      const int h1 = int(qh >> (j + 12)) & 0x10;
      y[j] = float((qs[j] & 0xF) | h0) * d + m;
      y[j + 16] = float((qs[j] >> 4) | h1) * d + m;
    }
  }
};

// d (f16), qs[32] int8: x = q·d.
struct Q8_0 {
  static constexpr size_t qk = 32, bytes = 34;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = half_to_float(load_u16(b));
    const int8_t *qs = reinterpret_cast<const int8_t *>(b + 2);
    for (int j = 0; j < 32; ++j) y[j] = float(qs[j]) * d;
  }
};

// scales[16] (4-bit scale | 4-bit min), qs[64] (2-bit), d, dmin (f16).
struct Q2_K {
  static constexpr size_t qk = 256, bytes = 84;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const uint8_t *scales = b, *qs = b + 16;
    const float d = half_to_float(load_u16(b + 80));
    const float dmin = half_to_float(load_u16(b + 82));
    for (int half = 0; half < 2; ++half) {  // 128 elements from 32 bytes of qs
      const uint8_t *q = qs + 32 * half;
      for (int j = 0; j < 4; ++j) {
        const int shift = 2 * j;
        for (int k = 0; k < 2; ++k) {  // two groups of 16 with their own scale
          const uint8_t sc = scales[8 * half + 2 * j + k];
          const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
          float *o = y + 128 * half + 32 * j + 16 * k;
          for (int l = 0; l < 16; ++l) o[l] = dl * float((q[16 * k + l] >> shift) & 3) - ml;
        }
      }
    }
  }
};

// hmask[32] (high bit, inverted), qs[64] (low 2 bits), scales[12] (16 × 6-bit), d (f16).
struct Q3_K {
  static constexpr size_t qk = 256, bytes = 110;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const uint8_t *hm = b, *qs = b + 32, *sc = b + 96;
    const float d = half_to_float(load_u16(b + 108));
    float dl[16];
    for (int j = 0; j < 16; ++j) {
      const int lo = j < 8 ? (sc[j] & 0xF) : (sc[j - 8] >> 4);
      const int hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
      dl[j] = d * float((lo | (hi << 4)) - 32);
    }
    for (int half = 0; half < 2; ++half) {
      const uint8_t *q = qs + 32 * half;
      for (int j = 0; j < 4; ++j) {
        const int shift = 2 * j;
        const uint8_t m = uint8_t(1u << (4 * half + j));
        for (int k = 0; k < 2; ++k) {
          const float s = dl[8 * half + 2 * j + k];
          float *o = y + 128 * half + 32 * j + 16 * k;
          for (int l = 0; l < 16; ++l) {
            const int v = ((q[16 * k + l] >> shift) & 3) - ((hm[16 * k + l] & m) ? 0 : 4);
            o[l] = s * float(v);
          }
        }
      }
    }
  }
};

// d, dmin (f16), scales[12] (8 × 6-bit scale and min), qs[128]: x = d·sc·q - dmin·m.
struct Q4_K {
  static constexpr size_t qk = 256, bytes = 144;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = half_to_float(load_u16(b));
    const float dmin = half_to_float(load_u16(b + 2));
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int j = 0; j < 4; ++j) {  // 64 elements from 32 bytes
      uint8_t sc, m;
      scale_min_k4(2 * j, scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(2 * j + 1, scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      float *o = y + 64 * j;
      const uint8_t *qq = q + 32 * j;
      for (int l = 0; l < 32; ++l) o[l] = d1 * float(qq[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) o[32 + l] = d2 * float(qq[l] >> 4) - m2;
    }
  }
};

// d, dmin (f16), scales[12], qh[32] (fifth bits), qs[128].
struct Q5_K {
  static constexpr size_t qk = 256, bytes = 176;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = half_to_float(load_u16(b));
    const float dmin = half_to_float(load_u16(b + 2));
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    for (int j = 0; j < 4; ++j) {
      uint8_t sc, m;
      scale_min_k4(2 * j, scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(2 * j + 1, scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      const int s1 = 2 * j, s2 = 2 * j + 1;  // qh bit of the low / high nibble group
      float *o = y + 64 * j;
      const uint8_t *qq = ql + 32 * j;
      for (int l = 0; l < 32; ++l) o[l] = d1 * float((qq[l] & 0xF) | (((qh[l] >> s1) & 1) << 4)) - m1;
      for (int l = 0; l < 32; ++l) o[32 + l] = d2 * float((qq[l] >> 4) | (((qh[l] >> s2) & 1) << 4)) - m2;
    }
  }
};

// ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] int8, d (f16): x = d·sc·(q - 32).
struct Q6_K {
  static constexpr size_t qk = 256, bytes = 210;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192);
    const float d = half_to_float(load_u16(b + 208));
    for (int half = 0; half < 2; ++half) {
      const uint8_t *l4 = ql + 64 * half, *h2 = qh + 32 * half;
      const int8_t *s = sc + 8 * half;
      float *o = y + 128 * half;
      for (int g = 0; g < 2; ++g) {  // l in [16g, 16g + 16) shares scale index g (+2, +4, +6)
        const float d0 = d * float(s[g]), d1 = d * float(s[g + 2]);
        const float d2 = d * float(s[g + 4]), d3 = d * float(s[g + 6]);
        for (int l = 16 * g; l < 16 * g + 16; ++l) {
          const int q1 = ((l4[l] & 0xF) | (((h2[l] >> 0) & 3) << 4)) - 32;
          const int q2 = ((l4[l + 32] & 0xF) | (((h2[l] >> 2) & 3) << 4)) - 32;
          const int q3 = ((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4)) - 32;
          const int q4 = ((l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4)) - 32;
          o[l] = d0 * float(q1);
          o[l + 32] = d1 * float(q2);
          o[l + 64] = d2 * float(q3);
          o[l + 96] = d3 * float(q4);
        }
      }
    }
  }
};

// d (f32), qs[256] int8, bsums[16] (unused here): x = q·d.
struct Q8_K {
  static constexpr size_t qk = 256, bytes = 292;
  static void block(const uint8_t *__restrict b, float *__restrict y) {
    const float d = load_f32(b);
    const int8_t *qs = reinterpret_cast<const int8_t *>(b + 4);
    for (int j = 0; j < 256; ++j) y[j] = float(qs[j]) * d;
  }
};

// ---- drivers ------------------------------------------------------------------------------------

template <class K>
void to_f32(const uint8_t *src, float *dst, size_t nb) {
  if constexpr (requires(const uint8_t *s, float *d, size_t c) { K::span(s, d, c); }) {
    K::span(src, dst, nb);
  } else {
    for (size_t i = 0; i < nb; ++i) K::block(src + i * K::bytes, dst + i * K::qk);
  }
}

enum class Out { f32, f16, bf16 };

// Blocks [0, nb) of src into dst (elements of the output type), via a small float buffer for
// the 16-bit outputs so that no full-size float32 copy is ever made.
template <class K>
void convert(const uint8_t *src, void *dst, size_t nb, Out out) {
  if (out == Out::f32) return to_f32<K>(src, static_cast<float *>(dst), nb);
  constexpr size_t chunk = K::qk >= 4096 ? 1 : 4096 / K::qk;
  alignas(64) float tmp[chunk * K::qk];
  uint16_t *o = static_cast<uint16_t *>(dst);
  for (size_t i = 0; i < nb; i += chunk) {
    const size_t c = std::min(chunk, nb - i);
    to_f32<K>(src + i * K::bytes, tmp, c);
    uint16_t *oo = o + i * K::qk;
    const size_t ne = c * K::qk;
    if (out == Out::f16) {
      for (size_t e = 0; e < ne; ++e) oo[e] = float_to_half(tmp[e]);
    } else {
      for (size_t e = 0; e < ne; ++e) oo[e] = float_to_bf16(tmp[e]);
    }
  }
}

// Below this many elements per thread, starting a thread costs more than it saves.
constexpr size_t kMinElementsPerThread = size_t(1) << 20;
constexpr size_t kMaxThreads = 8;

// Runs convert<K> over all blocks, split into contiguous ranges across up to 8 threads.
template <class K>
void run(const uint8_t *src, void *dst, size_t nb, Out out) {
  const size_t out_size = out == Out::f32 ? 4 : 2;
  const size_t n = nb * K::qk;
  size_t hw = std::thread::hardware_concurrency();
  if (hw == 0) hw = 1;
  const size_t nt = std::max<size_t>(1, std::min({hw, kMaxThreads, n / kMinElementsPerThread}));
  if (nt == 1) return convert<K>(src, dst, nb, out);
  const size_t per = (nb + nt - 1) / nt;
  auto part = [&](size_t t) {
    const size_t b0 = t * per, b1 = std::min(nb, b0 + per);
    if (b0 < b1)
      convert<K>(src + b0 * K::bytes, static_cast<uint8_t *>(dst) + b0 * K::qk * out_size, b1 - b0, out);
  };
  std::vector<std::thread> threads;
  threads.reserve(nt - 1);
  for (size_t t = 1; t < nt; ++t) {
    try {
      threads.emplace_back(part, t);
    } catch (const std::system_error &) {
      part(t);  // no thread available: do this range here instead
    }
  }
  part(0);
  for (auto &th : threads) th.join();
}

struct TypeInfo {
  const char *name;
  size_t qk, bytes;
  void (*run)(const uint8_t *, void *, size_t, Out);  // null: known but not supported
};

template <class K>
constexpr TypeInfo info(const char *name) { return {name, K::qk, K::bytes, &run<K>}; }
constexpr TypeInfo known(const char *name) { return {name, 0, 0, nullptr}; }

// Indexed by GGML type id.
constexpr TypeInfo kTypes[] = {
    info<F32>("F32"), info<F16>("F16"), info<Q4_0>("Q4_0"), info<Q4_1>("Q4_1"),
    known("Q4_2 (removed)"), known("Q4_3 (removed)"), info<Q5_0>("Q5_0"), info<Q5_1>("Q5_1"),
    info<Q8_0>("Q8_0"),
    // Q8_1 is an activation format (ggml has no dequantize for it) and gguf-py's size for it
    // (40 bytes) disagrees with ggml-common.h (36), so it is not guessed at here.
    known("Q8_1"),
    info<Q2_K>("Q2_K"), info<Q3_K>("Q3_K"), info<Q4_K>("Q4_K"), info<Q5_K>("Q5_K"),
    info<Q6_K>("Q6_K"), info<Q8_K>("Q8_K"),
    known("IQ2_XXS"), known("IQ2_XS"), known("IQ3_XXS"), known("IQ1_S"), known("IQ4_NL"),
    known("IQ3_S"), known("IQ2_S"), known("IQ4_XS"), known("I8"), known("I16"), known("I32"),
    known("I64"), known("F64"), known("IQ1_M"), info<BF16>("BF16"),
    known("Q4_0_4_4 (removed)"), known("Q4_0_4_8 (removed)"), known("Q4_0_8_8 (removed)"),
    known("TQ1_0"), known("TQ2_0"), known("IQ4_NL_4_4 (removed)"), known("IQ4_NL_4_8 (removed)"),
    known("IQ4_NL_8_8 (removed)"), known("MXFP4"),
};
constexpr uint32_t kNumTypes = sizeof(kTypes) / sizeof(kTypes[0]);
static_assert(kNumTypes == 40 && kTypes[PT_GGML_Q8_0].bytes == 34 && kTypes[PT_GGML_Q6_K].bytes == 210 &&
                  kTypes[PT_GGML_Q8_K].bytes == 292 && kTypes[PT_GGML_BF16].run == &run<BF16>,
              "kTypes must be indexed by GGML type id");

const TypeInfo *lookup(uint32_t type) { return type < kNumTypes ? &kTypes[type] : nullptr; }

std::string type_label(uint32_t type) {
  const TypeInfo *t = lookup(type);
  return t ? std::string(t->name) : "GGML type " + std::to_string(type);
}

// Checks type, block alignment and byte count; on success *t is a supported type.
int validate(uint32_t type, size_t n, size_t nbytes, const TypeInfo **t) {
  *t = lookup(type);
  if (*t == nullptr || (*t)->run == nullptr)
    return fail(PT_GGML_UNSUPPORTED_TYPE, "dequantizing " + type_label(type) + " is not supported");
  if (n % (*t)->qk != 0)
    return fail(PT_GGML_BAD_SIZE, std::to_string(n) + " elements are not whole " + (*t)->name +
                                      " blocks of " + std::to_string((*t)->qk));
  const size_t expected = n / (*t)->qk * (*t)->bytes;
  if (nbytes != expected)
    return fail(PT_GGML_BAD_SIZE, std::to_string(n) + " " + (*t)->name + " elements need " +
                                      std::to_string(expected) + " bytes, got " + std::to_string(nbytes));
  return PT_GGML_OK;
}

int dequantize(const void *src, size_t nbytes, uint32_t type, size_t n, void *dst, Out out) {
  try {
    const TypeInfo *t;
    if (int rc = validate(type, n, nbytes, &t)) return rc;
    if (n == 0) return PT_GGML_OK;
    if (src == nullptr || dst == nullptr) return fail(PT_GGML_BAD_ARGUMENT, "null data pointer");
    t->run(static_cast<const uint8_t *>(src), dst, n / t->qk, out);
    return PT_GGML_OK;
  } catch (const std::exception &e) {
    return fail(PT_GGML_INTERNAL, e.what());
  } catch (...) {
    return fail(PT_GGML_INTERNAL, "unknown error while dequantizing");
  }
}

}  // namespace

extern "C" {

const char *pt_ggml_last_error(void) { return g_last_error.c_str(); }

const char *pt_ggml_type_name(uint32_t type) {
  const TypeInfo *t = lookup(type);
  return t ? t->name : nullptr;
}

bool pt_ggml_is_supported(uint32_t type) {
  const TypeInfo *t = lookup(type);
  return t != nullptr && t->run != nullptr;
}

bool pt_ggml_block_info(uint32_t type, size_t *block_elements, size_t *block_bytes) {
  if (!pt_ggml_is_supported(type)) return false;
  if (block_elements) *block_elements = kTypes[type].qk;
  if (block_bytes) *block_bytes = kTypes[type].bytes;
  return true;
}

int pt_ggml_row_bytes(uint32_t type, size_t n, size_t *nbytes) {
  const TypeInfo *t = lookup(type);
  if (t == nullptr || t->run == nullptr)
    return fail(PT_GGML_UNSUPPORTED_TYPE, "dequantizing " + type_label(type) + " is not supported");
  if (n % t->qk != 0)
    return fail(PT_GGML_BAD_SIZE, std::to_string(n) + " elements are not whole " + t->name +
                                      " blocks of " + std::to_string(t->qk));
  if (nbytes) *nbytes = n / t->qk * t->bytes;
  return PT_GGML_OK;
}

int pt_ggml_dequantize_f32(const void *src, size_t nbytes, uint32_t type, size_t n, float *dst) {
  return dequantize(src, nbytes, type, n, dst, Out::f32);
}

int pt_ggml_dequantize_f16(const void *src, size_t nbytes, uint32_t type, size_t n, uint16_t *dst) {
  return dequantize(src, nbytes, type, n, dst, Out::f16);
}

int pt_ggml_dequantize_bf16(const void *src, size_t nbytes, uint32_t type, size_t n, uint16_t *dst) {
  return dequantize(src, nbytes, type, n, dst, Out::bf16);
}

pt_array pt_ggml_dequantize(const void *data, size_t nbytes, uint32_t type, const int32_t *shape,
                            size_t ndim, pt_dtype out_dtype) {
  try {
    Out out;
    mx::Dtype dt = mx::float32;
    switch (out_dtype) {
      case PT_FLOAT32: out = Out::f32; dt = mx::float32; break;
      case PT_FLOAT16: out = Out::f16; dt = mx::float16; break;
      case PT_BFLOAT16: out = Out::bf16; dt = mx::bfloat16; break;
      default:
        fail(PT_GGML_BAD_ARGUMENT, "GGML tensors dequantize to float32, float16 or bfloat16 only");
        return nullptr;
    }
    if (ndim > 0 && shape == nullptr) {
      fail(PT_GGML_BAD_ARGUMENT, "null shape");
      return nullptr;
    }
    mx::Shape sh(shape, shape + ndim);
    size_t n = 1;
    for (auto d : sh) {
      if (d < 0) {
        fail(PT_GGML_BAD_ARGUMENT, "negative dimension " + std::to_string(d));
        return nullptr;
      }
      n *= size_t(d);
    }
    const TypeInfo *t;
    if (validate(type, n, nbytes, &t) != PT_GGML_OK) return nullptr;
    // ggml quantizes each row on its own, so a block never straddles two rows.
    if (ndim > 0 && size_t(sh.back()) % t->qk != 0) {
      fail(PT_GGML_BAD_SIZE, "row length " + std::to_string(sh.back()) + " is not a multiple of the " +
                                 t->name + " block size " + std::to_string(t->qk));
      return nullptr;
    }
    if (n == 0) {
      auto a = mx::zeros(sh, dt);
      mx::eval(a);
      return new pt_array_s{std::move(a)};
    }
    if (data == nullptr) {
      fail(PT_GGML_BAD_ARGUMENT, "null data pointer");
      return nullptr;
    }
    // Dequantize straight into an MLX-owned buffer: no intermediate copy of the float tensor.
    // The array owns the buffer from the start, so nothing leaks if filling it fails. For big
    // tensors first-touch page faults on this fresh buffer cost more than the dequantization
    // itself (the threads fault their own ranges in parallel); madvise(MADV_HUGEPAGE) removes
    // them when huge pages are free but stalls for seconds on memory compaction when they are not.
    mx::array a(mx::allocator::malloc(n * dt.size()), std::move(sh), dt);
    t->run(static_cast<const uint8_t *>(data), a.data<uint8_t>(), n / t->qk, out);
    return new pt_array_s{std::move(a)};
  } catch (const std::exception &e) {
    fail(PT_GGML_INTERNAL, e.what());
  } catch (...) {
    fail(PT_GGML_INTERNAL, "unknown error while dequantizing");
  }
  return nullptr;
}

}  // extern "C"
