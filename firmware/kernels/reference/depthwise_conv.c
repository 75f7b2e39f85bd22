/* DEPTHWISE_CONV_2D, int8 per-channel, any depth multiplier
 * (TFLM reference_integer_ops::DepthwiseConvPerChannel), and DEPTHWISE_CONV_2D_16X8: int16
 * activations (zero point 0), int8 weights, int64 bias and accumulator. */
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

static int at_dwconv_check_typed(const at_model *m, const at_dwconv_params *p, int act, int bias) {
  const at_tensor *in = at_tensor_checked(m, p->input, act, 4, 4);
  const at_tensor *f = at_tensor_checked(m, p->filter, AT_INT8, 4, 4);
  const at_tensor *out = at_tensor_checked(m, p->output, act, 4, 4);
  if (!in || !f || !out || out->storage != AT_STORE_ARENA) return AT_ERR_BAD_PARAMS;
  if (in->dims[0] != out->dims[0] || f->dims[0] != 1 || f->dims[3] != out->dims[3])
    return AT_ERR_BAD_PARAMS;
  if (p->depth_multiplier < 1 || in->dims[3] * p->depth_multiplier != out->dims[3])
    return AT_ERR_BAD_PARAMS;
  if (p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 ||
      p->pad_h < 0 || p->pad_w < 0 || p->act_min > p->act_max)
    return AT_ERR_BAD_PARAMS;
  if (at_check_bias_typed(m, p->bias, out->dims[3], bias) != AT_OK) return AT_ERR_BAD_PARAMS;
  return at_check_requant_vectors(m, p->multipliers, p->shifts, out->dims[3]);
}

int at_dwconv_check(const at_model *m, const at_dwconv_params *p) {
  return at_dwconv_check_typed(m, p, AT_INT8, AT_INT32);
}

int at_dwconv16x8_check(const at_model *m, const at_dwconv_params *p) {
  if (p->input_offset != 0 || p->output_offset != 0) return AT_ERR_BAD_PARAMS; /* symmetric int16 */
  return at_dwconv_check_typed(m, p, AT_INT16, AT_INT64);
}

/* One body for both modes: T the activations, B the bias and accumulator (int32 / int64), REQUANT
 * at_mbqm / at_mbqm64, IN_OFF / OUT_OFF the offsets: 16x8's are 0 (at_dwconv16x8_check), passed as
 * constants so that its inner loop has no add (+43% portable KWS latency on stm32f746 otherwise). */
#define AT_DWCONV_BODY(T, B, REQUANT, IN_OFF, OUT_OFF)                                                  \
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];                            \
  const at_tensor *to = &m->tensors[p->output];                                                         \
  const T *in = (const T *)at_tensor_ptr(m, (uint32_t)p->input);                                        \
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);                         \
  const B *bias = p->bias >= 0 ? (const B *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;                    \
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);                    \
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);                        \
  T *out = (T *)at_tensor_ptr(m, (uint32_t)p->output);                                                  \
  const int32_t batches = ti->dims[0], in_h = ti->dims[1], in_w = ti->dims[2], in_d = ti->dims[3];      \
  const int32_t k_h = tf->dims[1], k_w = tf->dims[2];                                                   \
  const int32_t out_h = to->dims[1], out_w = to->dims[2], out_d = to->dims[3];                          \
  const int32_t dm = p->depth_multiplier;                                                               \
  int32_t b, oy, ox, ic, mi, ky, kx;                                                                    \
  for (b = 0; b < batches; ++b) {                                                                       \
    for (oy = 0; oy < out_h; ++oy) {                                                                    \
      const int32_t iy0 = oy * p->stride_h - p->pad_h;                                                  \
      for (ox = 0; ox < out_w; ++ox) {                                                                  \
        const int32_t ix0 = ox * p->stride_w - p->pad_w;                                                \
        for (ic = 0; ic < in_d; ++ic) {                                                                 \
          for (mi = 0; mi < dm; ++mi) {                                                                 \
            const int32_t oc = ic * dm + mi;                                                            \
            B acc = 0;                                                                                  \
            int32_t v;                                                                                  \
            for (ky = 0; ky < k_h; ++ky) {                                                              \
              const int32_t iy = iy0 + p->dilation_h * ky;                                              \
              if (iy < 0 || iy >= in_h) continue;                                                       \
              for (kx = 0; kx < k_w; ++kx) {                                                            \
                const int32_t ix = ix0 + p->dilation_w * kx;                                            \
                int32_t iv, fv;                                                                         \
                if (ix < 0 || ix >= in_w) continue;                                                     \
                iv = in[((b * in_h + iy) * in_w + ix) * in_d + ic];                                     \
                fv = filter[(ky * k_w + kx) * out_d + oc];                                              \
                acc += fv * (iv + (IN_OFF));                                                            \
              }                                                                                         \
            }                                                                                           \
            if (bias) acc += bias[oc];                                                                  \
            v = REQUANT(acc, mult[oc], shift[oc]) + (OUT_OFF);                                          \
            out[((b * out_h + oy) * out_w + ox) * out_d + oc] = (T)at_clamp(v, p->act_min, p->act_max); \
          }                                                                                             \
        }                                                                                               \
      }                                                                                                 \
    }                                                                                                   \
  }

void at_dwconv_eval_reference(const at_model *m, const at_dwconv_params *p) {
  AT_DWCONV_BODY(int8_t, int32_t, at_mbqm, p->input_offset, p->output_offset)
}
void at_dwconv_eval(const at_model *m, const at_dwconv_params *p) AT_REPLACEABLE(at_dwconv_eval_reference);

void at_dwconv16x8_eval_reference(const at_model *m, const at_dwconv_params *p) {
  AT_DWCONV_BODY(int16_t, int64_t, at_mbqm64, 0, 0)
}
void at_dwconv16x8_eval(const at_model *m, const at_dwconv_params *p) AT_REPLACEABLE(at_dwconv16x8_eval_reference);
