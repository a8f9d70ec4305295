// Quantized matrix-vector products for decoding on the CPU.
//
// y = x · dequantize(w)ᵀ for MLX's affine quantized layout, as an MLX primitive (so it is lazy,
// composes with other ops and has a gradient with respect to x, scales and biases). MLX's own
// quantized_matmul is scalar, single-threaded code on the CPU; this kernel streams the packed
// weights once per call, unpacks them with SIMD (AVX-512 or AVX2 when the build targets them,
// portable scalar code otherwise), uses Σ(s·q + b)·x = s·Σq·x + b·Σx per group, and splits the
// output rows of large matrices over a small persistent thread pool.
// It is built for few rows of x (decoding: 1–8 rows); more rows are correct but stream the weights
// once per 8 rows, so for prompts and training dequantize once and use sgemm instead.
//
// Matrices of at least 4M weights (an lm_head) are split over all hardware threads, at most 8; the
// environment variable PT_QGEMV_THREADS (read once) changes that count (1 = no pool). Smaller ones
// run on the calling thread: waking a worker costs about as much as they take.
#ifndef CMLX_QGEMV_H
#define CMLX_QGEMV_H

#include "cmlx.h"

#ifdef __cplusplus
extern "C" {
#endif

// The message of this thread's last failed pt_quantized_gemv call (argument checks). Errors raised
// while the graph is evaluated surface from pt_eval and friends, through pt_last_error().
const char *pt_qgemv_last_error(void);

// x [..., K] (float32, float16 or bfloat16) times the dequantized transpose of the quantized matrix:
// w uint32 [N, K·bits/32] (values packed from the least significant bits up), scales and biases
// [N, K/group_size] (float32, float16 or bfloat16; w = scale·q + bias). bits is 4 or 8, group_size
// 32, 64 or 128. The result [..., N] has x's dtype; it is computed in float32. The array is lazy and
// always evaluates on the CPU stream. NULL (and pt_qgemv_last_error) on invalid arguments.
pt_array pt_quantized_gemv(pt_array x, pt_array w, pt_array scales, pt_array biases, int group_size,
                           int bits);

#ifdef __cplusplus
}
#endif
#endif
