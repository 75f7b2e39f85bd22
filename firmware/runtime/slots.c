/* Model slots: which slot's model runs (see slots.h).  Runs once, at reset: every function is
 * `cold`, which GCC optimises for size (at -O3 the slot logic is 554 B instead of 1,600 B). */
#include "slots.h"

#include <stddef.h>

#define AT_BOOT_ONLY __attribute__((cold))

AT_BOOT_ONLY uint32_t at_signature(const at_header *h) {
  uint8_t buf[2 * 26];
  const uint8_t *in = (const uint8_t *)&h->input, *out = (const uint8_t *)&h->output;
  uint32_t i;
  for (i = 0; i < 26; ++i) { /* dtype, ndim, dims[6]: bytes 2..27 of each io descriptor */
    buf[i] = in[2 + i];
    buf[26 + i] = out[2 + i];
  }
  return at_crc32(buf, sizeof buf);
}

AT_BOOT_ONLY uint32_t at_slot_check(const uint8_t *slot, uint32_t capacity, uint32_t expected_signature) {
  const at_slot_header *s = (const at_slot_header *)slot;
  const at_header *h = (const at_header *)(slot + AT_SLOT_HEADER_SIZE);
  if (s->magic != AT_SLOT_MAGIC) return AT_SLOT_EMPTY;
  if (at_crc32(slot, offsetof(at_slot_header, header_crc32)) != s->header_crc32 || s->format != AT_SLOT_FORMAT ||
      s->header_size != AT_SLOT_HEADER_SIZE)
    return AT_SLOT_BAD_HEADER;
  if (capacity < AT_SLOT_HEADER_SIZE || s->blob_size > capacity - AT_SLOT_HEADER_SIZE) return AT_SLOT_TOO_LARGE;
  if (s->blob_size < AT_HEADER_SIZE || at_crc32(slot + AT_SLOT_HEADER_SIZE, s->blob_size) != s->blob_crc32)
    return AT_SLOT_BAD_CRC;
  if (s->min_runtime > AT_RUNTIME_VERSION) return AT_SLOT_RUNTIME_OLD;
  if (at_signature(h) != s->signature || (expected_signature != 0u && s->signature != expected_signature))
    return AT_SLOT_BAD_SIGNATURE;
  return AT_SLOT_ACTIVE; /* valid; at_slots_select decides which valid slot runs */
}

AT_BOOT_ONLY static uint64_t at_slot_version(const uint8_t *slot) {
  const at_slot_header *s = (const at_slot_header *)slot;
  return ((uint64_t)s->major << 32) | ((uint64_t)s->minor << 16) | s->patch;
}

AT_BOOT_ONLY int at_slots_select(at_model *m, const uint8_t *base, uint32_t slot_size, uint32_t n_slots,
                    uint32_t expected_signature, uint32_t arena_capacity, uint32_t output_capacity,
                    uint32_t status[], uint32_t *active) {
  uint32_t i, headers = 0;
  if (n_slots > AT_MAX_SLOTS) n_slots = AT_MAX_SLOTS;
  for (i = 0; i < n_slots; ++i) {
    status[i] = at_slot_check(base + i * slot_size, slot_size, expected_signature);
    if (status[i] != AT_SLOT_EMPTY) headers = 1;
  }
  *active = AT_SLOT_NONE;
  if (!headers) return at_model_load(m, base, slot_size); /* a bare blob (factory image, measurement) */
  for (;;) {
    uint32_t best = AT_SLOT_NONE;
    const at_header *h;
    for (i = 0; i < n_slots; ++i) /* the newest valid slot not yet tried; the lower index on a tie */
      if (status[i] == AT_SLOT_ACTIVE &&
          (best == AT_SLOT_NONE || at_slot_version(base + i * slot_size) > at_slot_version(base + best * slot_size)))
        best = i;
    if (best == AT_SLOT_NONE) return (int)AT_STATUS_NO_SLOT;
    /* the slot's CRC-32 covered the whole blob: the load skips the blob's own */
    if (at_model_load_flags(m, base + best * slot_size + AT_SLOT_HEADER_SIZE, slot_size - AT_SLOT_HEADER_SIZE,
                            AT_LOAD_SKIP_CRC) == AT_OK) {
      h = m->hdr;
      if (h->arena_size <= arena_capacity && m->tensors[h->output.tensor].nbytes <= output_capacity &&
          m->tensors[h->input.tensor].offset == 0) {
        for (i = 0; i < n_slots; ++i)
          if (status[i] == AT_SLOT_ACTIVE && i != best) status[i] = AT_SLOT_OLDER;
        *active = best;
        return AT_OK;
      }
    }
    status[best] = AT_SLOT_NO_FIT;
  }
}
