/* MEAN over any set of axes, int8, and MEAN_INT16 (TFLM QuantizedMeanOrSum, integer path):
 * sum raw values, subtract zero_point * count, requantize with a multiplier
 * that the host already divided by the element count. */
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

static int at_mean_check_typed(const at_model *m, const at_mean_params *p, int dtype) {
  const at_tensor *in = at_tensor_checked(m, p->input, dtype, 1, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, dtype, 0, AT_MAX_DIMS);
  int32_t kept = 1;
  int d;
  if (!in || !out || out->storage != AT_STORE_ARENA) return AT_ERR_BAD_PARAMS;
  if (p->axis_mask <= 0 || p->axis_mask >= (1 << in->ndim)) return AT_ERR_BAD_PARAMS;
  for (d = 0; d < in->ndim; ++d)
    if (!(p->axis_mask & (1 << d))) kept *= in->dims[d];
  if (kept != at_elem_count(out) || p->shift > 31 || p->shift < -31) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

int at_mean_check(const at_model *m, const at_mean_params *p) { return at_mean_check_typed(m, p, AT_INT8); }
int at_mean16_check(const at_model *m, const at_mean_params *p) { return at_mean_check_typed(m, p, AT_INT16); }

/* One body for both element types: T the element, LO/HI its range. */
#define AT_MEAN_BODY(T, LO, HI) \
  const at_tensor *ti = &m->tensors[p->input];                                                  \
  const T *in = (const T *)at_tensor_ptr(m, (uint32_t)p->input);                                \
  T *out = (T *)at_tensor_ptr(m, (uint32_t)p->output);                                          \
  int32_t stride[AT_MAX_DIMS], kd[AT_MAX_DIMS], ks[AT_MAX_DIMS], rd[AT_MAX_DIMS], rs[AT_MAX_DIMS];\
  int32_t ki[AT_MAX_DIMS], ri[AT_MAX_DIMS];                                                     \
  int nk = 0, nr = 0, d;                                                                        \
  int32_t s = 1, count = 1, n_out = 1, o;                                                       \
  for (d = ti->ndim - 1; d >= 0; --d) {                                                         \
    stride[d] = s;                                                                              \
    s *= ti->dims[d];                                                                           \
  }                                                                                             \
  for (d = 0; d < ti->ndim; ++d) {                                                              \
    if (p->axis_mask & (1 << d)) {                                                              \
      rd[nr] = ti->dims[d];                                                                     \
      rs[nr++] = stride[d];                                                                     \
      count *= ti->dims[d];                                                                     \
    } else {                                                                                    \
      kd[nk] = ti->dims[d];                                                                     \
      ks[nk++] = stride[d];                                                                     \
      n_out *= ti->dims[d];                                                                     \
    }                                                                                           \
  }                                                                                             \
  for (d = 0; d < nk; ++d) ki[d] = 0;                                                           \
  for (o = 0; o < n_out; ++o) {                                                                 \
    int32_t base = 0, sum = 0, r, v;                                                            \
    for (d = 0; d < nk; ++d) base += ki[d] * ks[d];                                             \
    for (d = 0; d < nr; ++d) ri[d] = 0;                                                         \
    for (r = 0; r < count; ++r) {                                                               \
      int32_t off = base;                                                                       \
      for (d = 0; d < nr; ++d) off += ri[d] * rs[d];                                            \
      sum += in[off];                                                                           \
      for (d = nr - 1; d >= 0; --d) {                                                           \
        if (++ri[d] < rd[d]) break;                                                             \
        ri[d] = 0;                                                                              \
      }                                                                                         \
    }                                                                                           \
    v = at_mbqm(sum - p->input_zero_point * count, p->multiplier, p->shift) + p->output_zero_point;\
    out[o] = (T)at_clamp(v, LO, HI);                                                            \
    for (d = nk - 1; d >= 0; --d) {                                                             \
      if (++ki[d] < kd[d]) break;                                                               \
      ki[d] = 0;                                                                                \
    }                                                                                           \
  }

void at_mean_eval_reference(const at_model *m, const at_mean_params *p) { AT_MEAN_BODY(int8_t, -128, 127) }
void at_mean_eval(const at_model *m, const at_mean_params *p) AT_REPLACEABLE(at_mean_eval_reference);
void at_mean16_eval_reference(const at_model *m, const at_mean_params *p) { AT_MEAN_BODY(int16_t, -32768, 32767) }
void at_mean16_eval(const at_model *m, const at_mean_params *p) AT_REPLACEABLE(at_mean16_eval_reference);
