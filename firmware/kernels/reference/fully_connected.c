/* FULLY_CONNECTED, int8, per-tensor or per-channel weights
 * (TFLM reference_integer_ops::FullyConnected / FullyConnectedPerChannel), and
 * FULLY_CONNECTED_16X8: int16 activations (zero point 0), int8 weights, int64 bias and
 * accumulator. */
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

static int at_fc_check_typed(const at_model *m, const at_fc_params *p, int act, int bias) {
  const at_tensor *in = at_tensor_checked(m, p->input, act, 1, AT_MAX_DIMS);
  const at_tensor *f = at_tensor_checked(m, p->filter, AT_INT8, 2, 2);
  const at_tensor *out = at_tensor_checked(m, p->output, act, 1, AT_MAX_DIMS);
  const at_tensor *tm = at_tensor_checked(m, p->multipliers, AT_INT32, 1, 1);
  const at_tensor *ts = at_tensor_checked(m, p->shifts, AT_INT32, 1, 1);
  int32_t units, depth, batches;
  if (!in || !f || !out || !tm || !ts || out->storage != AT_STORE_ARENA) return AT_ERR_BAD_PARAMS;
  units = f->dims[0];
  depth = f->dims[1];
  if (at_elem_count(in) % depth != 0 || at_elem_count(out) % units != 0) return AT_ERR_BAD_PARAMS;
  batches = at_elem_count(in) / depth;
  if (batches * units != at_elem_count(out)) return AT_ERR_BAD_PARAMS;
  if (tm->dims[0] != ts->dims[0] || (tm->dims[0] != 1 && tm->dims[0] != units))
    return AT_ERR_BAD_PARAMS;
  if (p->act_min > p->act_max) return AT_ERR_BAD_PARAMS;
  return at_check_bias_typed(m, p->bias, units, bias);
}

int at_fc_check(const at_model *m, const at_fc_params *p) { return at_fc_check_typed(m, p, AT_INT8, AT_INT32); }

int at_fc16x8_check(const at_model *m, const at_fc_params *p) {
  if (p->input_offset != 0 || p->output_offset != 0) return AT_ERR_BAD_PARAMS; /* symmetric int16 */
  return at_fc_check_typed(m, p, AT_INT16, AT_INT64);
}

void at_fc_eval_reference(const at_model *m, const at_fc_params *p) {
  const at_tensor *tf = &m->tensors[p->filter];
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  const int32_t *bias = p->bias >= 0 ? (const int32_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  const int per_channel = m->tensors[p->multipliers].dims[0] > 1;
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t units = tf->dims[0], depth = tf->dims[1];
  const int32_t batches = at_elem_count(&m->tensors[p->input]) / depth;
  int32_t b, u, d;
  for (b = 0; b < batches; ++b) {
    const int8_t *x = in + b * depth;
    for (u = 0; u < units; ++u) {
      const int8_t *w = filter + u * depth;
      const int c = per_channel ? (int)u : 0;
      int32_t acc = 0;
      for (d = 0; d < depth; ++d)
        acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
      if (bias) acc += bias[u];
      acc = at_mbqm(acc, mult[c], shift[c]) + p->output_offset;
      out[b * units + u] = (int8_t)at_clamp(acc, p->act_min, p->act_max);
    }
  }
}
void at_fc_eval(const at_model *m, const at_fc_params *p) AT_REPLACEABLE(at_fc_eval_reference);

void at_fc16x8_eval_reference(const at_model *m, const at_fc_params *p) {
  const at_tensor *tf = &m->tensors[p->filter];
  const int16_t *in = (const int16_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  const int64_t *bias = p->bias >= 0 ? (const int64_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  const int per_channel = m->tensors[p->multipliers].dims[0] > 1;
  int16_t *out = (int16_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t units = tf->dims[0], depth = tf->dims[1];
  const int32_t batches = at_elem_count(&m->tensors[p->input]) / depth;
  int32_t b, u, d, v;
  for (b = 0; b < batches; ++b) {
    const int16_t *x = in + b * depth;
    for (u = 0; u < units; ++u) {
      const int8_t *w = filter + u * depth;
      const int c = per_channel ? (int)u : 0;
      int64_t acc = 0;
      for (d = 0; d < depth; ++d) acc += ((int32_t)w[d] + p->filter_offset) * (int32_t)x[d];
      if (bias) acc += bias[u];
      v = at_mbqm64(acc, mult[c], shift[c]);
      out[b * units + u] = (int16_t)at_clamp(v, p->act_min, p->act_max);
    }
  }
}
void at_fc16x8_eval(const at_model *m, const at_fc_params *p) AT_REPLACEABLE(at_fc16x8_eval_reference);
