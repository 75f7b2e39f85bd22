/* AVERAGE_POOL_2D and MAX_POOL_2D, int8, and their int16 variants (…_INT16)
 * (TFLM reference_integer_ops pooling, the same arithmetic for both types):
 * the average rounds half away from zero over the in-image part of the window. */
#include "kernel_util.h"
#include "kernels.h"

static int at_pool_check_typed(const at_model *m, const at_pool_params *p, int dtype) {
  const at_tensor *in = at_tensor_checked(m, p->input, dtype, 4, 4);
  const at_tensor *out = at_tensor_checked(m, p->output, dtype, 4, 4);
  if (!in || !out || out->storage != AT_STORE_ARENA) return AT_ERR_BAD_PARAMS;
  if (in->dims[0] != out->dims[0] || in->dims[3] != out->dims[3]) return AT_ERR_BAD_PARAMS;
  if (p->filter_h < 1 || p->filter_w < 1 || p->stride_h < 1 || p->stride_w < 1 || p->pad_h < 0 ||
      p->pad_w < 0 || p->act_min > p->act_max)
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

int at_pool_check(const at_model *m, const at_pool_params *p) { return at_pool_check_typed(m, p, AT_INT8); }
int at_pool16_check(const at_model *m, const at_pool_params *p) { return at_pool_check_typed(m, p, AT_INT16); }

/* One body for both element types: T the element, LOWEST its smallest value. */
#define AT_POOL_BODY(T, LOWEST)                                                               \
  const at_tensor *ti = &m->tensors[p->input], *to = &m->tensors[p->output];                \
  const T *in = (const T *)at_tensor_ptr(m, (uint32_t)p->input);                            \
  T *out = (T *)at_tensor_ptr(m, (uint32_t)p->output);                                      \
  const int32_t batches = ti->dims[0], in_h = ti->dims[1], in_w = ti->dims[2];              \
  const int32_t depth = ti->dims[3], out_h = to->dims[1], out_w = to->dims[2];              \
  int32_t b, oy, ox, c, fy, fx;                                                             \
  for (b = 0; b < batches; ++b) {                                                           \
    for (oy = 0; oy < out_h; ++oy) {                                                        \
      const int32_t iy0 = oy * p->stride_h - p->pad_h;                                      \
      const int32_t fy0 = iy0 < 0 ? -iy0 : 0;                                               \
      const int32_t fy1 = p->filter_h < in_h - iy0 ? p->filter_h : in_h - iy0;              \
      for (ox = 0; ox < out_w; ++ox) {                                                      \
        const int32_t ix0 = ox * p->stride_w - p->pad_w;                                    \
        const int32_t fx0 = ix0 < 0 ? -ix0 : 0;                                             \
        const int32_t fx1 = p->filter_w < in_w - ix0 ? p->filter_w : in_w - ix0;            \
        for (c = 0; c < depth; ++c) {                                                       \
          int32_t acc = is_max ? (LOWEST) : 0, count = 0;                                   \
          for (fy = fy0; fy < fy1; ++fy) {                                                  \
            for (fx = fx0; fx < fx1; ++fx) {                                                \
              const int32_t v = in[((b * in_h + iy0 + fy) * in_w + ix0 + fx) * depth + c];  \
              if (is_max) {                                                                 \
                if (v > acc) acc = v;                                                       \
              } else {                                                                      \
                acc += v;                                                                   \
              }                                                                             \
              ++count;                                                                      \
            }                                                                               \
          }                                                                                 \
          if (!is_max && count > 0)                                                         \
            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;          \
          out[((b * out_h + oy) * out_w + ox) * depth + c] = (T)at_clamp(acc, p->act_min, p->act_max); \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }

static void at_pool(const at_model *m, const at_pool_params *p, int is_max) { AT_POOL_BODY(int8_t, -128) }
static void at_pool16(const at_model *m, const at_pool_params *p, int is_max) { AT_POOL_BODY(int16_t, -32768) }

void at_avgpool_eval_reference(const at_model *m, const at_pool_params *p) { at_pool(m, p, 0); }
void at_avgpool_eval(const at_model *m, const at_pool_params *p) AT_REPLACEABLE(at_avgpool_eval_reference);
void at_maxpool_eval_reference(const at_model *m, const at_pool_params *p) { at_pool(m, p, 1); }
void at_maxpool_eval(const at_model *m, const at_pool_params *p) AT_REPLACEABLE(at_maxpool_eval_reference);
void at_avgpool16_eval_reference(const at_model *m, const at_pool_params *p) { at_pool16(m, p, 0); }
void at_avgpool16_eval(const at_model *m, const at_pool_params *p) AT_REPLACEABLE(at_avgpool16_eval_reference);
void at_maxpool16_eval_reference(const at_model *m, const at_pool_params *p) { at_pool16(m, p, 1); }
void at_maxpool16_eval(const at_model *m, const at_pool_params *p) AT_REPLACEABLE(at_maxpool16_eval_reference);
