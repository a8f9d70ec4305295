// CMLX kernels: our own fused CPU kernels, registered as MLX primitives.
//
// MLX's x86 CPU backend runs elementwise ops as scalar loops and has no fused attention, so the
// attention softmax and the vocabulary logsumexp dominate a training step and keep large
// intermediates alive for the backward pass. These functions build MLX graph nodes whose CPU
// evaluation is vectorised, multithreaded and blocked so that no [L, S] score matrix or [N, V]
// logits matrix is ever materialised; each node has its own vjp, so `value_and_grad` works
// through them. When MLX's default device is not the CPU they return the equivalent composition
// of MLX ops instead (MLX's own fused attention on the GPU).
//
// Like the rest of the shim, no C++ exception crosses this interface: on failure a function
// returns NULL and `pt_kernels_last_error()` holds the message (per thread). Inputs are
// borrowed, results are new handles to free with `pt_free`. Errors found only while evaluating
// surface from `pt_eval` / `pt_last_error` as for any MLX op.
#ifndef CMLX_KERNELS_H
#define CMLX_KERNELS_H

#include <stdbool.h>

#include "cmlx.h"

#ifdef __cplusplus
extern "C" {
#endif

// The message of this thread's last failed pt_fused_* call.
const char *pt_kernels_last_error(void);

// softmax(q·kᵀ·scale + mask)·v with grouped-query heads.
//   q: [B, Hq, L, D]; k, v: [B, Hkv, S, D] with Hq a multiple of Hkv (query head h reads kv head
//   h / (Hq / Hkv)); one dtype among float32, float16, bfloat16 (computed in float32, returned
//   in the input dtype).
//   causal: query i sees keys j ≤ i + S − L (queries aligned to the end of the keys, as MLX's
//   "causal" mode), combined with the mask when both are given.
//   mask_or_null: boolean (true = attend) or additive float mask, broadcastable to [B, Hq, L, S].
// Query rows that see no key at all produce 0 (not NaN) and no gradient. The mask gets no
// gradient.
pt_array pt_fused_attention(pt_array q, pt_array k, pt_array v, float scale, bool causal,
                            pt_array mask_or_null);

// Per-row cross-entropy of the logits hidden·weightᵀ, without materialising them:
//   hidden: [..., D]; weight: [V, D] (e.g. the tied embedding / lm_head); targets: integers of
//   shape [...]. Returns float32 loss of shape [...]: logsumexp(hidden·weightᵀ) − logit[target].
// Targets outside [0, V) (an ignore index such as -100) give loss 0 and no gradient. Gradients
// flow to hidden and weight.
pt_array pt_fused_linear_cross_entropy(pt_array hidden, pt_array weight, pt_array targets);

#ifdef __cplusplus
}
#endif
#endif
