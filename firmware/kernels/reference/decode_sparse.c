/* DECODE_SPARSE_INT8: expands a sparse-encoded int8 filter (autotiny/blob/sparse.py) into its
 * arena copy, just before the op that reads it.  Encoding: a mask of ceil(n/8) bytes (bit i,
 * LSB first, set = element i non-zero), then the non-zero values in order; the encoding's
 * tensor holds exactly these bytes. */
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
  if (!src || !dst || src->storage != AT_STORE_BLOB || dst->storage != AT_STORE_ARENA || (dst->offset & 3u))
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
  uint32_t i, bits;
  /* zero 8 elements, then place only the set bits' values: a pruned filter's mask bytes are
   * mostly 0 or hold a bit or two, so per-bit work would dominate */
  for (i = 0; i + 8u <= n; i += 8u, out += 8) {
    bits = *mask++;
    ((uint32_t *)(void *)out)[0] = 0u; /* word-aligned (check); no memset: it would cost 160 B */
    ((uint32_t *)(void *)out)[1] = 0u;
    for (; bits != 0u; bits &= bits - 1u) out[__builtin_ctz(bits)] = *v++;
  }
  if (i < n) { /* a last partial byte (the check refused bits past n) */
    for (bits = 0u; bits < n - i; ++bits) out[bits] = 0;
    for (bits = *mask; bits != 0u; bits &= bits - 1u) out[__builtin_ctz(bits)] = *v++;
  }
}
void at_decode_sparse_eval(const at_model *m, const at_decode_sparse_params *p)
    AT_REPLACEABLE(at_decode_sparse_eval_reference);
