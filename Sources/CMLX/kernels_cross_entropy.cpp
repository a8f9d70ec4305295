// Fused linear cross-entropy for the CPU (declared in cmlx_kernels.h).
//
// loss[n] = logsumexp_v(H[n]·W[v]) − H[n]·W[target[n]], without the [N, V] logits: the
// vocabulary is processed in chunks (sgemm for H·W_cᵀ, then a vectorised online logsumexp), so
// memory holds one [rows × chunk] block instead of N×V floats (390 MB per copy for 2048 tokens
// of a 49k vocabulary), and the exp runs vectorised instead of as MLX's scalar CPU loop.
//
// Gradients: with p = softmax(H·Wᵀ) and cotangent g,
//   dH[n] = g[n]·(Σ_v p[n,v]·W[v] − W[target[n]]),   dW = (g·(p − onehot))ᵀ·H.
// When the forward pass runs under a gradient transform (hidden is a tracer), it also
// accumulates E[n] = Σ_v p[n,v]·W[v] chunk by chunk, rescaled like an online softmax: the
// backward pass then needs no second pass over the vocabulary for dH (the LoRA case, where W is
// frozen). dW, or dH without E, recompute the chunk logits from H and the saved logsumexp.
// MLX also marks arrays as tracers while `compile` traces a function, so a compiled evaluation
// pass computes E it does not need: one extra product, still without the [N, V] logits.
//
// Targets outside [0, V) (for example -100) are ignored: their loss and gradients are 0.

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

constexpr int kBlockFloats = 8 << 20;  // one logits block: 32 MB
constexpr int kRowsPerTask = 16;       // rows per thread task in the softmax passes

// ---- matrix products -------------------------------------------------------------------------

// C[M×N] = alpha·op(A)·op(B) + beta·C, row-major, through the process's BLAS when it has one.
// Without one (a build that links no BLAS), the micro-kernels of kernels_common.h run on packed
// copies of op(B), with the columns spread over threads.
void sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc) {
  if (M == 0 || N == 0) return;
  if (auto f = blas_sgemm()) {
    f(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, M, N, K, alpha, A, lda, B, ldb,
      beta, C, ldc);
    return;
  }
  const int panels = (N + W - 1) / W;
  Scratch bp(int64_t(panels) * K * W);  // op(B) as [panel][k][16], zero padded
  const ptrdiff_t ars = ta ? 1 : lda, aks = ta ? lda : 1;
  constexpr int kPanelsPerTask = 4;
  parallel_for((panels + kPanelsPerTask - 1) / kPanelsPerTask, [&](int t, int) {
    const int p0 = t * kPanelsPerTask, p1 = std::min(panels, p0 + kPanelsPerTask);
    float *dst = bp.get() + int64_t(p0) * K * W;
    for (int p = p0; p < p1; ++p)
      for (int k = 0; k < K; ++k)
        for (int c = 0; c < W; ++c) {
          const int n = p * W + c;
          dst[(int64_t(p - p0) * K + k) * W + c] =
              n < N ? (tb ? B[int64_t(n) * ldb + k] : B[int64_t(k) * ldb + n]) : 0.0f;
        }
    // Rows in strips so that each product's result block stays in cache.
    alignas(64) float tile[64 * kPanelsPerTask * W];
    const int cols = (p1 - p0) * W, real = std::min(N, p1 * W) - p0 * W;
    for (int m0 = 0; m0 < M; m0 += 64) {
      const int rows = std::min(64, M - m0);
      gemm_block(rows, cols, K, A + int64_t(m0) * ars, ars, aks, dst, W, int64_t(K) * W, tile,
                 cols, alpha, false);
      for (int r = 0; r < rows; ++r) {
        float *c = C + int64_t(m0 + r) * ldc + p0 * W;
        const float *s = tile + r * cols;
        if (beta == 0.0f)
          for (int j = 0; j < real; ++j) c[j] = s[j];
        else
          for (int j = 0; j < real; ++j) c[j] = beta * c[j] + s[j];
      }
    }
  });
}

// ---- inputs ----------------------------------------------------------------------------------

// A [rows, cols] array as row-major float32: the array's own memory when it already is that,
// otherwise a converted copy.
struct Matrix {
  const float *data = nullptr;
  std::unique_ptr<Scratch> copy;

  explicit Matrix(const mx::array &a) {
    const int rows = a.shape(0), cols = a.shape(1);
    const bool dense = a.strides()[1] == 1 && (rows <= 1 || a.strides()[0] == cols);
    if (a.dtype() == mx::float32 && dense) {
      data = a.data<float>();
      return;
    }
    copy = std::make_unique<Scratch>(int64_t(rows) * cols);
    const View v(a);
    // Rows in parallel: a bf16 embedding matrix is tens of millions of elements.
    constexpr int kRows = 256;
    parallel_for((rows + kRows - 1) / kRows, [&](int t, int) {
      const int r0 = t * kRows, n = std::min(kRows, rows - r0);
      load_rows(v.base + r0 * v.strides[0] * v.item(), v.dtype, v.strides[0], v.strides[1], n,
                cols, copy->get() + int64_t(r0) * cols, cols);
    });
    data = copy->get();
  }
};

std::vector<int> read_targets(const mx::array &t) {  // int32 [N] (made so by the graph)
  std::vector<int> out(t.size());
  const int32_t *p = t.data<int32_t>();
  const int64_t s = t.strides()[0];
  for (size_t i = 0; i < out.size(); ++i) out[i] = p[int64_t(i) * s];
  return out;
}

// Vocabulary chunk and row block for the logits buffer.
struct Blocking {
  int rows, chunk;
  Blocking(int N, int V) {
    chunk = std::min(V, 4096);
    rows = std::max(1, std::min(N, kBlockFloats / std::max(chunk, 1)));
  }
};

// Sum of exp(x[j] - shift) for j < n, without storing.
float exp_sum(const float *x, int n, float shift) {
  const vf s = splat(shift);
  vf acc = splat(0.0f);
  int j = 0;
  for (; j + W <= n; j += W) acc += vexp(load(x + j) - s);
  float sum = hsum(acc);
  if (j < n) {
    alignas(64) float tmp[W];
    for (int t = 0; t < W; ++t) tmp[t] = j + t < n ? x[j + t] : -INFINITY;
    sum += hsum(vexp(load(tmp) - s));
  }
  return sum;
}

// ---- forward ---------------------------------------------------------------------------------

// loss, lse: [N]; expect (nullable): [N, D], E[n] = Σ_v softmax[n, v]·W[v].
void ce_forward(const mx::array &hidden, const mx::array &weight, const mx::array &targets,
                float *loss, float *lse, float *expect) {
  const int N = hidden.shape(0), D = hidden.shape(1), V = weight.shape(0);
  const Matrix H(hidden), Wt(weight);
  const std::vector<int> tgt = read_targets(targets);
  const Blocking blk(N, V);
  Scratch buf(int64_t(blk.rows) * blk.chunk);
  std::vector<float> m(N, -INFINITY), l(N, 0.0f), tl(N, 0.0f);
  if (expect) std::fill(expect, expect + int64_t(N) * D, 0.0f);

  for (int n0 = 0; n0 < N; n0 += blk.rows) {
    const int nb = std::min(blk.rows, N - n0);
    for (int v0 = 0; v0 < V; v0 += blk.chunk) {
      const int vc = std::min(blk.chunk, V - v0);
      float *x = buf.get();
      sgemm(false, true, nb, vc, D, 1.0f, H.data + int64_t(n0) * D, D,
            Wt.data + int64_t(v0) * D, D, 0.0f, x, blk.chunk);
      parallel_for((nb + kRowsPerTask - 1) / kRowsPerTask, [&](int task, int) {
        const int r1 = std::min(nb, (task + 1) * kRowsPerTask);
        for (int r = task * kRowsPerTask; r < r1; ++r) {
          const int n = n0 + r;
          float *row = x + int64_t(r) * blk.chunk;
          const int t = tgt[n] - v0;
          if (t >= 0 && t < vc) tl[n] = row[t];
          const float m_new = std::max(m[n], row_max(row, vc));
          // Logits are finite, so m_new is too and alpha = 0 on the first chunk.
          const float alpha = sexp(m[n] - m_new);
          const float sum = expect ? exp_shift_sum(row, vc, vc, m_new) : exp_sum(row, vc, m_new);
          l[n] = l[n] * alpha + sum;
          m[n] = m_new;
          if (expect && alpha != 1.0f) scale_row(expect + int64_t(n) * D, D, alpha);
        }
      });
      // E += exp(x − m)·W_c; rows were rescaled to the new running max above.
      if (expect)
        sgemm(false, false, nb, D, vc, 1.0f, x, blk.chunk, Wt.data + int64_t(v0) * D, D, 1.0f,
              expect + int64_t(n0) * D, D);
    }
  }
  for (int n = 0; n < N; ++n) {
    lse[n] = m[n] + std::log(l[n]);
    loss[n] = tgt[n] >= 0 && tgt[n] < V ? lse[n] - tl[n] : 0.0f;
    if (expect) scale_row(expect + int64_t(n) * D, D, 1.0f / l[n]);
  }
}

// ---- backward --------------------------------------------------------------------------------

// dH (nullable), dW (nullable) as float32 row-major; expect (nullable) is E from the forward.
void ce_backward(const mx::array &hidden, const mx::array &weight, const mx::array &targets,
                 const float *lse, const mx::array &cot, const float *expect, float *dh,
                 float *dw) {
  const int N = hidden.shape(0), D = hidden.shape(1), V = weight.shape(0);
  const Matrix H(hidden), Wt(weight);
  const std::vector<int> tgt = read_targets(targets);
  // The cotangent of the loss, per row; 0 for ignored targets.
  std::vector<float> g(N);
  {
    const View c(cot);
    std::vector<float> tmp(N);
    load_rows(c.base, c.dtype, 0, c.strides[0], 1, N, tmp.data(), N);
    for (int n = 0; n < N; ++n) g[n] = tgt[n] >= 0 && tgt[n] < V ? tmp[n] : 0.0f;
  }

  if (dh && expect) {  // dH = g·(E − W[target]): no pass over the vocabulary
    for (int n = 0; n < N; ++n) {
      float *d = dh + int64_t(n) * D;
      const float *e = expect + int64_t(n) * D;
      if (g[n] == 0.0f) {
        std::fill(d, d + D, 0.0f);
        continue;
      }
      const float *w = Wt.data + int64_t(tgt[n]) * D;
      for (int j = 0; j < D; ++j) d[j] = g[n] * (e[j] - w[j]);
    }
    dh = nullptr;
  }
  if (!dh && !dw) return;

  const Blocking blk(N, V);
  Scratch buf(int64_t(blk.rows) * blk.chunk);
  for (int n0 = 0; n0 < N; n0 += blk.rows) {
    const int nb = std::min(blk.rows, N - n0);
    for (int v0 = 0; v0 < V; v0 += blk.chunk) {
      const int vc = std::min(blk.chunk, V - v0);
      float *x = buf.get();
      sgemm(false, true, nb, vc, D, 1.0f, H.data + int64_t(n0) * D, D,
            Wt.data + int64_t(v0) * D, D, 0.0f, x, blk.chunk);
      // x ← g·(softmax − onehot) for this chunk.
      parallel_for((nb + kRowsPerTask - 1) / kRowsPerTask, [&](int task, int) {
        const int r1 = std::min(nb, (task + 1) * kRowsPerTask);
        for (int r = task * kRowsPerTask; r < r1; ++r) {
          const int n = n0 + r;
          float *row = x + int64_t(r) * blk.chunk;
          if (g[n] == 0.0f) {
            std::fill(row, row + vc, 0.0f);
            continue;
          }
          exp_shift_sum(row, vc, vc, lse[n]);
          scale_row(row, vc, g[n]);
          const int t = tgt[n] - v0;
          if (t >= 0 && t < vc) row[t] -= g[n];
        }
      });
      if (dh)
        sgemm(false, false, nb, D, vc, 1.0f, x, blk.chunk, Wt.data + int64_t(v0) * D, D,
              v0 == 0 ? 0.0f : 1.0f, dh + int64_t(n0) * D, D);
      if (dw)
        sgemm(true, false, vc, D, nb, 1.0f, x, blk.chunk, H.data + int64_t(n0) * D, D,
              n0 == 0 ? 0.0f : 1.0f, dw + int64_t(v0) * D, D);
    }
  }
}

// ---- graph -------------------------------------------------------------------------------------

// The same function from MLX ops: the fallback for jvp and vmap, and the computation off the
// CPU. Returns {loss, lse} plus E when `expect` is set, like the primitive.
std::vector<mx::array> ce_reference(const std::vector<mx::array> &in, bool expect) {
  const auto &h = in[0], &w = in[1], &t = in[2];
  const int V = w.shape(0);
  auto logits = mx::matmul(mx::astype(h, mx::float32), mx::transpose(mx::astype(w, mx::float32)));
  auto lse = mx::logsumexp(logits, -1, false);
  auto valid = mx::logical_and(mx::greater_equal(t, mx::array(0)), mx::less(t, mx::array(V)));
  auto safe = mx::where(valid, t, mx::array(0));
  auto picked = mx::squeeze(mx::take_along_axis(logits, mx::expand_dims(safe, -1), -1), -1);
  auto loss = mx::where(valid, mx::subtract(lse, picked), mx::array(0.0f));
  std::vector<mx::array> out = {loss, lse};
  if (expect)
    out.push_back(mx::matmul(mx::exp(mx::subtract(logits, mx::expand_dims(lse, -1))),
                             mx::astype(w, mx::float32)));
  return out;
}

// Inputs: hidden [N, D], weight [V, D], targets int32 [N]. Outputs: loss [N], lse [N] (float32),
// and E [N, D] (float32) when `expect_`.
class FusedLinearCrossEntropy : public mx::Primitive {
 public:
  FusedLinearCrossEntropy(mx::Stream s, bool expect) : mx::Primitive(s), expect_(expect) {}

  void eval_cpu(const std::vector<mx::array> &in, std::vector<mx::array> &out) override {
    for (auto &x : out) x.set_data(mx::allocator::malloc(x.nbytes()));
    auto &enc = mx::cpu::get_command_encoder(stream());
    for (auto &a : in) enc.set_input_array(a);
    for (auto &x : out) enc.set_output_array(x);
    enc.dispatch([h = mx::array::unsafe_weak_copy(in[0]), w = mx::array::unsafe_weak_copy(in[1]),
                  t = mx::array::unsafe_weak_copy(in[2]),
                  loss = mx::array::unsafe_weak_copy(out[0]),
                  lse = mx::array::unsafe_weak_copy(out[1]),
                  e = expect_ ? mx::array::unsafe_weak_copy(out[2]) : mx::array(0.0f),
                  expect = expect_]() mutable {
      if (loss.size() == 0) return;
      ce_forward(h, w, t, loss.data<float>(), lse.data<float>(),
                 expect ? e.data<float>() : nullptr);
    });
  }

  void eval_gpu(const std::vector<mx::array> &, std::vector<mx::array> &) override {
    throw std::runtime_error(
        "PTFusedLinearCrossEntropy has no GPU kernel: pt_fused_linear_cross_entropy uses MLX ops "
        "off the CPU");
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

  const char *name() const override { return "PTFusedLinearCrossEntropy"; }

  bool is_equivalent(const mx::Primitive &other) const override {
    auto *o = dynamic_cast<const FusedLinearCrossEntropy *>(&other);
    return o && o->expect_ == expect_;
  }

  std::vector<mx::Shape> output_shapes(const std::vector<mx::array> &in) override {
    const int N = in[0].shape(0);
    std::vector<mx::Shape> s = {{N}, {N}};
    if (expect_) s.push_back(in[0].shape());
    return s;
  }

 private:
  std::function<std::vector<mx::array>(const std::vector<mx::array> &)> fallback() const {
    return [expect = expect_](const std::vector<mx::array> &in) { return ce_reference(in, expect); };
  }

  bool expect_;
};

// Inputs: hidden, weight, targets, lse, cotangent [, E]. Outputs: dH and/or dW, in that order.
class FusedLinearCrossEntropyVJP : public mx::Primitive {
 public:
  FusedLinearCrossEntropyVJP(mx::Stream s, bool want_dh, bool want_dw)
      : mx::Primitive(s), want_dh_(want_dh), want_dw_(want_dw) {}

  void eval_cpu(const std::vector<mx::array> &in, std::vector<mx::array> &out) override {
    for (auto &x : out) x.set_data(mx::allocator::malloc(x.nbytes()));
    auto &enc = mx::cpu::get_command_encoder(stream());
    for (auto &a : in) enc.set_input_array(a);
    for (auto &x : out) enc.set_output_array(x);
    std::vector<mx::array> ins, outs;
    for (auto &a : in) ins.push_back(mx::array::unsafe_weak_copy(a));
    for (auto &x : out) outs.push_back(mx::array::unsafe_weak_copy(x));
    enc.dispatch([ins = std::move(ins), outs = std::move(outs), want_dh = want_dh_,
                  want_dw = want_dw_]() mutable {
      const mx::array &h = ins[0], &w = ins[1];
      mx::array *dh = want_dh ? &outs[0] : nullptr;
      mx::array *dw = want_dw ? &outs[want_dh ? 1 : 0] : nullptr;
      // Gradients in float32, converted at the end when the parameters are 16-bit.
      std::unique_ptr<Scratch> dh32, dw32;
      float *dhp = nullptr, *dwp = nullptr;
      if (dh && dh->size()) {
        if (dh->dtype() == mx::float32) dhp = dh->data<float>();
        else dhp = (dh32 = std::make_unique<Scratch>(dh->size()))->get();
      }
      if (dw && dw->size()) {
        if (dw->dtype() == mx::float32) dwp = dw->data<float>();
        else dwp = (dw32 = std::make_unique<Scratch>(dw->size()))->get();
        if (h.shape(0) == 0) std::memset(dwp, 0, dw->size() * 4);
      }
      if (h.shape(0) > 0)
        ce_backward(h, w, ins[2], ins[3].data<float>(), ins[4],
                    ins.size() > 5 ? ins[5].data<float>() : nullptr, dhp, dwp);
      if (dh32) store_rows(dhp, h.shape(1), h.shape(0), h.shape(1), dh->data<char>(), dh->dtype());
      if (dw32) store_rows(dwp, w.shape(1), w.shape(0), w.shape(1), dw->data<char>(), dw->dtype());
    });
  }

  void eval_gpu(const std::vector<mx::array> &, std::vector<mx::array> &) override {
    throw std::runtime_error("PTFusedLinearCrossEntropyVJP has no GPU kernel");
  }

  const char *name() const override { return "PTFusedLinearCrossEntropyVJP"; }

  bool is_equivalent(const mx::Primitive &other) const override {
    auto *o = dynamic_cast<const FusedLinearCrossEntropyVJP *>(&other);
    return o && o->want_dh_ == want_dh_ && o->want_dw_ == want_dw_;
  }

  std::vector<mx::Shape> output_shapes(const std::vector<mx::array> &in) override {
    std::vector<mx::Shape> s;
    if (want_dh_) s.push_back(in[0].shape());
    if (want_dw_) s.push_back(in[1].shape());
    return s;
  }

 private:
  bool want_dh_, want_dw_;
};

std::vector<mx::array> FusedLinearCrossEntropy::vjp(const std::vector<mx::array> &primals,
                                                    const std::vector<mx::array> &cotangents,
                                                    const std::vector<int> &argnums,
                                                    const std::vector<mx::array> &outputs) {
  // Only the loss is returned to callers; the lse and E outputs are internal, so their
  // cotangents are zero.
  bool want_dh = false, want_dw = false;
  for (int a : argnums) {
    want_dh |= a == 0;
    want_dw |= a == 1;
  }
  std::vector<mx::array> grads;
  if (want_dh || want_dw) {
    std::vector<mx::array> in = {primals[0], primals[1], primals[2], outputs[1],
                                 mx::astype(cotangents[0], mx::float32, stream())};
    // With E, dH needs no vocabulary pass; dW still recomputes the logits chunk by chunk.
    if (expect_ && want_dh) in.push_back(outputs[2]);
    std::vector<mx::Shape> shapes;
    std::vector<mx::Dtype> dtypes;
    if (want_dh) shapes.push_back(primals[0].shape()), dtypes.push_back(primals[0].dtype());
    if (want_dw) shapes.push_back(primals[1].shape()), dtypes.push_back(primals[1].dtype());
    grads = mx::array::make_arrays(
        shapes, dtypes, std::make_shared<FusedLinearCrossEntropyVJP>(stream(), want_dh, want_dw),
        in);
  }
  std::vector<mx::array> result;
  for (int a : argnums) {
    if (a == 0) result.push_back(grads[0]);
    else if (a == 1) result.push_back(grads[want_dh ? 1 : 0]);
    else result.push_back(mx::zeros_like(primals[a], stream()));  // targets: not differentiable
  }
  return result;
}

mx::array fused_linear_cross_entropy(const mx::array &hidden, const mx::array &weight,
                                     const mx::array &targets) {
  if (hidden.ndim() < 1 || weight.ndim() != 2)
    throw std::invalid_argument(
        "fused linear cross-entropy: hidden must be [..., D] and weight [V, D]");
  const int D = hidden.shape(-1);
  if (weight.shape(1) != D)
    throw std::invalid_argument("fused linear cross-entropy: hidden has " + std::to_string(D) +
                                " features but weight rows have " +
                                std::to_string(weight.shape(1)));
  mx::Shape lead(hidden.shape().begin(), hidden.shape().end() - 1);
  if (targets.shape() != lead)
    throw std::invalid_argument(
        "fused linear cross-entropy: targets must have the shape of hidden without its last axis");
  if (!is_float_type(hidden.dtype()) || !is_float_type(weight.dtype()))
    throw std::invalid_argument(
        "fused linear cross-entropy: hidden and weight must be float32, float16 or bfloat16");
  if (!mx::issubdtype(targets.dtype(), mx::integer))
    throw std::invalid_argument("fused linear cross-entropy: targets must be integers");
  if (weight.shape(0) == 0)
    throw std::invalid_argument("fused linear cross-entropy: the vocabulary is empty");

  int64_t n = 1;
  for (int s : lead) n *= s;
  if (n > INT32_MAX) throw std::invalid_argument("fused linear cross-entropy: too many rows");
  const int N = int(n);
  auto h = mx::reshape(hidden, {N, D});
  auto t = mx::reshape(mx::astype(targets, mx::int32), {N});

  const auto device = mx::default_device();
  if (device != mx::Device::cpu) return mx::reshape(ce_reference({h, weight, t}, false)[0], lead);

  // Under a gradient transform, also accumulate E for a cheap dH (see the file comment).
  const bool expect = hidden.is_tracer();
  std::vector<mx::Shape> shapes = {{N}, {N}};
  std::vector<mx::Dtype> dtypes = {mx::float32, mx::float32};
  if (expect) shapes.push_back({N, D}), dtypes.push_back(mx::float32);
  auto outs = mx::array::make_arrays(
      shapes, dtypes,
      std::make_shared<FusedLinearCrossEntropy>(mx::default_stream(device), expect),
      {h, weight, t});
  return mx::reshape(outs[0], lead);
}

}  // namespace

extern "C" {

pt_array pt_fused_linear_cross_entropy(pt_array hidden, pt_array weight, pt_array targets) {
  try {
    if (!hidden || !weight || !targets)
      throw std::invalid_argument("fused linear cross-entropy: null input");
    return new pt_array_s{fused_linear_cross_entropy(hidden->a, weight->a, targets->a)};
  } catch (const std::exception &e) {
    pt_kernels::last_error = e.what();
  } catch (...) {
    pt_kernels::last_error = "fused linear cross-entropy: unknown error";
  }
  return nullptr;
}

}  // extern "C"
