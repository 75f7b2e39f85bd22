/* Helpers shared by the kernels and the loader: tensor lookup and checks, shapes,
 * clamping.  The one place for them: kernels include this (and kernels.h), never
 * interpreter.c's internals, so the arrows point interpreter -> op table ->
 * kernels -> kernel_util. */
#ifndef AT_KERNEL_UTIL_H
#define AT_KERNEL_UTIL_H

#include "at_runtime.h"

/* Bytes per element of a tensor dtype, 0 for an unknown dtype. */
uint32_t at_dtype_size(int dtype);

/* Shape right-aligned to 6 dims, missing leading dims = 1. */
void at_dims6(const at_tensor *t, int32_t out[6]);
int32_t at_elem_count(const at_tensor *t);

/* The tensor at index if it exists, has this dtype (0: any) and a rank in
 * [min_ndim, max_ndim]; else 0.  For the load-time checks. */
const at_tensor *at_tensor_checked(const at_model *m, int32_t index, int dtype, int min_ndim,
                                   int max_ndim);

/* Per-output-channel requantization vectors: int32 tensors of length n. */
int at_check_requant_vectors(const at_model *m, int32_t mult, int32_t shift, int32_t n);
/* Optional bias (index < 0: none): int32 with n elements. */
int at_check_bias(const at_model *m, int32_t bias, int32_t n);
/* The same with the bias dtype named (AT_INT64 for the 16x8 kernels). */
int at_check_bias_typed(const at_model *m, int32_t bias, int32_t n, int dtype);

static inline int32_t at_clamp(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

#endif
