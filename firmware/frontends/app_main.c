/* Application entry of an exported firmware with its device front-end (autotiny export; not used by
 * measurement): raw input -> at_fe_run (fe.h) -> the model's int8 input tensor -> the network.
 *
 * The raw input (FE_INPUT_BYTES: an int16 clip, a float32 sensor window, ...) sits at the arena start,
 * where the host / emulator / your driver writes it before reset, as in the front-end measurement
 * firmware (fe_main.c); the front-end writes the int8 features after it (16-byte aligned; FE_SCRATCH,
 * fe.h, after those), they are moved to arena offset 0, the network's input tensor, and the network
 * firmware (firmware/main.c, built with -Dmain=at_network_main by the export's Makefile) picks the
 * model, runs it and reports as it always does (at_output, mailbox, autotiny_done).  The input scale
 * and zero point are read from the model the slots select, so an update with other ones still gets
 * its input quantised right. */
#include <stdint.h>
#include <string.h>

#include "fe.h"
#include "fe_tables.h"
#include "model_spec.h"
#include "runtime/at_runtime.h"
#include "runtime/slots.h"

#if FE_OUT_ROWS * FE_OUT_COLS != AT_MODEL_INPUT_BYTES
#error "the front-end's features are not the model's input tensor"
#endif

#define APP_ALIGN16(x) (((x) + 15u) & ~15u)

extern const uint8_t __blob_start[], __slot_size[], __slot_count[];
extern uint8_t __arena_end[];
int at_network_main(void);
void autotiny_fault(void);

int main(void) {
  at_model m;
  uint32_t why[AT_MAX_SLOTS], slot;
  uint32_t arena = (uint32_t)(__arena_end - __arena_start);
  int8_t *features = (int8_t *)(__arena_start + APP_ALIGN16(FE_INPUT_BYTES));
  float scale = AT_MODEL_INPUT_SCALE;
  int32_t zero_point = AT_MODEL_INPUT_ZERO_POINT;

  if (at_slots_select(&m, __blob_start, (uint32_t)(uintptr_t)__slot_size, (uint32_t)(uintptr_t)__slot_count,
                      AT_MODEL_SIGNATURE, arena, AT_MODEL_OUTPUT_BYTES, why, &slot) == AT_OK) {
    memcpy(&scale, &m.hdr->input.scale_bits, sizeof scale);
    zero_point = m.hdr->input.zero_point;
  } /* else the network's own selection reports why */
  if (at_fe_run(__arena_start, features, scale, zero_point, (float *)0) != 0) autotiny_fault();
  memmove(__arena_start, features, FE_OUT_ROWS * FE_OUT_COLS);
  return at_network_main();
}
