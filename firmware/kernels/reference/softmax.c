/* SOFTMAX, int8 in -> int8 out (output scale 1/256, zero point -128), along
 * the last dim, with TFLM's fixed-point path: Q5.26 scaled differences,
 * exp_on_negative_values, Q12.19 sum, Newton-Raphson reciprocal.
 * SOFTMAX_INT16, int16 in -> int16 out (scale 1/32768, zero point 0): TFLM's table path,
 * exp over [-10, 0] and 1/(1+x) over [0, 1] as two 513-entry Q0.15 tables with linear
 * interpolation; the tables are computed on the host and stored in the blob. */
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
static int32_t at_exp_quarter(int32_t a) {
  const int32_t constant_term = 1895147668;     /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883;
  const int32_t x = at_wrap_add(a, 1 << 28);    /* a + 1/8 */
  const int32_t x2 = at_srdhm(x, x);
  const int32_t x3 = at_srdhm(x2, x);
  const int32_t x4 = at_srdhm(x2, x2);
  const int32_t x4_over_4 = at_rdbpot(x4, 2);
  const int32_t poly =
      at_rdbpot(at_wrap_add(at_srdhm(at_wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
  return at_wrap_add(constant_term, at_srdhm(constant_term, at_wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given in Q5.26; result in Q0.31 */
static int32_t at_exp_on_negative_values(int32_t a) {
  static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                    39332535,   720401,     242};
  const int32_t one_quarter = 1 << 24;
  const int32_t a_mod_q_minus_q = at_wrap_sub(a & (one_quarter - 1), one_quarter);
  int32_t result = at_exp_quarter(at_sat_shl(a_mod_q_minus_q, 5));
  const int32_t remainder = at_wrap_sub(a_mod_q_minus_q, a);
  int k;
  for (k = 0; k < 7; ++k) /* exponents -2 .. +4: bit 26 + exponent */
    if (remainder & (int32_t)(1u << (24 + k))) result = at_srdhm(result, barrel[k]);
  if (a == 0) result = INT32_MAX;
  return result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out */
static int32_t at_one_over_one_plus_x(int32_t a) {
  const int64_t s = (int64_t)a + (int64_t)INT32_MAX;
  const int32_t half_den = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
  const int32_t c48_17 = 1515870810, c_neg32_17 = -1010580540; /* Q2.29 */
  int32_t x = at_wrap_add(c48_17, at_srdhm(half_den, c_neg32_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t hdx = at_srdhm(half_den, x);
    const int32_t one_minus = at_wrap_sub(1 << 29, hdx);
    x = at_wrap_add(x, at_sat_shl(at_srdhm(x, one_minus), 2));
  }
  return at_sat_shl(x, 1);
}

int at_softmax_check(const at_model *m, const at_softmax_params *p) {
  const at_tensor *in = at_tensor_checked(m, p->input, AT_INT8, 1, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, AT_INT8, 1, AT_MAX_DIMS);
  if (!in || !out || out->storage != AT_STORE_ARENA || in->nbytes != out->nbytes ||
      in->dims[in->ndim - 1] != out->dims[out->ndim - 1])
    return AT_ERR_BAD_PARAMS;
  if (p->input_left_shift < 0 || p->input_left_shift > 31 || p->diff_min > 0 ||
      in->dims[in->ndim - 1] > 4096)
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_softmax_eval_reference(const at_model *m, const at_softmax_params *p) {
  const at_tensor *ti = &m->tensors[p->input];
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t depth = ti->dims[ti->ndim - 1];
  const int32_t outer = at_elem_count(ti) / depth;
  int32_t i, c;
  for (i = 0; i < outer; ++i) {
    const int8_t *x = in + i * depth;
    int8_t *y = out + i * depth;
    int32_t max = -128, sum = 0, scale, headroom, bits_over_unit, exponent;
    for (c = 0; c < depth; ++c)
      if (x[c] > max) max = x[c];
    for (c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max;
      if (diff >= p->diff_min) {
        const int32_t scaled = at_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
        sum = at_wrap_add(sum, at_rdbpot(at_exp_on_negative_values(scaled), 12));
      }
    }
    headroom = at_clz32((uint32_t)sum);
    bits_over_unit = 12 - headroom;
    scale = at_one_over_one_plus_x(
        (int32_t)(((uint32_t)sum << (headroom & 31)) - (1u << 31)));
    exponent = bits_over_unit + 31 - 8;
    for (c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max;
      if (diff >= p->diff_min) {
        const int32_t scaled = at_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
        const int32_t e = at_exp_on_negative_values(scaled);
        const int32_t v = at_rdbpot(at_srdhm(scale, e), exponent) - 128;
        y[c] = (int8_t)at_clamp(v, -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
}
void at_softmax_eval(const at_model *m, const at_softmax_params *p) AT_REPLACEABLE(at_softmax_eval_reference);

#define AT_LUT_ENTRIES 513

int at_softmax16_check(const at_model *m, const at_softmax16_params *p) {
  const at_tensor *in = at_tensor_checked(m, p->input, AT_INT16, 1, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, AT_INT16, 1, AT_MAX_DIMS);
  const at_tensor *e = at_tensor_checked(m, p->exp_lut, AT_INT16, 1, 1);
  const at_tensor *r = at_tensor_checked(m, p->recip_lut, AT_INT16, 1, 1);
  if (!in || !out || !e || !r || out->storage != AT_STORE_ARENA || in->nbytes != out->nbytes ||
      in->dims[in->ndim - 1] != out->dims[out->ndim - 1] || e->dims[0] != AT_LUT_ENTRIES ||
      r->dims[0] != AT_LUT_ENTRIES)
    return AT_ERR_BAD_PARAMS;
  if (p->input_shift > 31 || p->input_shift < -31) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

/* a table over [-32768, 32767] in 512 steps of 128, interpolated (Q0.15) */
static int32_t at_lut16(int32_t v, const int16_t *lut) {
  const int32_t index = 256 + (v >> 7);
  const int32_t offset = v & 0x7f;
  const int32_t base = lut[index];
  const int32_t slope = lut[index + 1] - base;
  return (int16_t)(base + ((slope * offset + 64) >> 7));
}

void at_softmax16_eval_reference(const at_model *m, const at_softmax16_params *p) {
  const at_tensor *ti = &m->tensors[p->input];
  const int16_t *in = (const int16_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int16_t *exp_lut = (const int16_t *)at_tensor_ptr(m, (uint32_t)p->exp_lut);
  const int16_t *recip_lut = (const int16_t *)at_tensor_ptr(m, (uint32_t)p->recip_lut);
  int16_t *out = (int16_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t depth = ti->dims[ti->ndim - 1];
  const int32_t outer = at_elem_count(ti) / depth;
  int32_t i, c;
  for (i = 0; i < outer; ++i) {
    const int16_t *x = in + i * depth;
    int16_t *y = out + i * depth;
    int32_t max = -32768, sum = 0, shifted, recip, headroom, right_shift;
    for (c = 0; c < depth; ++c)
      if (x[c] > max) max = x[c];
    /* the exp values go to the output first (each fits int16), then are rescaled in place */
    for (c = 0; c < depth; ++c) {
      const int32_t scaled = at_mbqm(x[c] - max, p->input_multiplier, p->input_shift) + 32767;
      const int32_t e = at_lut16(at_clamp(scaled, -32768, 32767), exp_lut);
      y[c] = (int16_t)e;
      sum += e;
    }
    headroom = at_clz32((uint32_t)sum);
    shifted = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
    recip = at_lut16(at_clamp(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), recip_lut);
    right_shift = 31 - headroom;
    for (c = 0; c < depth; ++c) {
      const int32_t v = (int32_t)(((int64_t)y[c] * recip + ((int64_t)1 << (right_shift - 1))) >> right_shift);
      y[c] = (int16_t)at_clamp(v, 0, 32767);
    }
  }
}
void at_softmax16_eval(const at_model *m, const at_softmax16_params *p) AT_REPLACEABLE(at_softmax16_eval_reference);
