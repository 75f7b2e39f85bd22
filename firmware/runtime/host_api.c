/* Host-side entry points for the Python binding (autotiny/runtime.py).
 * Not linked into the firmware. */
#include <string.h>

#include "at_runtime.h"

int at_host_validate(const void *blob, uint32_t len) {
  at_model m;
  return at_model_load(&m, blob, len);
}

/* Load (checking the CRC unless verify_crc is 0), copy the input into its
 * arena slot, run, copy the output out. */
int at_host_run(const void *blob, uint32_t len, uint8_t *arena, uint32_t arena_len,
                const void *input, uint32_t input_len, void *output, uint32_t output_len,
                int verify_crc) {
  at_model m;
  const at_tensor *ti, *to;
  int st = at_model_load_flags(&m, blob, len, verify_crc ? 0u : AT_LOAD_SKIP_CRC);
  if (st != AT_OK) return st;
  ti = &m.tensors[m.hdr->input.tensor];
  to = &m.tensors[m.hdr->output.tensor];
  if (ti->nbytes != input_len || to->nbytes != output_len) return AT_ERR_BAD_IO;
  if (arena_len < m.hdr->arena_size) return AT_ERR_ARENA_TOO_SMALL;
  m.arena = arena;
  memcpy(at_tensor_ptr(&m, m.hdr->input.tensor), input, input_len);
  st = at_model_invoke(&m, arena, arena_len, 0);
  if (st != AT_OK) return st;
  memcpy(output, at_tensor_ptr(&m, m.hdr->output.tensor), output_len);
  return AT_OK;
}
