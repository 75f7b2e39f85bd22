/* Front-end measurement firmware: run a device front-end (at_fe_run, fe.h) once on a raw input the host wrote,
 * bracketed by the same layer-boundary hook the network firmware uses (firmware/main.c), so the
 * emulator attributes the front-end's cycles exactly (autotiny/frontends/device.py).
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

#define AT_MAILBOX_MAGIC 0x424D5441u /* "ATMB" */
#define FE_STATUS_RUNNING 0x52554E00u
#define FE_STATUS_FAULT 0x46415400u
#define FE_OPCODE 0x100u
#define ALIGN16(x) (((x) + 15u) & ~15u)

typedef struct {
  uint32_t magic;
  volatile uint32_t status, layer, opcode, phase;
  uint32_t input_addr, out_addr, float_addr;
  volatile float scale;          /* host-written */
  volatile int32_t zero_point;   /* host-written */
  volatile uint32_t want_float;  /* host-written */
  uint32_t rows, cols;
  uint32_t reserved[51];
} fe_mailbox; /* 256 bytes */

extern uint8_t __arena_start[];
__attribute__((section(".mailbox"), used)) volatile fe_mailbox at_mb;

__attribute__((noinline, used)) void autotiny_layer_boundary(uint32_t op, uint32_t opcode, uint32_t phase) {
  at_mb.layer = phase ? 0xFFFFFFFFu : op;
  at_mb.opcode = opcode;
  at_mb.phase = phase;
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline, noreturn, used)) void autotiny_done(void) {
  for (;;) __asm__ volatile("nop" ::: "memory");
}

__attribute__((noreturn)) void autotiny_fault(void) {
  at_mb.status = FE_STATUS_FAULT;
  autotiny_done();
}

int main(void) {
  const void *input = (const void *)__arena_start;
  int8_t *out = (int8_t *)(__arena_start + ALIGN16(FE_INPUT_BYTES));
  float *fl = (float *)(void *)((uint8_t *)out + ALIGN16(FE_OUT_ROWS * FE_OUT_COLS));
  int st;

  at_mb.magic = AT_MAILBOX_MAGIC;
  at_mb.status = FE_STATUS_RUNNING;
  at_mb.input_addr = (uint32_t)(uintptr_t)input;
  at_mb.out_addr = (uint32_t)(uintptr_t)out;
  at_mb.float_addr = (uint32_t)(uintptr_t)fl;
  at_mb.rows = FE_OUT_ROWS;
  at_mb.cols = FE_OUT_COLS;
  autotiny_layer_boundary(0, FE_OPCODE, 0);
  st = at_fe_run(input, out, at_mb.scale, at_mb.zero_point, at_mb.want_float ? fl : (float *)0);
  autotiny_layer_boundary(0, FE_OPCODE, 1);
  at_mb.status = (uint32_t)st;
  autotiny_done();
  return 0;
}
