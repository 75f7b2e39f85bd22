/* DECODE_SPARSE_INT8: expands a sparse-encoded int8 filter (autotiny/blob/sparse.py) into its
 * arena copy, just before the op that reads it.  Encoding: a mask of ceil(n/8) bytes (bit i,
 * LSB first, set = element i non-zero), then the non-zero values in order; the encoding's
 * tensor holds exactly these bytes. */
#include <string.h>

#include "kernel_util.h"
#include "kernels.h"

static uint32_t at_popcount8(uint32_t b) {
  static const uint8_t nibble[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
  return nibble[b & 15u] + nibble[(b >> 4) & 15u];
}

/* The sizes must agree before eval trusts them: a mask whose popcount asks for more values than
 * are stored would read past the tensor, one with fewer leaves bytes nothing decodes. */
int at_decode_sparse_check(const at_model *m, const at_decode_sparse_params *p) {
  const at_tensor *src = at_tensor_checked(m, p->input, AT_INT8, 1, 1);
  const at_tensor *dst = at_tensor_checked(m, p->output, AT_INT8, 1, AT_MAX_DIMS);
  const uint8_t *mask;
  uint32_t n, mask_bytes, ones = 0, i;
  if (!src || !dst || src->storage != AT_STORE_BLOB || dst->storage != AT_STORE_ARENA)
    return AT_ERR_BAD_PARAMS;
  n = dst->nbytes;
  mask_bytes = (n + 7u) / 8u;
  if (src->nbytes < mask_bytes) return AT_ERR_BAD_PARAMS;
  mask = (const uint8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  for (i = 0; i < mask_bytes; ++i) ones += at_popcount8(mask[i]);
  if ((n & 7u) && (mask[mask_bytes - 1] >> (n & 7u))) return AT_ERR_BAD_PARAMS; /* bits past the end */
  if (mask_bytes + ones != src->nbytes) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_decode_sparse_eval_reference(const at_model *m, const at_decode_sparse_params *p) {
  const uint32_t n = m->tensors[p->output].nbytes;
  const uint8_t *mask = (const uint8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *v = (const int8_t *)(mask + (n + 7u) / 8u);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  uint32_t i = 0, bits, k;
  for (; i + 8u <= n; i += 8u, out += 8) {
    bits = *mask++;
    if (bits == 0u) { /* pruned filters are mostly zero runs */
      memset(out, 0, 8);
    } else if (bits == 0xFFu) {
      memcpy(out, v, 8);
      v += 8;
    } else {
      for (k = 0; k < 8u; ++k, bits >>= 1) out[k] = (bits & 1u) ? *v++ : 0;
    }
  }
  for (bits = i < n ? *mask : 0u, k = 0; i < n; ++i, ++k, bits >>= 1) out[k] = (bits & 1u) ? *v++ : 0;
}
void at_decode_sparse_eval(const at_model *m, const at_decode_sparse_params *p)
    AT_REPLACEABLE(at_decode_sparse_eval_reference);
