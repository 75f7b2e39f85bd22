/* PAD / PADV2, int8, up to 6 dims; the pad value is the output zero point
 * (PAD) or the constant (PADV2), resolved on the host. */
#include "kernel_util.h"
#include "kernels.h"

int at_pad_check(const at_model *m, const at_pad_params *p) {
  const at_tensor *in = at_tensor_checked(m, p->input, AT_INT8, 0, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, AT_INT8, 0, AT_MAX_DIMS);
  int32_t di[6], dout[6];
  int d;
  if (!in || !out || out->storage != AT_STORE_ARENA || in->ndim != out->ndim) return AT_ERR_BAD_PARAMS;
  at_dims6(in, di);
  at_dims6(out, dout);
  for (d = 0; d < 6; ++d)
    if (p->before[d] < 0 || p->before[d] + di[d] > dout[d]) return AT_ERR_BAD_PARAMS;
  if (p->pad_value < -128 || p->pad_value > 127) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_pad_eval_reference(const at_model *m, const at_pad_params *p) {
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  int32_t di[6], dout[6], idx[6], n, i, src = 0;
  int d;
  at_dims6(&m->tensors[p->input], di);
  at_dims6(&m->tensors[p->output], dout);
  n = at_elem_count(&m->tensors[p->output]);
  for (d = 0; d < 6; ++d) idx[d] = 0;
  /* walk the output in order; inside elements come from the input in order */
  for (i = 0; i < n; ++i) {
    int inside = 1;
    for (d = 0; d < 6; ++d)
      if (idx[d] < p->before[d] || idx[d] >= p->before[d] + di[d]) inside = 0;
    out[i] = inside ? in[src++] : (int8_t)p->pad_value;
    for (d = 5; d >= 0; --d) {
      if (++idx[d] < dout[d]) break;
      idx[d] = 0;
    }
  }
}
void at_pad_eval(const at_model *m, const at_pad_params *p) AT_REPLACEABLE(at_pad_eval_reference);
