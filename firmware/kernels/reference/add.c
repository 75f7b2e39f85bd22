/* ADD, int8 with fused activation and broadcasting up to 6 dims
 * (TFLM reference_integer_ops::Add / BroadcastAdd6DSlow arithmetic), and ADD_INT16: the
 * same arithmetic on int16 (TFLM's general int16 path, left shift 15). */
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

static int at_add_check_typed(const at_model *m, const at_add_params *p, int dtype) {
  const at_tensor *a = at_tensor_checked(m, p->input1, dtype, 0, AT_MAX_DIMS);
  const at_tensor *b = at_tensor_checked(m, p->input2, dtype, 0, AT_MAX_DIMS);
  const at_tensor *o = at_tensor_checked(m, p->output, dtype, 0, AT_MAX_DIMS);
  int32_t da[6], db[6], dout[6];
  int i;
  if (!a || !b || !o || o->storage != AT_STORE_ARENA) return AT_ERR_BAD_PARAMS;
  at_dims6(a, da);
  at_dims6(b, db);
  at_dims6(o, dout);
  for (i = 0; i < 6; ++i) {
    if (da[i] != dout[i] && da[i] != 1) return AT_ERR_BAD_PARAMS;
    if (db[i] != dout[i] && db[i] != 1) return AT_ERR_BAD_PARAMS;
  }
  if (p->left_shift < 0 || p->left_shift > 24 || p->input1_shift > 0 || p->input1_shift < -31 ||
      p->input2_shift > 0 || p->input2_shift < -31 || p->output_shift > 0 || p->output_shift < -31 ||
      p->act_min > p->act_max)
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

int at_add_check(const at_model *m, const at_add_params *p) { return at_add_check_typed(m, p, AT_INT8); }
int at_add16_check(const at_model *m, const at_add_params *p) { return at_add_check_typed(m, p, AT_INT16); }

static inline int32_t at_add_one(const at_add_params *p, int32_t x1, int32_t x2) {
  const int32_t s1 = (int32_t)((uint32_t)(x1 + p->input1_offset) << p->left_shift);
  const int32_t s2 = (int32_t)((uint32_t)(x2 + p->input2_offset) << p->left_shift);
  const int32_t r1 = at_rdbpot(at_srdhm(s1, p->input1_multiplier), -p->input1_shift);
  const int32_t r2 = at_rdbpot(at_srdhm(s2, p->input2_multiplier), -p->input2_shift);
  const int32_t sum = r1 + r2;
  const int32_t o = at_rdbpot(at_srdhm(sum, p->output_multiplier), -p->output_shift) + p->output_offset;
  return at_clamp(o, p->act_min, p->act_max);
}

/* One body for both element types (T). */
#define AT_ADD_BODY(T)                                                                      \
  const at_tensor *ta = &m->tensors[p->input1], *tb = &m->tensors[p->input2];              \
  const at_tensor *to = &m->tensors[p->output];                                            \
  const T *a = (const T *)at_tensor_ptr(m, (uint32_t)p->input1);                           \
  const T *b = (const T *)at_tensor_ptr(m, (uint32_t)p->input2);                           \
  T *o = (T *)at_tensor_ptr(m, (uint32_t)p->output);                                       \
  int32_t da[6], db[6], dout[6], sa[6], sb[6], idx[6];                                     \
  int32_t n = at_elem_count(to), i, stride_a = 1, stride_b = 1;                            \
  int d;                                                                                   \
  if (at_elem_count(ta) == n && at_elem_count(tb) == n) {                                  \
    for (i = 0; i < n; ++i) o[i] = (T)at_add_one(p, a[i], b[i]);                           \
    return;                                                                                \
  }                                                                                        \
  at_dims6(ta, da);                                                                        \
  at_dims6(tb, db);                                                                        \
  at_dims6(to, dout);                                                                      \
  for (d = 5; d >= 0; --d) {                                                               \
    sa[d] = da[d] == 1 ? 0 : stride_a;                                                     \
    sb[d] = db[d] == 1 ? 0 : stride_b;                                                     \
    stride_a *= da[d];                                                                     \
    stride_b *= db[d];                                                                     \
    idx[d] = 0;                                                                            \
  }                                                                                        \
  for (i = 0; i < n; ++i) {                                                                \
    int32_t oa = 0, ob = 0;                                                                \
    for (d = 0; d < 6; ++d) {                                                              \
      oa += idx[d] * sa[d];                                                                \
      ob += idx[d] * sb[d];                                                                \
    }                                                                                      \
    o[i] = (T)at_add_one(p, a[oa], b[ob]);                                                 \
    for (d = 5; d >= 0; --d) {                                                             \
      if (++idx[d] < dout[d]) break;                                                       \
      idx[d] = 0;                                                                          \
    }                                                                                      \
  }

void at_add_eval_reference(const at_model *m, const at_add_params *p) { AT_ADD_BODY(int8_t) }
void at_add_eval(const at_model *m, const at_add_params *p) AT_REPLACEABLE(at_add_eval_reference);
void at_add16_eval_reference(const at_model *m, const at_add_params *p) { AT_ADD_BODY(int16_t) }
void at_add16_eval(const at_model *m, const at_add_params *p) AT_REPLACEABLE(at_add16_eval_reference);
