// CMLX: an exception-safe C interface over mlx::core.
//
// Every function catches C++ exceptions at the boundary: a C++ exception that reaches Swift aborts
// the process, so errors come back as a NULL handle (or a non-zero status) and the message is
// kept per thread for `pt_last_error()`. Handles own one reference to an mlx::core::array (itself
// reference counted); free each with `pt_free`. Inputs are borrowed, outputs are new handles.
#ifndef CMLX_H
#define CMLX_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_array_s *pt_array;  // owned mlx::core::array
typedef struct pt_vec_s *pt_vec;      // owned std::vector<array>
typedef struct pt_fn_s *pt_fn;        // owned compiled / transformed function

typedef enum {
  PT_BOOL = 0, PT_UINT8, PT_UINT16, PT_UINT32, PT_UINT64,
  PT_INT8, PT_INT16, PT_INT32, PT_INT64,
  PT_FLOAT16, PT_FLOAT32, PT_FLOAT64, PT_BFLOAT16, PT_COMPLEX64
} pt_dtype;

typedef enum {
  PT_NEG = 0, PT_ABS, PT_EXP, PT_LOG, PT_LOG1P, PT_SQRT, PT_RSQRT, PT_SIN, PT_COS, PT_TANH,
  PT_SIGMOID, PT_SQUARE, PT_FLOOR, PT_CEIL, PT_ROUND, PT_LOGICAL_NOT, PT_SIGN, PT_ERF,
  PT_STOP_GRADIENT, PT_COPY, PT_RECIPROCAL, PT_EXPM1, PT_ISNAN, PT_ISINF, PT_ERFINV, PT_CONTIGUOUS
} pt_unary_op;

typedef enum {
  PT_ADD = 0, PT_SUB, PT_MUL, PT_DIV, PT_POW, PT_MAXIMUM, PT_MINIMUM,
  PT_EQ, PT_NE, PT_LT, PT_LE, PT_GT, PT_GE, PT_LOGICAL_AND, PT_LOGICAL_OR,
  PT_FLOOR_DIVIDE, PT_REMAINDER, PT_LOGADDEXP, PT_MATMUL, PT_ARCTAN2
} pt_binary_op;

typedef enum {
  PT_SUM = 0, PT_MEAN, PT_MAX, PT_MIN, PT_PROD, PT_LOGSUMEXP, PT_ALL, PT_ANY, PT_SOFTMAX,
  PT_VAR
} pt_reduce_op;

// ---- errors and lifetime --------------------------------------------------------------------
const char *pt_last_error(void);
void pt_free(pt_array a);
pt_array pt_retain(pt_array a);  // a second handle to the same array

// ---- creation and inspection ----------------------------------------------------------------
pt_array pt_from_data(const void *data, const int32_t *shape, size_t ndim, pt_dtype dtype);
pt_array pt_scalar_f(double v, pt_dtype dtype);
pt_array pt_scalar_i(int64_t v, pt_dtype dtype);
pt_array pt_full(const int32_t *shape, size_t ndim, pt_array value, pt_dtype dtype);
pt_array pt_arange(double start, double stop, double step, pt_dtype dtype);
pt_array pt_eye(int n, pt_dtype dtype);
size_t pt_ndim(pt_array a);
void pt_shape(pt_array a, int32_t *out);  // out must hold ndim entries
size_t pt_size(pt_array a);
size_t pt_nbytes(pt_array a);
pt_dtype pt_get_dtype(pt_array a);
// Evaluates, converts to `dtype` and copies `pt_size` elements into `out` in row-major order.
int pt_read(pt_array a, pt_dtype dtype, void *out);
int pt_eval(const pt_array *xs, size_t n);
int pt_async_eval(const pt_array *xs, size_t n);
// Pointer to the evaluated, row-contiguous data of `a` (NULL and an error if not evaluated).
const void *pt_data_ptr(pt_array a);

// ---- elementwise, reductions, shapes ----------------------------------------------------------
pt_array pt_unary(pt_unary_op op, pt_array a);
pt_array pt_binary(pt_binary_op op, pt_array a, pt_array b);
// axes == NULL with naxes == 0 reduces over all axes (softmax/var too).
pt_array pt_reduce(pt_reduce_op op, pt_array a, const int32_t *axes, size_t naxes, bool keepdims);
pt_array pt_argreduce(bool is_max, pt_array a, int axis, bool keepdims);
pt_array pt_astype(pt_array a, pt_dtype dtype);
pt_array pt_reshape(pt_array a, const int32_t *shape, size_t ndim);
pt_array pt_transpose(pt_array a, const int32_t *perm, size_t n);
pt_array pt_broadcast_to(pt_array a, const int32_t *shape, size_t ndim);
pt_array pt_expand_dims(pt_array a, int axis);
pt_array pt_squeeze(pt_array a, const int32_t *axes, size_t naxes);
pt_array pt_concatenate(const pt_array *xs, size_t n, int axis);
pt_array pt_stack(const pt_array *xs, size_t n, int axis);
pt_vec pt_split_sections(pt_array a, const int32_t *indices, size_t n, int axis);
pt_vec pt_split_equal(pt_array a, int parts, int axis);
pt_array pt_slice(pt_array a, const int32_t *start, const int32_t *stop, const int32_t *strides, size_t ndim);
pt_array pt_slice_update(pt_array src, pt_array update, const int32_t *start, const int32_t *stop,
                         const int32_t *strides, size_t ndim);
pt_array pt_take(pt_array a, pt_array indices, int axis);
pt_array pt_take_along_axis(pt_array a, pt_array indices, int axis);
pt_array pt_put_along_axis(pt_array a, pt_array indices, pt_array values, int axis);
pt_array pt_scatter_add_axis(pt_array a, pt_array indices, pt_array values, int axis);
pt_array pt_where(pt_array cond, pt_array x, pt_array y);
pt_array pt_tri(pt_array a, int k, bool upper);
pt_array pt_cumsum(pt_array a, int axis, bool reverse, bool inclusive);
pt_array pt_sort(pt_array a, int axis, bool arg);
pt_array pt_argpartition(pt_array a, int kth, int axis);
pt_array pt_topk(pt_array a, int k, int axis);
pt_array pt_clip(pt_array a, pt_array lo, pt_array hi);  // lo / hi may be NULL
pt_array pt_pad(pt_array a, const int32_t *low, const int32_t *high, size_t ndim, pt_array value);
pt_array pt_addmm(pt_array c, pt_array a, pt_array b, float alpha, float beta);
pt_array pt_repeat(pt_array a, int repeats, int axis);
pt_array pt_flatten(pt_array a, int start_axis, int end_axis);
pt_array pt_array_equal(pt_array a, pt_array b);
pt_array pt_nan_to_num(pt_array a, float nan, float posinf, float neginf);

// ---- fast kernels and quantization --------------------------------------------------------------
pt_array pt_rms_norm(pt_array x, pt_array weight /* nullable */, float eps);
pt_array pt_layer_norm(pt_array x, pt_array weight, pt_array bias, float eps);
// offset_arr (int32 scalar or per-batch vector) takes precedence over offset when not NULL.
pt_array pt_rope(pt_array x, int dims, bool traditional, float base, float scale, int offset,
                 pt_array offset_arr, pt_array freqs);
// mask_mode: "" (none or mask_arr), "causal"; mask_arr is additive (float) or boolean.
pt_array pt_sdpa(pt_array q, pt_array k, pt_array v, float scale, const char *mask_mode, pt_array mask_arr);
pt_array pt_cross_entropy(pt_array logits, pt_array targets);
pt_vec pt_quantize(pt_array w, int group_size, int bits);  // {w_q, scales, biases}
pt_array pt_dequantize(pt_array w, pt_array scales, pt_array biases, int group_size, int bits, int out_dtype /* -1 = default */);
pt_array pt_quantized_matmul(pt_array x, pt_array w, pt_array scales, pt_array biases, bool transpose,
                             int group_size, int bits);

// ---- random ----------------------------------------------------------------------------------
void pt_random_seed(uint64_t seed);
pt_array pt_random_key(uint64_t seed);
pt_array pt_random_split(pt_array key, int num);
pt_array pt_random_uniform(const int32_t *shape, size_t ndim, pt_dtype dtype, pt_array key);
pt_array pt_random_normal(const int32_t *shape, size_t ndim, pt_dtype dtype, pt_array key);
pt_array pt_random_bernoulli(pt_array p, const int32_t *shape, size_t ndim, pt_array key);
pt_array pt_random_categorical(pt_array logits, int axis, pt_array key);
pt_array pt_random_randint(int low, int high, const int32_t *shape, size_t ndim, pt_array key);
pt_array pt_random_gumbel(const int32_t *shape, size_t ndim, pt_dtype dtype, pt_array key);

// ---- vectors of arrays -------------------------------------------------------------------------
pt_vec pt_vec_new(void);
void pt_vec_free(pt_vec v);
size_t pt_vec_size(pt_vec v);
pt_array pt_vec_get(pt_vec v, size_t i);  // new handle
void pt_vec_push(pt_vec v, pt_array a);   // borrows a, stores a reference

// ---- transforms -------------------------------------------------------------------------------
// A function of arrays implemented by the caller (Swift). It reads `n` borrowed inputs and pushes
// its outputs into `out`; it returns 0 on success, non-zero on failure (the caller keeps its own
// error). MLX may call it zero or more times.
typedef int (*pt_callback)(void *ctx, const pt_array *inputs, size_t n, pt_vec out);

// Values and gradients of outputs[0] with respect to inputs[argnums]. On success *values and
// *grads are new vectors. Returns 0, 1 if the callback failed, 2 on an MLX error.
int pt_value_and_grad(pt_callback fn, void *ctx, const pt_array *inputs, size_t n,
                      const int32_t *argnums, size_t nargnums, pt_vec *values, pt_vec *grads);
int pt_vjp(pt_callback fn, void *ctx, const pt_array *primals, size_t n, const pt_array *cotangents,
           size_t ncot, pt_vec *outputs, pt_vec *vjps);
int pt_jvp(pt_callback fn, void *ctx, const pt_array *primals, size_t n, const pt_array *tangents,
           size_t ntan, pt_vec *outputs, pt_vec *jvps);
// compile: the callback is traced once per input shape signature; ctx must outlive the pt_fn.
pt_fn pt_compile(pt_callback fn, void *ctx, bool shapeless);
int pt_fn_call(pt_fn f, const pt_array *inputs, size_t n, pt_vec *outputs);
// checkpoint: outputs are computed normally, but the backward pass recomputes the function's
// intermediates instead of keeping them (gradient checkpointing); ctx must outlive the pt_fn.
pt_fn pt_checkpoint(pt_callback fn, void *ctx);
void pt_fn_free(pt_fn f);
void pt_set_compile_enabled(bool enabled);

// ---- I/O ---------------------------------------------------------------------------------------
// Loads a safetensors file: *keys is a malloc'ed array of malloc'ed strings (free with
// pt_free_strings), *arrays the values in the same order; metadata likewise.
int pt_load_safetensors(const char *path, char ***keys, pt_vec *arrays, size_t *count,
                        char ***meta_keys, char ***meta_values, size_t *meta_count);
int pt_save_safetensors(const char *path, const char *const *keys, const pt_array *arrays, size_t n,
                        const char *const *meta_keys, const char *const *meta_values, size_t meta_n);
// Loads a GGUF file's tensors (quantized Q4_0/Q4_1/Q8_0 arrive as weight/scales/biases triples).
// Metadata is not returned here: the GGUF module reads it directly from the file.
int pt_load_gguf(const char *path, char ***keys, pt_vec *arrays, size_t *count);
void pt_free_strings(char **strings, size_t n);

// ---- memory ------------------------------------------------------------------------------------
size_t pt_get_active_memory(void);
size_t pt_get_peak_memory(void);
size_t pt_get_cache_memory(void);
void pt_reset_peak_memory(void);
void pt_clear_cache(void);
size_t pt_set_memory_limit(size_t limit);
size_t pt_set_cache_limit(size_t limit);

// ---- device and distributed --------------------------------------------------------------------
// 0 = cpu, 1 = gpu
int pt_default_device(void);
int pt_set_default_device(int kind);
bool pt_gpu_available(void);
const char *pt_mlx_version(void);
// Initialises the distributed group (backend: "any", "ring", "mpi", "nccl"); returns size, or -1.
int pt_distributed_init(bool strict, const char *backend, int *rank);
pt_array pt_all_sum(pt_array x);
pt_array pt_all_gather(pt_array x);

// ---- process -----------------------------------------------------------------------------------
// Sets OPENBLAS_CORETYPE from the CPU's features when OpenBLAS would misidentify the CPU. Returns
// true if the environment changed (the caller should then re-exec itself, since OpenBLAS reads
// the variable only when it loads).
bool pt_configure_openblas_env(void);
// Which BLAS resolved cblas_sgemm in this process ("openblas", "reference", or a path).
const char *pt_blas_name(void);

#ifdef __cplusplus
}
#endif
#endif
