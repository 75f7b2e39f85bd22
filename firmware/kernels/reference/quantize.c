/* QUANTIZE (float32 -> int8), DEQUANTIZE (int8 -> float32) and int8 -> int8
 * requantization, as TFLM's reference AffineQuantize / Dequantize / Requantize, and the
 * int16 variants QUANTIZE_INT16 (float32 -> int16), DEQUANTIZE_INT16 (int16 -> float32).
 * These are the only kernels that use floating point (single precision; the
 * double product in TFLM's Dequantize is exact, so float gives the same bits). */
#include <math.h>
#include <string.h>

#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

static float at_bits_to_float(int32_t bits) {
  float f;
  uint32_t u = (uint32_t)bits;
  memcpy(&f, &u, sizeof(f));
  return f;
}

/* QUANTIZE / DEQUANTIZE to and from int8 or int16 (dtype, T, its range lo..hi): one body each. */
static int at_quantize_check_typed(const at_model *m, const at_quantize_params *p, int dtype) {
  const at_tensor *in = at_tensor_checked(m, p->input, AT_FLOAT32, 0, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, dtype, 0, AT_MAX_DIMS);
  if (!in || !out || out->storage != AT_STORE_ARENA || at_elem_count(in) != at_elem_count(out))
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

int at_quantize_check(const at_model *m, const at_quantize_params *p) {
  return at_quantize_check_typed(m, p, AT_INT8);
}

int at_quantize16_check(const at_model *m, const at_quantize_params *p) {
  return at_quantize_check_typed(m, p, AT_INT16);
}

#define AT_QUANTIZE_BODY(T, lo, hi)                                                                \
  const float *in = (const float *)at_tensor_ptr(m, (uint32_t)p->input);                           \
  T *out = (T *)at_tensor_ptr(m, (uint32_t)p->output);                                             \
  const float scale = at_bits_to_float(p->scale_bits);                                             \
  const int32_t n = at_elem_count(&m->tensors[p->output]);                                         \
  int32_t i;                                                                                       \
  for (i = 0; i < n; ++i) {                                                                        \
    const float q = roundf(in[i] / scale);                                                         \
    int64_t v;                                                                                     \
    if (q >= 2147483520.0f) v = INT32_MAX; /* keep the cast defined */                             \
    else if (q <= -2147483648.0f) v = INT32_MIN;                                                   \
    else v = (int32_t)q;                                                                           \
    v += p->zero_point;                                                                            \
    out[i] = (T)(v > (hi) ? (hi) : (v < (lo) ? (lo) : v));                                         \
  }

void at_quantize_eval_reference(const at_model *m, const at_quantize_params *p) { AT_QUANTIZE_BODY(int8_t, -128, 127) }
void at_quantize_eval(const at_model *m, const at_quantize_params *p) AT_REPLACEABLE(at_quantize_eval_reference);

void at_quantize16_eval_reference(const at_model *m, const at_quantize_params *p) {
  AT_QUANTIZE_BODY(int16_t, -32768, 32767)
}
void at_quantize16_eval(const at_model *m, const at_quantize_params *p) AT_REPLACEABLE(at_quantize16_eval_reference);

static int at_dequantize_check_typed(const at_model *m, const at_quantize_params *p, int dtype) {
  const at_tensor *in = at_tensor_checked(m, p->input, dtype, 0, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, AT_FLOAT32, 0, AT_MAX_DIMS);
  if (!in || !out || out->storage != AT_STORE_ARENA || at_elem_count(in) != at_elem_count(out))
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

int at_dequantize_check(const at_model *m, const at_quantize_params *p) {
  return at_dequantize_check_typed(m, p, AT_INT8);
}

int at_dequantize16_check(const at_model *m, const at_quantize_params *p) {
  return at_dequantize_check_typed(m, p, AT_INT16);
}

#define AT_DEQUANTIZE_BODY(T)                                                                      \
  const T *in = (const T *)at_tensor_ptr(m, (uint32_t)p->input);                                   \
  float *out = (float *)at_tensor_ptr(m, (uint32_t)p->output);                                     \
  const float scale = at_bits_to_float(p->scale_bits);                                             \
  const int32_t n = at_elem_count(&m->tensors[p->input]);                                          \
  int32_t i;                                                                                       \
  for (i = 0; i < n; ++i) out[i] = scale * (float)((int32_t)in[i] - p->zero_point);

void at_dequantize_eval_reference(const at_model *m, const at_quantize_params *p) { AT_DEQUANTIZE_BODY(int8_t) }
void at_dequantize_eval(const at_model *m, const at_quantize_params *p) AT_REPLACEABLE(at_dequantize_eval_reference);

void at_dequantize16_eval_reference(const at_model *m, const at_quantize_params *p) { AT_DEQUANTIZE_BODY(int16_t) }
void at_dequantize16_eval(const at_model *m, const at_quantize_params *p) AT_REPLACEABLE(at_dequantize16_eval_reference);

int at_requantize_check(const at_model *m, const at_requantize_params *p) {
  const at_tensor *in = at_tensor_checked(m, p->input, AT_INT8, 0, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, AT_INT8, 0, AT_MAX_DIMS);
  if (!in || !out || out->storage != AT_STORE_ARENA || at_elem_count(in) != at_elem_count(out) ||
      p->shift > 31 || p->shift < -31)
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_requantize_eval_reference(const at_model *m, const at_requantize_params *p) {
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t n = at_elem_count(&m->tensors[p->input]);
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t v = at_mbqm((int32_t)in[i] - p->input_zero_point, p->multiplier, p->shift) +
                      p->output_zero_point;
    out[i] = (int8_t)at_clamp(v, -128, 127);
  }
}
void at_requantize_eval(const at_model *m, const at_requantize_params *p) AT_REPLACEABLE(at_requantize_eval_reference);
