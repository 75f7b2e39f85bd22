/* Helpers shared by the kernels and the loader (see kernel_util.h). */
#include "kernel_util.h"

uint32_t at_dtype_size(int dtype) {
  switch (dtype) {
    case AT_INT8: return 1u;
    case AT_INT16: return 2u;
    case AT_INT32: case AT_FLOAT32: return 4u;
    case AT_INT64: return 8u;
    default: return 0u;
  }
}

int32_t at_elem_count(const at_tensor *t) {
  int32_t n = 1;
  int i;
  for (i = 0; i < t->ndim; ++i) n *= t->dims[i];
  return n;
}

void at_dims6(const at_tensor *t, int32_t out[6]) {
  int i, k = t->ndim - 1;
  for (i = 5; i >= 0; --i) out[i] = k >= 0 ? t->dims[k--] : 1;
}

void *at_tensor_ptr(const at_model *m, uint32_t index) {
  const at_tensor *t = &m->tensors[index];
  if (t->storage == AT_STORE_BLOB) return (void *)(m->blob + t->offset);
  return m->arena + t->offset;
}

const at_tensor *at_tensor_checked(const at_model *m, int32_t index, int dtype, int min_ndim,
                                   int max_ndim) {
  const at_tensor *t;
  if (index < 0 || index >= (int32_t)m->hdr->n_tensors) return 0;
  t = &m->tensors[index];
  if (dtype && t->dtype != dtype) return 0;
  if (t->ndim < min_ndim || t->ndim > max_ndim) return 0;
  return t;
}

int at_check_requant_vectors(const at_model *m, int32_t mult, int32_t shift, int32_t n) {
  const at_tensor *tm = at_tensor_checked(m, mult, AT_INT32, 1, 1);
  const at_tensor *ts = at_tensor_checked(m, shift, AT_INT32, 1, 1);
  if (!tm || !ts || tm->dims[0] != n || ts->dims[0] != n) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

int at_check_bias(const at_model *m, int32_t bias, int32_t n) {
  return at_check_bias_typed(m, bias, n, AT_INT32);
}

int at_check_bias_typed(const at_model *m, int32_t bias, int32_t n, int dtype) {
  const at_tensor *tb;
  if (bias < 0) return AT_OK;
  tb = at_tensor_checked(m, bias, dtype, 1, AT_MAX_DIMS);
  if (!tb || at_elem_count(tb) != n) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}
