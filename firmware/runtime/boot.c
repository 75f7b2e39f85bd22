/* The reset and reporting code every autotiny firmware shares (boot.h). */
#include "boot.h"

__attribute__((section(".mailbox"), used)) volatile at_mailbox at_mb;

typedef char at_mailbox_is_256_bytes[sizeof(at_mailbox) == 256u ? 1 : -1];

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
  at_mb.status = AT_STATUS_FAULT;
  autotiny_done();
}
