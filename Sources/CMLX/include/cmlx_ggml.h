// Dequantization of GGML tensor formats (the block layouts of llama.cpp's ggml-common.h).
//
// MLX's own GGUF loader understands only F32/F16/BF16 and Q4_0/Q4_1/Q8_0; these kernels turn any
// of the common GGML storage types into float32 (or float16/bfloat16) so that K-quant GGUFs load.
// Values are computed in float32 exactly as ggml's dequantize_row_* does, so results are
// bit-identical to ggml (and to gguf-py's reference). Data is read as little-endian, as GGUF
// stores it. Large inputs are split across threads.
//
// Functions return PT_GGML_OK (0) or an error code; the message is kept per thread for
// pt_ggml_last_error(). No C++ exception crosses this interface.
#ifndef CMLX_GGML_H
#define CMLX_GGML_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "cmlx.h"

#ifdef __cplusplus
extern "C" {
#endif

// GGML type ids, as stored in a GGUF tensor's type field.
enum {
  PT_GGML_F32 = 0, PT_GGML_F16 = 1, PT_GGML_Q4_0 = 2, PT_GGML_Q4_1 = 3,
  PT_GGML_Q5_0 = 6, PT_GGML_Q5_1 = 7, PT_GGML_Q8_0 = 8, PT_GGML_Q8_1 = 9,
  PT_GGML_Q2_K = 10, PT_GGML_Q3_K = 11, PT_GGML_Q4_K = 12, PT_GGML_Q5_K = 13,
  PT_GGML_Q6_K = 14, PT_GGML_Q8_K = 15, PT_GGML_BF16 = 30
};

typedef enum {
  PT_GGML_OK = 0,
  PT_GGML_UNSUPPORTED_TYPE = 1,  // unknown type id, or one we cannot dequantize
  PT_GGML_BAD_SIZE = 2,          // element count not whole blocks, or byte count mismatch
  PT_GGML_BAD_ARGUMENT = 3,      // null pointer, negative dimension, unsupported output dtype
  PT_GGML_INTERNAL = 4           // allocation or thread failure
} pt_ggml_status;

// The message of this thread's last failed pt_ggml_* call.
const char *pt_ggml_last_error(void);

// Name of a GGML type id ("Q4_K"), or NULL if the id is not a GGML type known here.
const char *pt_ggml_type_name(uint32_t type);

// Whether pt_ggml_dequantize_* can convert this type.
bool pt_ggml_is_supported(uint32_t type);

// Block geometry: elements per block and bytes per block. False for unsupported types.
bool pt_ggml_block_info(uint32_t type, size_t *block_elements, size_t *block_bytes);

// Bytes that `n` elements of `type` occupy. Returns PT_GGML_UNSUPPORTED_TYPE, or
// PT_GGML_BAD_SIZE when n is not a whole number of blocks.
int pt_ggml_row_bytes(uint32_t type, size_t n, size_t *nbytes);

// Dequantizes `n` elements of `type` from `src` (exactly `nbytes` bytes) into `dst`.
// float16 output is IEEE binary16 bits, bfloat16 the upper half of float32, both rounded to
// nearest even from the float32 value.
int pt_ggml_dequantize_f32(const void *src, size_t nbytes, uint32_t type, size_t n, float *dst);
int pt_ggml_dequantize_f16(const void *src, size_t nbytes, uint32_t type, size_t n, uint16_t *dst);
int pt_ggml_dequantize_bf16(const void *src, size_t nbytes, uint32_t type, size_t n, uint16_t *dst);

// A new evaluated MLX array of `shape` (row-major, i.e. the GGUF `ne` dims reversed) holding the
// dequantized tensor in out_dtype (PT_FLOAT32, PT_FLOAT16 or PT_BFLOAT16). The last dimension
// must be a whole number of blocks, as ggml requires of every row. NULL on failure.
pt_array pt_ggml_dequantize(const void *data, size_t nbytes, uint32_t type, const int32_t *shape,
                            size_t ndim, pt_dtype out_dtype);

#ifdef __cplusplus
}
#endif
#endif
