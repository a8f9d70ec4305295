// The exception-safe C interface over mlx::core declared in cmlx.h.
#include "cmlx.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mlx/mlx.h"

namespace mx = mlx::core;

#include "internal.h"
struct pt_vec_s { std::vector<mx::array> v; };
struct pt_fn_s { std::function<std::vector<mx::array>(const std::vector<mx::array>&)> f; };

namespace {
thread_local std::string last_error;

// Thrown inside MLX transforms when a Swift callback fails, so MLX unwinds to our boundary.
struct CallbackFailed {};

inline pt_array wrap(mx::array a) { return new pt_array_s{std::move(a)}; }
inline const mx::array &A(pt_array h) { return h->a; }

template <typename F>
pt_array guard(F &&f) {
  try {
    return wrap(f());
  } catch (const std::exception &e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown MLX error";
  }
  return nullptr;
}

template <typename F>
int guard_status(F &&f) {
  try {
    f();
    return 0;
  } catch (const CallbackFailed &) {
    return 1;
  } catch (const std::exception &e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown MLX error";
  }
  return 2;
}

mx::Dtype to_dtype(pt_dtype d) {
  switch (d) {
    case PT_BOOL: return mx::bool_;
    case PT_UINT8: return mx::uint8;
    case PT_UINT16: return mx::uint16;
    case PT_UINT32: return mx::uint32;
    case PT_UINT64: return mx::uint64;
    case PT_INT8: return mx::int8;
    case PT_INT16: return mx::int16;
    case PT_INT32: return mx::int32;
    case PT_INT64: return mx::int64;
    case PT_FLOAT16: return mx::float16;
    case PT_FLOAT32: return mx::float32;
    case PT_FLOAT64: return mx::float64;
    case PT_BFLOAT16: return mx::bfloat16;
    case PT_COMPLEX64: return mx::complex64;
  }
  throw std::invalid_argument("unknown dtype code");
}

pt_dtype from_dtype(mx::Dtype d) {
  switch (d.val()) {
    case mx::Dtype::Val::bool_: return PT_BOOL;
    case mx::Dtype::Val::uint8: return PT_UINT8;
    case mx::Dtype::Val::uint16: return PT_UINT16;
    case mx::Dtype::Val::uint32: return PT_UINT32;
    case mx::Dtype::Val::uint64: return PT_UINT64;
    case mx::Dtype::Val::int8: return PT_INT8;
    case mx::Dtype::Val::int16: return PT_INT16;
    case mx::Dtype::Val::int32: return PT_INT32;
    case mx::Dtype::Val::int64: return PT_INT64;
    case mx::Dtype::Val::float16: return PT_FLOAT16;
    case mx::Dtype::Val::float32: return PT_FLOAT32;
    case mx::Dtype::Val::float64: return PT_FLOAT64;
    case mx::Dtype::Val::bfloat16: return PT_BFLOAT16;
    case mx::Dtype::Val::complex64: return PT_COMPLEX64;
  }
  return PT_FLOAT32;
}

mx::Shape shape_of(const int32_t *s, size_t n) { return mx::Shape(s, s + n); }
std::vector<int> ints(const int32_t *s, size_t n) { return std::vector<int>(s, s + n); }
std::vector<mx::array> arrays(const pt_array *xs, size_t n) {
  std::vector<mx::array> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) v.push_back(A(xs[i]));
  return v;
}

// Adapts a C callback to the std::function that MLX transforms take.
std::function<std::vector<mx::array>(const std::vector<mx::array>&)> adapt(pt_callback fn, void *ctx) {
  return [fn, ctx](const std::vector<mx::array> &inputs) {
    std::vector<pt_array> handles;
    handles.reserve(inputs.size());
    for (auto &x : inputs) handles.push_back(wrap(x));
    pt_vec_s out;
    int rc = fn(ctx, handles.data(), handles.size(), &out);
    for (auto h : handles) delete h;
    if (rc != 0) throw CallbackFailed{};
    return out.v;
  };
}

char **copy_strings(const std::vector<std::string> &s) {
  char **out = static_cast<char **>(std::malloc(sizeof(char *) * (s.size() ? s.size() : 1)));
  for (size_t i = 0; i < s.size(); ++i) out[i] = strdup(s[i].c_str());
  return out;
}
}  // namespace

extern "C" {

const char *pt_last_error(void) { return last_error.c_str(); }
void pt_free(pt_array a) { delete a; }
pt_array pt_retain(pt_array a) { return wrap(A(a)); }

// ---- creation and inspection ----------------------------------------------------------------
pt_array pt_from_data(const void *data, const int32_t *shape, size_t ndim, pt_dtype dtype) {
  return guard([&] {
    auto dt = to_dtype(dtype);
    auto sh = shape_of(shape, ndim);
    size_t count = 1;
    for (auto d : sh) count *= d;
    // Copy into an MLX-owned buffer so the Swift array can go away.
    auto buffer = mx::allocator::malloc(count * dt.size());
    std::memcpy(buffer.buffer().raw_ptr(), data, count * dt.size());
    return mx::array(std::move(buffer), sh, dt);
  });
}
pt_array pt_scalar_f(double v, pt_dtype dtype) {
  return guard([&] { return mx::astype(mx::array(static_cast<float>(v)), to_dtype(dtype)); });
}
pt_array pt_scalar_i(int64_t v, pt_dtype dtype) {
  return guard([&] {
    auto dt = to_dtype(dtype);
    if (dt == mx::int64) return mx::array(v, mx::int64);
    if (dt == mx::uint64) return mx::array(static_cast<uint64_t>(v), mx::uint64);
    return mx::astype(mx::array(static_cast<int32_t>(v), mx::int32), dt);
  });
}
pt_array pt_full(const int32_t *shape, size_t ndim, pt_array value, pt_dtype dtype) {
  return guard([&] { return mx::full(shape_of(shape, ndim), A(value), to_dtype(dtype)); });
}
pt_array pt_arange(double start, double stop, double step, pt_dtype dtype) {
  return guard([&] { return mx::arange(start, stop, step, to_dtype(dtype)); });
}
pt_array pt_eye(int n, pt_dtype dtype) { return guard([&] { return mx::eye(n, n, 0, to_dtype(dtype)); }); }
size_t pt_ndim(pt_array a) { return A(a).ndim(); }
void pt_shape(pt_array a, int32_t *out) {
  auto &s = A(a).shape();
  for (size_t i = 0; i < s.size(); ++i) out[i] = s[i];
}
size_t pt_size(pt_array a) { return A(a).size(); }
size_t pt_nbytes(pt_array a) { return A(a).nbytes(); }
pt_dtype pt_get_dtype(pt_array a) { return from_dtype(A(a).dtype()); }

int pt_read(pt_array h, pt_dtype dtype, void *out) {
  return guard_status([&] {
    auto a = mx::contiguous(mx::astype(A(h), to_dtype(dtype)));
    a.eval();
    if (!a.flags().row_contiguous) throw std::runtime_error("pt_read: array is not row contiguous");
    std::memcpy(out, a.data<char>(), a.nbytes());
  });
}
int pt_eval(const pt_array *xs, size_t n) { return guard_status([&] { mx::eval(arrays(xs, n)); }); }
int pt_async_eval(const pt_array *xs, size_t n) { return guard_status([&] { mx::async_eval(arrays(xs, n)); }); }
const void *pt_data_ptr(pt_array h) {
  auto &a = h->a;
  if (!a.is_available() || !a.flags().row_contiguous) {
    last_error = "pt_data_ptr: array is not evaluated and row contiguous";
    return nullptr;
  }
  return a.data<char>();
}

// ---- elementwise, reductions, shapes ----------------------------------------------------------
pt_array pt_unary(pt_unary_op op, pt_array h) {
  return guard([&]() -> mx::array {
    auto &a = A(h);
    switch (op) {
      case PT_NEG: return mx::negative(a);
      case PT_ABS: return mx::abs(a);
      case PT_EXP: return mx::exp(a);
      case PT_LOG: return mx::log(a);
      case PT_LOG1P: return mx::log1p(a);
      case PT_SQRT: return mx::sqrt(a);
      case PT_RSQRT: return mx::rsqrt(a);
      case PT_SIN: return mx::sin(a);
      case PT_COS: return mx::cos(a);
      case PT_TANH: return mx::tanh(a);
      case PT_SIGMOID: return mx::sigmoid(a);
      case PT_SQUARE: return mx::square(a);
      case PT_FLOOR: return mx::floor(a);
      case PT_CEIL: return mx::ceil(a);
      case PT_ROUND: return mx::round(a);
      case PT_LOGICAL_NOT: return mx::logical_not(a);
      case PT_SIGN: return mx::sign(a);
      case PT_ERF: return mx::erf(a);
      case PT_STOP_GRADIENT: return mx::stop_gradient(a);
      case PT_COPY: return mx::copy(a);
      case PT_RECIPROCAL: return mx::reciprocal(a);
      case PT_EXPM1: return mx::expm1(a);
      case PT_ISNAN: return mx::isnan(a);
      case PT_ISINF: return mx::isinf(a);
      case PT_ERFINV: return mx::erfinv(a);
      case PT_CONTIGUOUS: return mx::contiguous(a);
    }
    throw std::invalid_argument("unknown unary op");
  });
}

pt_array pt_binary(pt_binary_op op, pt_array ha, pt_array hb) {
  return guard([&]() -> mx::array {
    auto &a = A(ha);
    auto &b = A(hb);
    switch (op) {
      case PT_ADD: return mx::add(a, b);
      case PT_SUB: return mx::subtract(a, b);
      case PT_MUL: return mx::multiply(a, b);
      case PT_DIV: return mx::divide(a, b);
      case PT_POW: return mx::power(a, b);
      case PT_MAXIMUM: return mx::maximum(a, b);
      case PT_MINIMUM: return mx::minimum(a, b);
      case PT_EQ: return mx::equal(a, b);
      case PT_NE: return mx::not_equal(a, b);
      case PT_LT: return mx::less(a, b);
      case PT_LE: return mx::less_equal(a, b);
      case PT_GT: return mx::greater(a, b);
      case PT_GE: return mx::greater_equal(a, b);
      case PT_LOGICAL_AND: return mx::logical_and(a, b);
      case PT_LOGICAL_OR: return mx::logical_or(a, b);
      case PT_FLOOR_DIVIDE: return mx::floor_divide(a, b);
      case PT_REMAINDER: return mx::remainder(a, b);
      case PT_LOGADDEXP: return mx::logaddexp(a, b);
      case PT_MATMUL: return mx::matmul(a, b);
      case PT_ARCTAN2: return mx::arctan2(a, b);
    }
    throw std::invalid_argument("unknown binary op");
  });
}

pt_array pt_reduce(pt_reduce_op op, pt_array h, const int32_t *axes_p, size_t naxes, bool keepdims) {
  return guard([&]() -> mx::array {
    auto &a = A(h);
    std::vector<int> axes;
    if (naxes == 0) {
      for (int i = 0; i < static_cast<int>(a.ndim()); ++i) axes.push_back(i);
    } else {
      axes = ints(axes_p, naxes);
    }
    switch (op) {
      case PT_SUM: return mx::sum(a, axes, keepdims);
      case PT_MEAN: return mx::mean(a, axes, keepdims);
      case PT_MAX: return mx::max(a, axes, keepdims);
      case PT_MIN: return mx::min(a, axes, keepdims);
      case PT_PROD: return mx::prod(a, axes, keepdims);
      case PT_LOGSUMEXP: return mx::logsumexp(a, axes, keepdims);
      case PT_ALL: return mx::all(a, axes, keepdims);
      case PT_ANY: return mx::any(a, axes, keepdims);
      case PT_SOFTMAX: return mx::softmax(a, axes, /*precise=*/true);
      case PT_VAR: return mx::var(a, axes, keepdims, 0);
    }
    throw std::invalid_argument("unknown reduction");
  });
}

pt_array pt_argreduce(bool is_max, pt_array h, int axis, bool keepdims) {
  return guard([&] { return is_max ? mx::argmax(A(h), axis, keepdims) : mx::argmin(A(h), axis, keepdims); });
}
pt_array pt_astype(pt_array h, pt_dtype dtype) { return guard([&] { return mx::astype(A(h), to_dtype(dtype)); }); }
pt_array pt_reshape(pt_array h, const int32_t *shape, size_t ndim) {
  return guard([&] { return mx::reshape(A(h), shape_of(shape, ndim)); });
}
pt_array pt_transpose(pt_array h, const int32_t *perm, size_t n) {
  return guard([&] { return mx::transpose(A(h), ints(perm, n)); });
}
pt_array pt_broadcast_to(pt_array h, const int32_t *shape, size_t ndim) {
  return guard([&] { return mx::broadcast_to(A(h), shape_of(shape, ndim)); });
}
pt_array pt_expand_dims(pt_array h, int axis) { return guard([&] { return mx::expand_dims(A(h), axis); }); }
pt_array pt_squeeze(pt_array h, const int32_t *axes, size_t naxes) {
  return guard([&] { return naxes == 0 ? mx::squeeze(A(h)) : mx::squeeze(A(h), ints(axes, naxes)); });
}
pt_array pt_concatenate(const pt_array *xs, size_t n, int axis) {
  return guard([&] { return mx::concatenate(arrays(xs, n), axis); });
}
pt_array pt_stack(const pt_array *xs, size_t n, int axis) { return guard([&] { return mx::stack(arrays(xs, n), axis); }); }

pt_vec pt_split_sections(pt_array h, const int32_t *indices, size_t n, int axis) {
  try {
    return new pt_vec_s{mx::split(A(h), shape_of(indices, n), axis)};
  } catch (const std::exception &e) {
    last_error = e.what();
    return nullptr;
  }
}
pt_vec pt_split_equal(pt_array h, int parts, int axis) {
  try {
    return new pt_vec_s{mx::split(A(h), parts, axis)};
  } catch (const std::exception &e) {
    last_error = e.what();
    return nullptr;
  }
}
pt_array pt_slice(pt_array h, const int32_t *start, const int32_t *stop, const int32_t *strides, size_t ndim) {
  return guard([&] { return mx::slice(A(h), shape_of(start, ndim), shape_of(stop, ndim), shape_of(strides, ndim)); });
}
pt_array pt_slice_update(pt_array src, pt_array update, const int32_t *start, const int32_t *stop,
                         const int32_t *strides, size_t ndim) {
  return guard([&] {
    return mx::slice_update(A(src), A(update), shape_of(start, ndim), shape_of(stop, ndim), shape_of(strides, ndim));
  });
}
pt_array pt_take(pt_array h, pt_array idx, int axis) { return guard([&] { return mx::take(A(h), A(idx), axis); }); }
pt_array pt_take_along_axis(pt_array h, pt_array idx, int axis) {
  return guard([&] { return mx::take_along_axis(A(h), A(idx), axis); });
}
pt_array pt_put_along_axis(pt_array h, pt_array idx, pt_array values, int axis) {
  return guard([&] { return mx::put_along_axis(A(h), A(idx), A(values), axis); });
}
pt_array pt_scatter_add_axis(pt_array h, pt_array idx, pt_array values, int axis) {
  return guard([&] { return mx::scatter_add_axis(A(h), A(idx), A(values), axis); });
}
pt_array pt_where(pt_array c, pt_array x, pt_array y) { return guard([&] { return mx::where(A(c), A(x), A(y)); }); }
pt_array pt_tri(pt_array h, int k, bool upper) {
  return guard([&] { return upper ? mx::triu(A(h), k) : mx::tril(A(h), k); });
}
pt_array pt_cumsum(pt_array h, int axis, bool reverse, bool inclusive) {
  return guard([&] { return mx::cumsum(A(h), axis, reverse, inclusive); });
}
pt_array pt_sort(pt_array h, int axis, bool arg) {
  return guard([&] { return arg ? mx::argsort(A(h), axis) : mx::sort(A(h), axis); });
}
pt_array pt_argpartition(pt_array h, int kth, int axis) { return guard([&] { return mx::argpartition(A(h), kth, axis); }); }
pt_array pt_topk(pt_array h, int k, int axis) { return guard([&] { return mx::topk(A(h), k, axis); }); }
pt_array pt_clip(pt_array h, pt_array lo, pt_array hi) {
  return guard([&] {
    std::optional<mx::array> l, u;
    if (lo) l = A(lo);
    if (hi) u = A(hi);
    return mx::clip(A(h), l, u);
  });
}
pt_array pt_pad(pt_array h, const int32_t *low, const int32_t *high, size_t ndim, pt_array value) {
  return guard([&] {
    std::vector<int> axes(ndim);
    for (size_t i = 0; i < ndim; ++i) axes[i] = static_cast<int>(i);
    return mx::pad(A(h), axes, shape_of(low, ndim), shape_of(high, ndim), A(value));
  });
}
pt_array pt_addmm(pt_array c, pt_array a, pt_array b, float alpha, float beta) {
  return guard([&] { return mx::addmm(A(c), A(a), A(b), alpha, beta); });
}
pt_array pt_repeat(pt_array h, int repeats, int axis) { return guard([&] { return mx::repeat(A(h), repeats, axis); }); }
pt_array pt_flatten(pt_array h, int start_axis, int end_axis) {
  return guard([&] { return mx::flatten(A(h), start_axis, end_axis); });
}
pt_array pt_array_equal(pt_array a, pt_array b) { return guard([&] { return mx::array_equal(A(a), A(b)); }); }
pt_array pt_nan_to_num(pt_array h, float nan, float posinf, float neginf) {
  return guard([&] { return mx::nan_to_num(A(h), nan, posinf, neginf); });
}

// ---- fast kernels and quantization --------------------------------------------------------------
pt_array pt_rms_norm(pt_array x, pt_array w, float eps) {
  return guard([&] {
    std::optional<mx::array> weight;
    if (w) weight = A(w);
    return mx::fast::rms_norm(A(x), weight, eps);
  });
}
pt_array pt_layer_norm(pt_array x, pt_array w, pt_array b, float eps) {
  return guard([&] {
    std::optional<mx::array> weight, bias;
    if (w) weight = A(w);
    if (b) bias = A(b);
    return mx::fast::layer_norm(A(x), weight, bias, eps);
  });
}
pt_array pt_rope(pt_array x, int dims, bool traditional, float base, float scale, int offset,
                 pt_array offset_arr, pt_array freqs) {
  return guard([&] {
    std::optional<float> b;
    std::optional<mx::array> f;
    if (freqs) f = A(freqs); else b = base;
    if (offset_arr) return mx::fast::rope(A(x), dims, traditional, b, scale, A(offset_arr), f);
    return mx::fast::rope(A(x), dims, traditional, b, scale, offset, f);
  });
}
pt_array pt_sdpa(pt_array q, pt_array k, pt_array v, float scale, const char *mask_mode, pt_array mask_arr) {
  return guard([&] {
    std::optional<mx::array> m;
    if (mask_arr) m = A(mask_arr);
    return mx::fast::scaled_dot_product_attention(A(q), A(k), A(v), scale, mask_mode ? mask_mode : "", m);
  });
}
pt_array pt_cross_entropy(pt_array logits, pt_array targets) {
  return guard([&] { return mx::fast::cross_entropy(A(logits), A(targets)); });
}
pt_vec pt_quantize(pt_array w, int group_size, int bits) {
  try {
    return new pt_vec_s{mx::quantize(A(w), group_size, bits)};
  } catch (const std::exception &e) {
    last_error = e.what();
    return nullptr;
  }
}
pt_array pt_dequantize(pt_array w, pt_array scales, pt_array biases, int group_size, int bits, int out_dtype) {
  return guard([&] {
    std::optional<mx::array> b;
    if (biases) b = A(biases);
    std::optional<mx::Dtype> dt;
    if (out_dtype >= 0) dt = to_dtype(static_cast<pt_dtype>(out_dtype));
    return mx::dequantize(A(w), A(scales), b, group_size, bits, "affine", std::nullopt, dt);
  });
}
pt_array pt_quantized_matmul(pt_array x, pt_array w, pt_array scales, pt_array biases, bool transpose,
                             int group_size, int bits) {
  return guard([&] {
    std::optional<mx::array> b;
    if (biases) b = A(biases);
    return mx::quantized_matmul(A(x), A(w), A(scales), b, transpose, group_size, bits);
  });
}

// ---- random ----------------------------------------------------------------------------------
namespace {
std::optional<mx::array> opt_key(pt_array k) {
  if (k) return A(k);
  return std::nullopt;
}
}  // namespace
void pt_random_seed(uint64_t seed) { mx::random::seed(seed); }
pt_array pt_random_key(uint64_t seed) { return guard([&] { return mx::random::key(seed); }); }
pt_array pt_random_split(pt_array key, int num) { return guard([&] { return mx::random::split(A(key), num); }); }
pt_array pt_random_uniform(const int32_t *shape, size_t ndim, pt_dtype dtype, pt_array key) {
  return guard([&] { return mx::random::uniform(shape_of(shape, ndim), to_dtype(dtype), opt_key(key)); });
}
pt_array pt_random_normal(const int32_t *shape, size_t ndim, pt_dtype dtype, pt_array key) {
  return guard([&] {
    return mx::random::normal(shape_of(shape, ndim), to_dtype(dtype), std::nullopt, std::nullopt, opt_key(key));
  });
}
pt_array pt_random_bernoulli(pt_array p, const int32_t *shape, size_t ndim, pt_array key) {
  return guard([&] { return mx::random::bernoulli(A(p), shape_of(shape, ndim), opt_key(key)); });
}
pt_array pt_random_categorical(pt_array logits, int axis, pt_array key) {
  return guard([&] { return mx::random::categorical(A(logits), axis, opt_key(key)); });
}
pt_array pt_random_randint(int low, int high, const int32_t *shape, size_t ndim, pt_array key) {
  return guard([&] {
    return mx::random::randint(mx::array(low), mx::array(high), shape_of(shape, ndim), mx::int32, opt_key(key));
  });
}
pt_array pt_random_gumbel(const int32_t *shape, size_t ndim, pt_dtype dtype, pt_array key) {
  return guard([&] { return mx::random::gumbel(shape_of(shape, ndim), to_dtype(dtype), opt_key(key)); });
}

// ---- vectors ----------------------------------------------------------------------------------
pt_vec pt_vec_new(void) { return new pt_vec_s{}; }
void pt_vec_free(pt_vec v) { delete v; }
size_t pt_vec_size(pt_vec v) { return v->v.size(); }
pt_array pt_vec_get(pt_vec v, size_t i) { return wrap(v->v.at(i)); }
void pt_vec_push(pt_vec v, pt_array a) { v->v.push_back(A(a)); }

// ---- transforms -------------------------------------------------------------------------------
int pt_value_and_grad(pt_callback fn, void *ctx, const pt_array *inputs, size_t n, const int32_t *argnums,
                      size_t nargnums, pt_vec *values, pt_vec *grads) {
  return guard_status([&] {
    auto vg = mx::value_and_grad(adapt(fn, ctx), ints(argnums, nargnums));
    auto [vals, gs] = vg(arrays(inputs, n));
    *values = new pt_vec_s{std::move(vals)};
    *grads = new pt_vec_s{std::move(gs)};
  });
}
int pt_vjp(pt_callback fn, void *ctx, const pt_array *primals, size_t n, const pt_array *cotangents, size_t ncot,
           pt_vec *outputs, pt_vec *vjps) {
  return guard_status([&] {
    auto [outs, vs] = mx::vjp(adapt(fn, ctx), arrays(primals, n), arrays(cotangents, ncot));
    *outputs = new pt_vec_s{std::move(outs)};
    *vjps = new pt_vec_s{std::move(vs)};
  });
}
int pt_jvp(pt_callback fn, void *ctx, const pt_array *primals, size_t n, const pt_array *tangents, size_t ntan,
           pt_vec *outputs, pt_vec *jvps) {
  return guard_status([&] {
    auto [outs, js] = mx::jvp(adapt(fn, ctx), arrays(primals, n), arrays(tangents, ntan));
    *outputs = new pt_vec_s{std::move(outs)};
    *jvps = new pt_vec_s{std::move(js)};
  });
}
pt_fn pt_compile(pt_callback fn, void *ctx, bool shapeless) {
  try {
    return new pt_fn_s{mx::compile(adapt(fn, ctx), shapeless)};
  } catch (const std::exception &e) {
    last_error = e.what();
    return nullptr;
  }
}
pt_fn pt_checkpoint(pt_callback fn, void *ctx) {
  try {
    return new pt_fn_s{mx::checkpoint(adapt(fn, ctx))};
  } catch (const std::exception &e) {
    last_error = e.what();
    return nullptr;
  }
}
int pt_fn_call(pt_fn f, const pt_array *inputs, size_t n, pt_vec *outputs) {
  return guard_status([&] { *outputs = new pt_vec_s{f->f(arrays(inputs, n))}; });
}
void pt_fn_free(pt_fn f) { delete f; }
void pt_set_compile_enabled(bool enabled) {
  if (enabled) mx::enable_compile(); else mx::disable_compile();
}

// ---- I/O ---------------------------------------------------------------------------------------
int pt_load_safetensors(const char *path, char ***keys, pt_vec *out, size_t *count, char ***meta_keys,
                        char ***meta_values, size_t *meta_count) {
  return guard_status([&] {
    auto [tensors, meta] = mx::load_safetensors(std::string(path));
    std::vector<std::string> names, mk, mv;
    auto *vec = new pt_vec_s{};
    for (auto &[k, v] : tensors) {
      names.push_back(k);
      vec->v.push_back(v);
    }
    for (auto &[k, v] : meta) {
      mk.push_back(k);
      mv.push_back(v);
    }
    *keys = copy_strings(names);
    *out = vec;
    *count = names.size();
    *meta_keys = copy_strings(mk);
    *meta_values = copy_strings(mv);
    *meta_count = mk.size();
  });
}
int pt_save_safetensors(const char *path, const char *const *keys, const pt_array *xs, size_t n,
                        const char *const *meta_keys, const char *const *meta_values, size_t meta_n) {
  return guard_status([&] {
    std::unordered_map<std::string, mx::array> m;
    for (size_t i = 0; i < n; ++i) m.insert_or_assign(keys[i], A(xs[i]));
    std::unordered_map<std::string, std::string> meta;
    for (size_t i = 0; i < meta_n; ++i) meta[meta_keys[i]] = meta_values[i];
    mx::save_safetensors(std::string(path), std::move(m), std::move(meta));
  });
}
int pt_load_gguf(const char *path, char ***keys, pt_vec *out, size_t *count) {
  return guard_status([&] {
    auto loaded = mx::load_gguf(std::string(path));
    std::vector<std::string> names;
    auto *vec = new pt_vec_s{};
    for (auto &[k, v] : loaded.first) {
      names.push_back(k);
      vec->v.push_back(v);
    }
    *keys = copy_strings(names);
    *out = vec;
    *count = names.size();
  });
}
void pt_free_strings(char **strings, size_t n) {
  if (!strings) return;
  for (size_t i = 0; i < n; ++i) std::free(strings[i]);
  std::free(strings);
}

// ---- memory ------------------------------------------------------------------------------------
size_t pt_get_active_memory(void) { return mx::get_active_memory(); }
size_t pt_get_peak_memory(void) { return mx::get_peak_memory(); }
size_t pt_get_cache_memory(void) { return mx::get_cache_memory(); }
void pt_reset_peak_memory(void) { mx::reset_peak_memory(); }
void pt_clear_cache(void) { mx::clear_cache(); }
size_t pt_set_memory_limit(size_t limit) { return mx::set_memory_limit(limit); }
size_t pt_set_cache_limit(size_t limit) { return mx::set_cache_limit(limit); }

// ---- device and distributed --------------------------------------------------------------------
int pt_default_device(void) { return mx::default_device().type == mx::Device::DeviceType::gpu ? 1 : 0; }
int pt_set_default_device(int kind) {
  return guard_status([&] { mx::set_default_device(kind == 1 ? mx::Device::gpu : mx::Device::cpu); });
}
bool pt_gpu_available(void) {
  try {
    return mx::is_available(mx::Device::gpu);
  } catch (...) {
    return false;
  }
}
const char *pt_mlx_version(void) { return mx::version(); }

namespace {
std::optional<mx::distributed::Group> world;
}
int pt_distributed_init(bool strict, const char *backend, int *rank) {
  try {
    world = mx::distributed::init(strict, backend ? backend : "any");
    *rank = world->rank();
    return world->size();
  } catch (const std::exception &e) {
    last_error = e.what();
    return -1;
  }
}
pt_array pt_all_sum(pt_array x) { return guard([&] { return mx::distributed::all_sum(A(x), world); }); }
pt_array pt_all_gather(pt_array x) { return guard([&] { return mx::distributed::all_gather(A(x), world); }); }

}  // extern "C"
