/* CONV_2D, int8 per-channel (TFLM reference_integer_ops::ConvPerChannel), and its 16x8
 * variant CONV_2D_16X8: int16 activations (zero point 0), int8 weights, int64 bias and
 * accumulator, requantised by the int64 MultiplyByQuantizedMultiplier. */
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

static int at_conv_check_typed(const at_model *m, const at_conv_params *p, int act, int bias) {
  const at_tensor *in = at_tensor_checked(m, p->input, act, 4, 4);
  const at_tensor *f = at_tensor_checked(m, p->filter, AT_INT8, 4, 4);
  const at_tensor *out = at_tensor_checked(m, p->output, act, 4, 4);
  int32_t groups;
  if (!in || !f || !out || out->storage != AT_STORE_ARENA) return AT_ERR_BAD_PARAMS;
  if (in->dims[0] != out->dims[0] || f->dims[0] != out->dims[3]) return AT_ERR_BAD_PARAMS;
  if (in->dims[3] % f->dims[3] != 0) return AT_ERR_BAD_PARAMS;
  groups = in->dims[3] / f->dims[3];
  if (out->dims[3] % groups != 0) return AT_ERR_BAD_PARAMS;
  if (p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 ||
      p->pad_h < 0 || p->pad_w < 0)
    return AT_ERR_BAD_PARAMS;
  if (p->act_min > p->act_max) return AT_ERR_BAD_PARAMS;
  if (at_check_bias_typed(m, p->bias, out->dims[3], bias) != AT_OK) return AT_ERR_BAD_PARAMS;
  return at_check_requant_vectors(m, p->multipliers, p->shifts, out->dims[3]);
}

int at_conv_check(const at_model *m, const at_conv_params *p) {
  return at_conv_check_typed(m, p, AT_INT8, AT_INT32);
}

int at_conv16x8_check(const at_model *m, const at_conv_params *p) {
  if (p->input_offset != 0 || p->output_offset != 0) return AT_ERR_BAD_PARAMS; /* symmetric int16 */
  return at_conv_check_typed(m, p, AT_INT16, AT_INT64);
}

/* One body for both modes: T the activations, B the bias and accumulator (int32 / int64), REQUANT
 * at_mbqm / at_mbqm64, IN_OFF / OUT_OFF the offsets: 16x8's are 0 (at_conv16x8_check), passed as
 * constants so that its inner loop has no add (+43% portable KWS latency on stm32f746 otherwise). */
#define AT_CONV_BODY(T, B, REQUANT, IN_OFF, OUT_OFF)                                                  \
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];                          \
  const at_tensor *to = &m->tensors[p->output];                                                       \
  const T *in = (const T *)at_tensor_ptr(m, (uint32_t)p->input);                                      \
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);                       \
  const B *bias = p->bias >= 0 ? (const B *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;                  \
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);                  \
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);                      \
  T *out = (T *)at_tensor_ptr(m, (uint32_t)p->output);                                                \
  const int32_t batches = ti->dims[0], in_h = ti->dims[1], in_w = ti->dims[2], in_d = ti->dims[3];    \
  const int32_t k_h = tf->dims[1], k_w = tf->dims[2], f_d = tf->dims[3];                              \
  const int32_t out_h = to->dims[1], out_w = to->dims[2], out_d = to->dims[3];                        \
  const int32_t groups = in_d / f_d, per_group = out_d / groups;                                      \
  int32_t b, oy, ox, oc, ky, kx, ic;                                                                  \
  for (b = 0; b < batches; ++b) {                                                                     \
    for (oy = 0; oy < out_h; ++oy) {                                                                  \
      const int32_t iy0 = oy * p->stride_h - p->pad_h;                                                \
      for (ox = 0; ox < out_w; ++ox) {                                                                \
        const int32_t ix0 = ox * p->stride_w - p->pad_w;                                              \
        for (oc = 0; oc < out_d; ++oc) {                                                              \
          const int32_t in_c0 = (oc / per_group) * f_d;                                               \
          B acc = 0;                                                                                  \
          int32_t v;                                                                                  \
          for (ky = 0; ky < k_h; ++ky) {                                                              \
            const int32_t iy = iy0 + p->dilation_h * ky;                                              \
            if (iy < 0 || iy >= in_h) continue;                                                       \
            for (kx = 0; kx < k_w; ++kx) {                                                            \
              const int32_t ix = ix0 + p->dilation_w * kx;                                            \
              const T *ip;                                                                            \
              const int8_t *fp;                                                                       \
              if (ix < 0 || ix >= in_w) continue;                                                     \
              ip = in + ((b * in_h + iy) * in_w + ix) * in_d + in_c0;                                 \
              fp = filter + ((oc * k_h + ky) * k_w + kx) * f_d;                                       \
              for (ic = 0; ic < f_d; ++ic) acc += (int32_t)fp[ic] * ((int32_t)ip[ic] + (IN_OFF));     \
            }                                                                                         \
          }                                                                                           \
          if (bias) acc += bias[oc];                                                                  \
          v = REQUANT(acc, mult[oc], shift[oc]) + (OUT_OFF);                                          \
          out[((b * out_h + oy) * out_w + ox) * out_d + oc] = (T)at_clamp(v, p->act_min, p->act_max); \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
  }

void at_conv_eval_reference(const at_model *m, const at_conv_params *p) {
  AT_CONV_BODY(int8_t, int32_t, at_mbqm, p->input_offset, p->output_offset)
}
void at_conv_eval(const at_model *m, const at_conv_params *p) AT_REPLACEABLE(at_conv_eval_reference);

void at_conv16x8_eval_reference(const at_model *m, const at_conv_params *p) {
  AT_CONV_BODY(int16_t, int64_t, at_mbqm64, 0, 0)
}
void at_conv16x8_eval(const at_model *m, const at_conv_params *p) AT_REPLACEABLE(at_conv16x8_eval_reference);
