/* CONCATENATION, int8 (TFLM copies the bytes of each input, no rescaling). */
#include <string.h>

#include "kernel_util.h"
#include "kernels.h"

int at_concat_check(const at_model *m, const at_concat_params *p, uint32_t n_words) {
  const at_tensor *out;
  int64_t chunk_sum = 0;
  int32_t i;
  if (n_words < 3 || p->n_inputs < 1 || n_words != 3u + 2u * (uint32_t)p->n_inputs) return AT_ERR_BAD_TABLE;
  out = at_tensor_checked(m, p->output, AT_INT8, 0, AT_MAX_DIMS);
  if (!out || out->storage != AT_STORE_ARENA || p->outer < 1) return AT_ERR_BAD_PARAMS;
  for (i = 0; i < p->n_inputs; ++i) {
    const at_tensor *in = at_tensor_checked(m, p->inputs[i][0], AT_INT8, 0, AT_MAX_DIMS);
    if (!in || p->inputs[i][1] < 0 || (int64_t)p->inputs[i][1] * p->outer != (int64_t)in->nbytes)
      return AT_ERR_BAD_PARAMS;
    chunk_sum += p->inputs[i][1];
  }
  if (chunk_sum * p->outer != (int64_t)out->nbytes) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_concat_eval_reference(const at_model *m, const at_concat_params *p) {
  uint8_t *out = (uint8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  int32_t o, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->n_inputs; ++i) {
      const int32_t chunk = p->inputs[i][1];
      const uint8_t *in = (const uint8_t *)at_tensor_ptr(m, (uint32_t)p->inputs[i][0]);
      memcpy(out, in + (size_t)o * (size_t)chunk, (size_t)chunk);
      out += chunk;
    }
  }
}
void at_concat_eval(const at_model *m, const at_concat_params *p) AT_REPLACEABLE(at_concat_eval_reference);
