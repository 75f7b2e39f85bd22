/* Front-end measurement firmware: run a device front-end (at_fe_run, fe.h) once on a raw input the host wrote,
 * bracketed by the layer-boundary hook the network firmware uses too (firmware/runtime/boot.c: the reset,
 * the mailbox's first words and the emulator hooks), so the emulator attributes the front-end's cycles
 * exactly (autotiny/frontends/device.py).
 *
 * RAM (from the start of the arena region): the raw input (FE_INPUT_BYTES: an int16 clip, an IMU
 * window, an image) at +0, written by the host before reset; the int8 features after it (16-byte
 * aligned); the float features after those when the host asks for them (mailbox word 10), for
 * matching only.  Mailbox words: 0 magic, 1 status (0 = ok), 2-4 layer marker, 5-7 input/features/
 * float addresses, 8 input scale (float bits) and 9 zero point, written by the host, 10 float
 * features wanted, 11-12 feature rows and columns.  FE_* sizes: fe_tables.h, generated per
 * front-end and parameters by autotiny/frontends/device.py. */
#include <stdint.h>

#include "fe.h"
#include "fe_tables.h"
#include "runtime/boot.h"

#define FE_OPCODE 0x100u
#define ALIGN16(x) (((x) + 15u) & ~15u)

typedef struct {
  uint32_t input_addr, out_addr, float_addr; /* 5-7 */
  volatile float scale;          /* 8, host-written */
  volatile int32_t zero_point;   /* 9, host-written */
  volatile uint32_t want_float;  /* 10, host-written */
  uint32_t rows, cols;           /* 11, 12 */
  uint32_t reserved[51];
} fe_words; /* mailbox words 5..63, after boot.h's */

typedef char fe_words_fit[sizeof(fe_words) == sizeof(at_mb.own) ? 1 : -1];
static volatile fe_words *const mb = (volatile fe_words *)at_mb.own;

int main(void) {
  const void *input = (const void *)__arena_start;
  int8_t *out = (int8_t *)(__arena_start + ALIGN16(FE_INPUT_BYTES));
  float *fl = (float *)(void *)((uint8_t *)out + ALIGN16(FE_OUT_ROWS * FE_OUT_COLS));
  int st;

  at_boot();
  mb->input_addr = (uint32_t)(uintptr_t)input;
  mb->out_addr = (uint32_t)(uintptr_t)out;
  mb->float_addr = (uint32_t)(uintptr_t)fl;
  mb->rows = FE_OUT_ROWS;
  mb->cols = FE_OUT_COLS;
  autotiny_layer_boundary(0, FE_OPCODE, 0);
  st = at_fe_run(input, out, mb->scale, mb->zero_point, mb->want_float ? fl : (float *)0);
  autotiny_layer_boundary(0, FE_OPCODE, 1);
  at_mb.status = (uint32_t)st;
  autotiny_done();
  return 0;
}
