/* RESHAPE (also SQUEEZE, EXPAND_DIMS): same bytes, new shape.  The planner
 * usually aliases input and output, in which case this is a no-op. */
#include <string.h>

#include "kernel_util.h"
#include "kernels.h"

int at_reshape_check(const at_model *m, const at_reshape_params *p) {
  const at_tensor *in = at_tensor_checked(m, p->input, 0, 0, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, 0, 0, AT_MAX_DIMS);
  if (!in || !out || out->storage != AT_STORE_ARENA || in->nbytes != out->nbytes ||
      in->dtype != out->dtype)
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_reshape_eval_reference(const at_model *m, const at_reshape_params *p) {
  const void *src = at_tensor_ptr(m, (uint32_t)p->input);
  void *dst = at_tensor_ptr(m, (uint32_t)p->output);
  if (src != dst) memmove(dst, src, m->tensors[p->output].nbytes);
}
void at_reshape_eval(const at_model *m, const at_reshape_params *p) AT_REPLACEABLE(at_reshape_eval_reference);
