/* autotiny firmware: run the model blob stored in its own flash region.
 *
 *  1. pick the model: the valid slot with the newest version (runtime/slots.h: slot header
 *     CRC, content CRC-32, runtime version, input/output signature), or, when no slot has a
 *     slot header, the bare blob at the start of the blob region (factory image, measurement);
 *     validate the blob (magic, version, sizes, CRC-32, tables, op params)
 *  2. the input tensor sits at arena offset 0 = __arena_start, a fixed address
 *     per board where the host / emulator writes the input before reset
 *  3. run every op; autotiny_layer_boundary(op, opcode, phase) marks the
 *     start (phase 0) and end (phase 1) of each layer for cycle attribution
 *  4. copy the output to at_output (fixed address), write the status to the
 *     mailbox (fixed address), and call autotiny_done()
 * Memory map and status codes: firmware/README.md. */
#include <stdint.h>
#include <string.h>

#include "runtime/at_runtime.h"
#include "runtime/boot.h"
#include "runtime/slots.h"

#define AT_OUTPUT_CAPACITY 3840u
/* The input/output signature the application is written for (an export's Makefile sets it
 * from its model_spec.h); 0 accepts any, as the measurement firmware does. */
#ifndef AT_EXPECTED_SIGNATURE
#define AT_EXPECTED_SIGNATURE 0u
#endif

typedef struct {
  uint32_t n_ops;        /* 5 */
  uint32_t input_addr, input_size;
  uint32_t output_addr, output_size;
  uint32_t arena_addr, arena_size, arena_capacity;
  uint32_t blob_addr, blob_size, blob_capacity;
  uint32_t n_slots;      /* 16: model slots in the blob region */
  uint32_t active_slot;  /* 17: the slot running, AT_SLOT_NONE for a bare blob */
  uint32_t version_major_minor, version_patch; /* 18, 19: its model version (major << 16 | minor) */
  uint32_t slot_status[AT_MAX_SLOTS]; /* 20..27: why each slot runs or not (slots.h) */
  uint32_t reserved[36];
} network_words; /* mailbox words 5..63, after boot.h's */

typedef char network_words_fit[sizeof(network_words) == sizeof(at_mb.own) ? 1 : -1];
static volatile network_words *const mb = (volatile network_words *)at_mb.own;

extern const uint8_t __blob_start[], __blob_end[];
extern const uint8_t __slot_size[], __slot_count[]; /* memory.ld: the blob region cut into slots */
extern uint8_t __arena_start[], __arena_end[];

__attribute__((section(".outbuf"), used, aligned(16))) uint8_t at_output[AT_OUTPUT_CAPACITY];

int main(void) {
  at_model m;
  const at_tensor *ti, *to;
  uint32_t arena_capacity = (uint32_t)(__arena_end - __arena_start);
  int st;

  at_boot();
  mb->blob_addr = (uint32_t)(uintptr_t)__blob_start;
  mb->blob_capacity = (uint32_t)(__blob_end - __blob_start);
  mb->arena_addr = (uint32_t)(uintptr_t)__arena_start;
  mb->arena_capacity = arena_capacity;

  mb->n_slots = (uint32_t)(uintptr_t)__slot_count;
  st = at_slots_select(&m, __blob_start, (uint32_t)(uintptr_t)__slot_size, mb->n_slots, AT_EXPECTED_SIGNATURE,
                       arena_capacity, AT_OUTPUT_CAPACITY, (uint32_t *)mb->slot_status, (uint32_t *)&mb->active_slot);
  if (st == AT_OK && mb->active_slot != AT_SLOT_NONE) {
    const at_slot_header *s = (const at_slot_header *)(__blob_start + mb->active_slot * (uint32_t)(uintptr_t)__slot_size);
    mb->version_major_minor = ((uint32_t)s->major << 16) | s->minor;
    mb->version_patch = s->patch;
  }
  if (st == AT_OK) {
    mb->blob_size = m.hdr->total_size;
    mb->arena_size = m.hdr->arena_size;
    mb->n_ops = m.hdr->n_ops;
    ti = &m.tensors[m.hdr->input.tensor];
    to = &m.tensors[m.hdr->output.tensor];
    mb->input_addr = (uint32_t)(uintptr_t)(__arena_start + ti->offset);
    mb->input_size = ti->nbytes;
    mb->output_addr = (uint32_t)(uintptr_t)at_output;
    mb->output_size = to->nbytes;
    if (ti->offset != 0) st = AT_ERR_BAD_TABLE; /* the planner pins the input at 0 */
    else if (to->nbytes > AT_OUTPUT_CAPACITY) st = AT_ERR_OUTPUT_TOO_LARGE;
    else if (m.hdr->arena_size > arena_capacity) st = AT_ERR_ARENA_TOO_SMALL;
  }
  if (st == AT_OK) st = at_model_invoke(&m, __arena_start, arena_capacity, autotiny_layer_boundary);
  if (st == AT_OK) memcpy(at_output, at_tensor_ptr(&m, m.hdr->output.tensor), to->nbytes);
  at_mb.status = (uint32_t)st;
  autotiny_done();
  return 0;
}
