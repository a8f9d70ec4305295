// Fused scaled-dot-product attention for the CPU (declared in cmlx_kernels.h).
//
// MLX's CPU backend has no fused attention: fast::scaled_dot_product_attention falls back to
// matmul + softmax + matmul, runs exp as a scalar loop, and keeps the [B, H, L, S] probabilities
// for the backward pass (tens of MB per layer). This kernel follows FlashAttention-2 instead:
// - forward: per block of query rows, key tiles with an online softmax (running max and sum);
//   only the output and the per-row logsumexp are kept;
// - backward: probabilities are recomputed tile by tile from Q, K and the logsumexp, and dQ, dK,
//   dV come from the standard equations with D = rowsum(dO ∘ O).
// Products run on the register-blocked micro-kernels of kernels_common.h, exp is vectorised, and
// work is spread over threads by (batch, head, query block). Computation is in float32 whatever
// the input dtype.
//
// Rows that may attend to no key (causal with fewer keys than queries, or a mask that is all
// false) produce 0 and no gradient; their stored logsumexp is +inf so that recomputed
// probabilities are exactly 0.

// MLX's CPU command encoder dispatches through std::bind, which libstdc++ marks deprecated in
// C++20; the warning would point into <functional>, so it is silenced before any include.
#pragma clang diagnostic ignored "-Wdeprecated-declarations"

#include "cmlx_kernels.h"

#include <memory>
#include <optional>
#include <stdexcept>

#include "internal.h"
#include "kernels_common.h"
#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"

namespace {

using namespace pt_kernels;

constexpr int kTq = 64;   // query rows per block: one block's tiles stay in L2
constexpr int kTk = 256;  // keys per tile (a multiple of 16)

enum MaskKind { kNoMask = 0, kBoolMask = 1, kAdditiveMask = 2 };

struct Geometry {
  int B, Hq, Hkv, L, S, D;
  float scale;
  bool causal;
  int mask;  // MaskKind

  int G() const { return Hq / Hkv; }
  int Dp() const { return round_up(D, W); }  // feature columns padded for the micro-kernels
  int Sp() const { return round_up(S, W); }  // keys padded to whole 16-key panels
  int query_blocks() const { return (L + kTq - 1) / kTq; }
  // Query row i sees keys j ≤ i + S - L (queries are aligned to the end of the keys).
  int key_limit(int i) const { return causal ? std::min(S, i + S - L + 1) : S; }
};

// 4-D strided view of an input, indexed (b, h, i, j).
struct View4 : View {
  using View::View;
  const char *at(int64_t b, int64_t h, int64_t i) const {
    return base + (b * strides[0] + h * strides[1] + i * strides[2]) * item();
  }
};

// K and V of every (batch, kv head) in the layouts the products want:
//   panels [Sp/16][D][16]: the B operand of X·Kᵀ (16 keys side by side per feature)
//   rows   [S][Dp]:        the B operand of P·V and dS·K (features contiguous, zero padded)
void pack_panels(const View4 &x, int b, int h, const Geometry &g, float *dst, float *tmp) {
  for (int j0 = 0; j0 < g.Sp(); j0 += W) {
    const int n = std::min(W, g.S - j0);
    load_rows(x.at(b, h, j0), x.dtype, x.strides[2], x.strides[3], n, g.D, tmp, g.D);
    float *panel = dst + int64_t(j0) * g.D;
    for (int d = 0; d < g.D; ++d)
      for (int t = 0; t < W; ++t) panel[d * W + t] = t < n ? tmp[t * g.D + d] : 0.0f;
  }
}

void pack_rows(const View4 &x, int b, int h, const Geometry &g, float *dst) {
  load_rows(x.at(b, h, 0), x.dtype, x.strides[2], x.strides[3], g.S, g.D, dst, g.Dp());
}

// Applies the mask to row i of a score tile (keys kt0 .. kt0+n).
void apply_mask(const Geometry &g, const View4 &mask, int b, int h, int i, int kt0, float *s,
                int n) {
  const char *row = mask.at(b, h, i);
  const int64_t sj = mask.strides[3];
  if (g.mask == kBoolMask) {
    const bool *m = reinterpret_cast<const bool *>(row) + int64_t(kt0) * sj;
    for (int j = 0; j < n; ++j)
      if (!m[j * sj]) s[j] = -INFINITY;
  } else if (g.mask == kAdditiveMask) {
    alignas(64) float add[kTk];
    load_rows(row + int64_t(kt0) * sj * mask.item(), mask.dtype, 0, sj, 1, n, add, n);
    for (int j = 0; j < n; ++j) s[j] += add[j];
  }
}

// ---- forward -----------------------------------------------------------------------------------

void attention_forward(const Geometry &g, const View4 &q, const View4 &k, const View4 &v,
                       const View4 &mask, char *out, mx::Dtype out_dtype, float *lse) {
  const int D = g.D, Dp = g.Dp(), Sp = g.Sp();
  const int64_t kv_heads = int64_t(g.B) * g.Hkv;
  // Phase 1: pack K and V once per kv head; the G query heads that share it reuse the packing.
  Scratch kpan(kv_heads * Sp * D), vrow(kv_heads * int64_t(g.S) * Dp);
  {
    const int nw = std::min<int64_t>(worker_count(), kv_heads);
    std::vector<std::vector<float>> tmp(nw, std::vector<float>(size_t(W) * D));
    parallel_for(int(kv_heads), [&](int t, int w) {
      const int b = t / g.Hkv, h = t % g.Hkv;
      pack_panels(k, b, h, g, kpan.get() + t * Sp * D, tmp[w].data());
      pack_rows(v, b, h, g, vrow.get() + t * int64_t(g.S) * Dp);
    });
  }

  // Phase 2: one task per (batch, query head, query block); the last (causal: longest) blocks
  // go first so that the threads finish together.
  const int nqb = g.query_blocks();
  const int tasks = g.B * g.Hq * nqb;
  const int nw = std::max(1, std::min(worker_count(), tasks));
  const int per_worker = kTq * D + kTq * kTk + kTq * Dp + 2 * kTq;
  Scratch work(int64_t(nw) * per_worker);
  const int64_t out_item = out_dtype.size();

  parallel_for(tasks, [&](int t, int w) {
    const int qb = nqb - 1 - t % nqb, bh = t / nqb;
    const int b = bh / g.Hq, h = bh % g.Hq, hk = h / g.G();
    const int i0 = qb * kTq, rows = std::min(kTq, g.L - i0);
    float *qbuf = work.get() + int64_t(w) * per_worker;
    float *st = qbuf + kTq * D;     // scores, then probabilities [rows][kTk]
    float *acc = st + kTq * kTk;    // unnormalised output [rows][Dp]
    float *m = acc + kTq * Dp;      // running max per row
    float *l = m + kTq;             // running sum per row
    const float *kp = kpan.get() + (int64_t(b) * g.Hkv + hk) * Sp * D;
    const float *vr = vrow.get() + (int64_t(b) * g.Hkv + hk) * int64_t(g.S) * Dp;

    load_rows(q.at(b, h, i0), q.dtype, q.strides[2], q.strides[3], rows, D, qbuf, D);
    std::fill(acc, acc + rows * Dp, 0.0f);
    std::fill(m, m + rows, -INFINITY);
    std::fill(l, l + rows, 0.0f);

    const int kend = g.key_limit(i0 + rows - 1);
    for (int kt0 = 0; kt0 < kend; kt0 += kTk) {
      const int cols = std::min(kTk, kend - kt0), colsp = round_up(cols, W);
      gemm_block(rows, colsp, D, qbuf, D, 1, kp + int64_t(kt0) * D, W, int64_t(W) * D, st, kTk,
                 g.scale, false);
      for (int r = 0; r < rows; ++r) {
        float *s = st + r * kTk;
        const int lim = std::clamp(g.key_limit(i0 + r) - kt0, 0, cols);
        if (g.mask != kNoMask) apply_mask(g, mask, b, h, i0 + r, kt0, s, lim);
        const float m_new = std::max(m[r], row_max(s, lim));
        if (m_new == -INFINITY) {  // nothing to attend to yet: this tile adds nothing
          std::fill(s, s + cols, 0.0f);
          continue;
        }
        const float alpha = sexp(m[r] - m_new);  // 0 on the first keys (m = -inf)
        l[r] = l[r] * alpha + exp_shift_sum(s, lim, cols, m_new);
        m[r] = m_new;
        if (alpha != 1.0f) scale_row(acc + r * Dp, Dp, alpha);
      }
      gemm_block(rows, Dp, cols, st, kTk, 1, vr + int64_t(kt0) * Dp, Dp, W, acc, Dp, 1.0f, true);
    }

    float *lse_row = lse + (int64_t(b) * g.Hq + h) * g.L + i0;
    for (int r = 0; r < rows; ++r) {
      if (l[r] > 0.0f) {
        scale_row(acc + r * Dp, D, 1.0f / l[r]);
        lse_row[r] = m[r] + std::log(l[r]);
      } else {
        std::fill(acc + r * Dp, acc + r * Dp + D, 0.0f);
        lse_row[r] = INFINITY;
      }
    }
    char *o = out + ((int64_t(b) * g.Hq + h) * g.L + i0) * D * out_item;
    store_rows(acc, Dp, rows, D, o, out_dtype);
  });
}

// ---- backward ----------------------------------------------------------------------------------

void attention_backward(const Geometry &g, const View4 &q, const View4 &k, const View4 &v,
                        const View4 &o, const float *lse, const View4 &dout, const View4 &mask,
                        char *dq, char *dk, char *dv, mx::Dtype dtype) {
  const int D = g.D, Dp = g.Dp(), Sp = g.Sp(), S = g.S;
  const int64_t kv_heads = int64_t(g.B) * g.Hkv, q_heads = int64_t(g.B) * g.Hq;
  // Phase 1: K as panels (for Q·Kᵀ) and rows (for dS·K), V as panels (for dO·Vᵀ).
  Scratch kpan(kv_heads * Sp * D), krow(kv_heads * int64_t(S) * Dp), vpan(kv_heads * Sp * D);
  {
    const int nw = std::min<int64_t>(worker_count(), kv_heads);
    std::vector<std::vector<float>> tmp(nw, std::vector<float>(size_t(W) * D));
    parallel_for(int(kv_heads), [&](int t, int w) {
      const int b = t / g.Hkv, h = t % g.Hkv;
      pack_panels(k, b, h, g, kpan.get() + t * Sp * D, tmp[w].data());
      pack_panels(v, b, h, g, vpan.get() + t * Sp * D, tmp[w].data());
      pack_rows(k, b, h, g, krow.get() + t * int64_t(S) * Dp);
    });
  }

  // Phase 2: one task per (batch, query head). Each task owns dQ of its head and accumulates its
  // share of dK, dV privately; phase 3 sums the shares of the heads in a group.
  Scratch dkv(q_heads * 2 * int64_t(S) * Dp);
  const int nw = std::max<int>(1, std::min<int64_t>(worker_count(), q_heads));
  const int per_worker = 2 * kTq * kTk + 4 * kTq * Dp + kTq;
  Scratch work(int64_t(nw) * per_worker);
  const int64_t item = dtype.size();

  parallel_for(int(q_heads), [&](int t, int w) {
    const int b = t / g.Hq, h = t % g.Hq, hk = h / g.G();
    float *pt = work.get() + int64_t(w) * per_worker;  // probabilities [kTq][kTk]
    float *ds = pt + kTq * kTk;                        // dP, then dS [kTq][kTk]
    float *qb = ds + kTq * kTk;                        // query block [kTq][Dp]
    float *dob = qb + kTq * Dp;                        // dO block [kTq][Dp]
    float *ob = dob + kTq * Dp;                        // O block [kTq][Dp]
    float *dqb = ob + kTq * Dp;                        // dQ block [kTq][Dp]
    float *drow = dqb + kTq * Dp;                      // D = rowsum(dO ∘ O)
    float *dk_part = dkv.get() + int64_t(t) * 2 * S * Dp;
    float *dv_part = dk_part + int64_t(S) * Dp;
    const int64_t kv = int64_t(b) * g.Hkv + hk;
    const float *kp = kpan.get() + kv * Sp * D;
    const float *vp = vpan.get() + kv * Sp * D;
    const float *kr = krow.get() + kv * int64_t(S) * Dp;
    const float *lse_h = lse + int64_t(t) * g.L;
    std::fill(dk_part, dk_part + 2 * int64_t(S) * Dp, 0.0f);

    for (int i0 = 0; i0 < g.L; i0 += kTq) {
      const int rows = std::min(kTq, g.L - i0);
      load_rows(q.at(b, h, i0), q.dtype, q.strides[2], q.strides[3], rows, D, qb, Dp);
      load_rows(dout.at(b, h, i0), dout.dtype, dout.strides[2], dout.strides[3], rows, D, dob, Dp);
      load_rows(o.at(b, h, i0), o.dtype, o.strides[2], o.strides[3], rows, D, ob, Dp);
      for (int r = 0; r < rows; ++r) drow[r] = dot_row(dob + r * Dp, ob + r * Dp, D);
      std::fill(dqb, dqb + rows * Dp, 0.0f);

      const int kend = g.key_limit(i0 + rows - 1);
      for (int kt0 = 0; kt0 < kend; kt0 += kTk) {
        const int cols = std::min(kTk, kend - kt0), colsp = round_up(cols, W);
        // P = exp(scale·Q·Kᵀ - lse), recomputed.
        gemm_block(rows, colsp, D, qb, Dp, 1, kp + int64_t(kt0) * D, W, int64_t(W) * D, pt, kTk,
                   g.scale, false);
        for (int r = 0; r < rows; ++r) {
          float *p = pt + r * kTk;
          const int lim = std::clamp(g.key_limit(i0 + r) - kt0, 0, cols);
          if (g.mask != kNoMask) apply_mask(g, mask, b, h, i0 + r, kt0, p, lim);
          exp_shift_sum(p, lim, cols, lse_h[i0 + r]);  // lse = +inf (empty row) gives zeros
        }
        // dS = P ∘ (dO·Vᵀ − D)
        gemm_block(rows, colsp, D, dob, Dp, 1, vp + int64_t(kt0) * D, W, int64_t(W) * D, ds, kTk,
                   1.0f, false);
        for (int r = 0; r < rows; ++r) {
          float *d = ds + r * kTk;
          const float *p = pt + r * kTk;
          const vf dr = splat(drow[r]);
          int j = 0;
          for (; j + W <= cols; j += W) store(d + j, load(p + j) * (load(d + j) - dr));
          for (; j < cols; ++j) d[j] = p[j] * (d[j] - drow[r]);
        }
        // dV += Pᵀ·dO, dK += scale·dSᵀ·Q, dQ += scale·dS·K
        gemm_block(cols, Dp, rows, pt, 1, kTk, dob, Dp, W, dv_part + int64_t(kt0) * Dp, Dp, 1.0f,
                   true);
        gemm_block(cols, Dp, rows, ds, 1, kTk, qb, Dp, W, dk_part + int64_t(kt0) * Dp, Dp, g.scale,
                   true);
        gemm_block(rows, Dp, cols, ds, kTk, 1, kr + int64_t(kt0) * Dp, Dp, W, dqb, Dp, g.scale,
                   true);
      }
      store_rows(dqb, Dp, rows, D, dq + ((int64_t(t) * g.L) + i0) * D * item, dtype);
    }
  });

  // Phase 3: dK, dV of a kv head = sum over the query heads of its group.
  parallel_for(int(kv_heads), [&](int t, int) {
    const int b = t / g.Hkv, hk = t % g.Hkv;
    const int64_t n = int64_t(S) * Dp;
    float *first = dkv.get() + (int64_t(b) * g.Hq + int64_t(hk) * g.G()) * 2 * n;
    for (int e = 1; e < g.G(); ++e) {
      const float *other = first + int64_t(e) * 2 * n;
      for (int64_t x = 0; x < 2 * n; ++x) first[x] += other[x];
    }
    store_rows(first, Dp, S, D, dk + int64_t(t) * S * D * item, dtype);
    store_rows(first + n, Dp, S, D, dv + int64_t(t) * S * D * item, dtype);
  });
}

// ---- graph -------------------------------------------------------------------------------------

Geometry geometry(const mx::array &q, const mx::array &k, float scale, bool causal, int mask) {
  return Geometry{q.shape(0), q.shape(1), k.shape(1), q.shape(2), k.shape(2), q.shape(3),
                  scale, causal, mask};
}

// The same function from MLX ops (float32 inside): the fallback for jvp and vmap, and the
// reference the tests compare with. Returns {out, lse} like the primitive.
std::vector<mx::array> attention_reference(const std::vector<mx::array> &in, float scale,
                                           bool causal, int mask_kind) {
  const auto &q = in[0], &k = in[1], &v = in[2];
  const int B = q.shape(0), Hq = q.shape(1), L = q.shape(2), D = q.shape(3);
  const int Hkv = k.shape(1), S = k.shape(2), G = Hq / Hkv;
  auto qg = mx::reshape(mx::astype(q, mx::float32), {B, Hkv, G, L, D});
  auto kg = mx::expand_dims(mx::astype(k, mx::float32), 2);
  auto vg = mx::expand_dims(mx::astype(v, mx::float32), 2);
  auto s = mx::multiply(mx::matmul(qg, mx::swapaxes(kg, -1, -2)), mx::array(scale));
  std::optional<mx::array> allowed;
  if (causal) {
    auto rows = mx::reshape(mx::arange(S - L, S, mx::int32), {L, 1});
    allowed = mx::less_equal(mx::reshape(mx::arange(0, S, mx::int32), {1, S}), rows);
  }
  if (mask_kind != kNoMask) {
    auto m = mx::reshape(mx::broadcast_to(in[3], {B, Hq, L, S}), {B, Hkv, G, L, S});
    if (mask_kind == kBoolMask) allowed = allowed ? mx::logical_and(*allowed, m) : m;
    else s = mx::add(s, mx::astype(m, mx::float32));
  }
  std::optional<mx::array> seen;  // rows that attend to at least one key
  if (allowed) {
    // Rows that see no key get an unmasked softmax whose result is then multiplied by 0: the
    // output and every derivative through it are 0 rather than NaN.
    seen = mx::any(*allowed, -1, true);
    s = mx::where(mx::logical_or(*allowed, mx::logical_not(*seen)), s, mx::array(-INFINITY));
  }
  auto lse = mx::logsumexp(s, -1, true);
  auto out = mx::matmul(mx::exp(mx::subtract(s, lse)), vg);
  if (seen) {
    out = mx::multiply(out, mx::astype(*seen, mx::float32));
    lse = mx::where(*seen, lse, mx::array(INFINITY));
  }
  return {mx::astype(mx::reshape(out, {B, Hq, L, D}), q.dtype()), mx::reshape(lse, {B, Hq, L})};
}

class FusedAttentionVJP;

class FusedAttention : public mx::Primitive {
 public:
  FusedAttention(mx::Stream s, float scale, bool causal, int mask)
      : mx::Primitive(s), scale_(scale), causal_(causal), mask_(mask) {}

  void eval_cpu(const std::vector<mx::array> &in, std::vector<mx::array> &out) override {
    auto &o = out[0], &lse = out[1];
    o.set_data(mx::allocator::malloc(o.nbytes()));
    lse.set_data(mx::allocator::malloc(lse.nbytes()));
    auto &enc = mx::cpu::get_command_encoder(stream());
    for (auto &a : in) enc.set_input_array(a);
    enc.set_output_array(o);
    enc.set_output_array(lse);
    const Geometry g = geometry(in[0], in[1], scale_, causal_, mask_);
    enc.dispatch([g, q = mx::array::unsafe_weak_copy(in[0]),
                  k = mx::array::unsafe_weak_copy(in[1]), v = mx::array::unsafe_weak_copy(in[2]),
                  m = mask_ ? mx::array::unsafe_weak_copy(in[3]) : mx::array(false),
                  o = mx::array::unsafe_weak_copy(o),
                  lse = mx::array::unsafe_weak_copy(lse)]() mutable {
      if (o.size() == 0) return;
      attention_forward(g, View4(q), View4(k), View4(v), g.mask ? View4(m) : View4(),
                        o.data<char>(), o.dtype(), lse.data<float>());
    });
  }

  void eval_gpu(const std::vector<mx::array> &, std::vector<mx::array> &) override {
    throw std::runtime_error(
        "PTFusedAttention has no GPU kernel: pt_fused_attention uses MLX's attention off the CPU");
  }

  std::vector<mx::array> vjp(const std::vector<mx::array> &primals,
                             const std::vector<mx::array> &cotangents,
                             const std::vector<int> &argnums,
                             const std::vector<mx::array> &outputs) override;

  std::vector<mx::array> jvp(const std::vector<mx::array> &primals,
                             const std::vector<mx::array> &tangents,
                             const std::vector<int> &argnums) override {
    return jvp_by_fallback(fallback(), primals, tangents, argnums);
  }

  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array> &in,
                                                           const std::vector<int> &axes) override {
    return vmap_by_fallback(fallback(), in, axes);
  }

  const char *name() const override { return "PTFusedAttention"; }

  bool is_equivalent(const mx::Primitive &other) const override {
    auto *o = dynamic_cast<const FusedAttention *>(&other);
    return o && o->scale_ == scale_ && o->causal_ == causal_ && o->mask_ == mask_;
  }

  std::vector<mx::Shape> output_shapes(const std::vector<mx::array> &in) override {
    return {in[0].shape(), {in[0].shape(0), in[0].shape(1), in[0].shape(2)}};
  }

 private:
  std::function<std::vector<mx::array>(const std::vector<mx::array> &)> fallback() const {
    return [scale = scale_, causal = causal_, mask = mask_](const std::vector<mx::array> &in) {
      return attention_reference(in, scale, causal, mask);
    };
  }

  float scale_;
  bool causal_;
  int mask_;
};

// Inputs: q, k, v, out, lse, d_out [, mask]; outputs: dq, dk, dv.
class FusedAttentionVJP : public mx::Primitive {
 public:
  FusedAttentionVJP(mx::Stream s, float scale, bool causal, int mask)
      : mx::Primitive(s), scale_(scale), causal_(causal), mask_(mask) {}

  void eval_cpu(const std::vector<mx::array> &in, std::vector<mx::array> &out) override {
    for (auto &x : out) x.set_data(mx::allocator::malloc(x.nbytes()));
    auto &enc = mx::cpu::get_command_encoder(stream());
    for (auto &a : in) enc.set_input_array(a);
    for (auto &x : out) enc.set_output_array(x);
    const Geometry g = geometry(in[0], in[1], scale_, causal_, mask_);
    auto weak = [&](int i) { return mx::array::unsafe_weak_copy(in[i]); };
    enc.dispatch([g, q = weak(0), k = weak(1), v = weak(2), o = weak(3), lse = weak(4),
                  d = weak(5), m = mask_ ? weak(6) : mx::array(false),
                  dq = mx::array::unsafe_weak_copy(out[0]),
                  dk = mx::array::unsafe_weak_copy(out[1]),
                  dv = mx::array::unsafe_weak_copy(out[2])]() mutable {
      if (dq.size() == 0 || dk.size() == 0) {  // no queries or no keys: all gradients are 0
        for (auto *x : {&dq, &dk, &dv}) std::memset(x->data<char>(), 0, x->nbytes());
        return;
      }
      // The saved logsumexp is our own row-contiguous float32 output.
      attention_backward(g, View4(q), View4(k), View4(v), View4(o), lse.data<float>(), View4(d),
                         g.mask ? View4(m) : View4(), dq.data<char>(), dk.data<char>(),
                         dv.data<char>(), dq.dtype());
    });
  }

  void eval_gpu(const std::vector<mx::array> &, std::vector<mx::array> &) override {
    throw std::runtime_error("PTFusedAttentionVJP has no GPU kernel");
  }

  const char *name() const override { return "PTFusedAttentionVJP"; }

  bool is_equivalent(const mx::Primitive &other) const override {
    auto *o = dynamic_cast<const FusedAttentionVJP *>(&other);
    return o && o->scale_ == scale_ && o->causal_ == causal_ && o->mask_ == mask_;
  }

  std::vector<mx::Shape> output_shapes(const std::vector<mx::array> &in) override {
    return {in[0].shape(), in[1].shape(), in[2].shape()};
  }

 private:
  float scale_;
  bool causal_;
  int mask_;
};

std::vector<mx::array> FusedAttention::vjp(const std::vector<mx::array> &primals,
                                           const std::vector<mx::array> &cotangents,
                                           const std::vector<int> &argnums,
                                           const std::vector<mx::array> &outputs) {
  // The logsumexp output is internal (pt_fused_attention returns only the attention), so its
  // cotangent is always zero and only d_out enters.
  std::vector<mx::array> in = {primals[0], primals[1], primals[2], outputs[0], outputs[1],
                               mx::astype(cotangents[0], primals[0].dtype(), stream())};
  if (mask_) in.push_back(primals[3]);
  auto grads = mx::array::make_arrays(
      {primals[0].shape(), primals[1].shape(), primals[2].shape()},
      {primals[0].dtype(), primals[1].dtype(), primals[2].dtype()},
      std::make_shared<FusedAttentionVJP>(stream(), scale_, causal_, mask_), in);
  std::vector<mx::array> result;
  for (int a : argnums) result.push_back(a < 3 ? grads[a] : mx::zeros_like(primals[a], stream()));
  return result;
}

mx::array fused_attention(const mx::array &q, const mx::array &k, const mx::array &v, float scale,
                          bool causal, const std::optional<mx::array> &mask) {
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4)
    throw std::invalid_argument("fused attention: queries, keys and values must be [B, H, L, D]");
  if (k.shape() != v.shape())
    throw std::invalid_argument("fused attention: keys and values must have the same shape");
  if (q.shape(0) != k.shape(0) || q.shape(3) != k.shape(3))
    throw std::invalid_argument("fused attention: queries and keys differ in batch or head size");
  if (k.shape(1) == 0 || q.shape(1) % k.shape(1) != 0)
    throw std::invalid_argument(
        "fused attention: query heads must be a multiple of the key/value heads");
  if (!is_float_type(q.dtype()) || k.dtype() != q.dtype() || v.dtype() != q.dtype())
    throw std::invalid_argument(
        "fused attention: queries, keys and values must share one of float32, float16, bfloat16");
  const int B = q.shape(0), Hq = q.shape(1), L = q.shape(2), S = k.shape(2);
  int kind = kNoMask;
  std::optional<mx::array> m;
  if (mask) {
    m = *mask;
    if (m->dtype() == mx::bool_) kind = kBoolMask;
    else if (mx::issubdtype(m->dtype(), mx::floating)) kind = kAdditiveMask;
    else throw std::invalid_argument("fused attention: the mask must be boolean or floating point");
    if (kind == kAdditiveMask && !is_float_type(m->dtype())) m = mx::astype(*m, mx::float32);
    // A broadcast view: no copy, the kernel reads it through strides.
    m = mx::broadcast_to(*m, {B, Hq, L, S});
  }

  const auto device = mx::default_device();
  if (device != mx::Device::cpu) {
    // Off the CPU: MLX's own attention with causal and mask combined into one boolean/additive
    // mask, and rows that see no key set to 0 as the CPU kernel does.
    std::optional<mx::array> all = m;
    if (causal) {
      auto rows = mx::reshape(mx::arange(S - L, S, mx::int32), {L, 1});
      auto c = mx::less_equal(mx::reshape(mx::arange(0, S, mx::int32), {1, S}), rows);
      if (!all) all = c;
      else if (kind == kBoolMask) all = mx::logical_and(*all, c);
      else all = mx::where(c, *all, mx::array(-INFINITY, all->dtype()));
    }
    if (!all) return mx::fast::scaled_dot_product_attention(q, k, v, scale, "", std::nullopt);
    auto out = mx::fast::scaled_dot_product_attention(q, k, v, scale, "", all);
    if (kind == kAdditiveMask) return out;
    auto any = mx::any(mx::broadcast_to(*all, {B, Hq, L, S}), -1, true);
    return mx::where(any, out, mx::zeros_like(out));
  }

  const auto stream = mx::default_stream(device);
  std::vector<mx::array> inputs = {q, k, v};
  if (m) inputs.push_back(*m);
  auto outs = mx::array::make_arrays({q.shape(), {B, Hq, L}}, {q.dtype(), mx::float32},
                                     std::make_shared<FusedAttention>(stream, scale, causal, kind),
                                     inputs);
  return outs[0];
}

}  // namespace

extern "C" {

const char *pt_kernels_last_error(void) { return pt_kernels::last_error.c_str(); }

pt_array pt_fused_attention(pt_array q, pt_array k, pt_array v, float scale, bool causal,
                            pt_array mask_or_null) {
  try {
    if (!q || !k || !v) throw std::invalid_argument("fused attention: null input");
    std::optional<mx::array> m;
    if (mask_or_null) m = mask_or_null->a;
    return new pt_array_s{fused_attention(q->a, k->a, v->a, scale, causal, m)};
  } catch (const std::exception &e) {
    pt_kernels::last_error = e.what();
  } catch (...) {
    pt_kernels::last_error = "fused attention: unknown error";
  }
  return nullptr;
}

}  // extern "C"
