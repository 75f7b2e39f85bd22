/* What every autotiny firmware shares at reset and when it reports (firmware/main.c runs the network,
 * firmware/frontends/fe_main.c a device front-end): the 256-byte mailbox at a fixed address (the
 * linker script's .mailbox) and the hooks the emulator breaks on.  Mailbox words 0-4 mean the same in
 * every firmware (magic, status, the layer marker); words 5-63 are the main's own, its struct laid over
 * `own` (firmware/README.md lists them).  The host library (autotiny/runtime.py) compiles it too and
 * never calls it. */
#ifndef AT_BOOT_H
#define AT_BOOT_H

#include <stdint.h>

#include "at_runtime.h"

#define AT_MAILBOX_MAGIC 0x424D5441u /* "ATMB" */
#define AT_MAILBOX_OWN_WORDS 59u

typedef struct {
  uint32_t magic;
  volatile uint32_t status; /* AT_STATUS_RUNNING (at_runtime.h) until the main writes its result */
  volatile uint32_t layer;  /* index of the op running, 0xFFFFFFFF outside ops */
  volatile uint32_t opcode; /* its op code */
  volatile uint32_t phase;  /* 0 = op started, 1 = op finished */
  uint32_t own[AT_MAILBOX_OWN_WORDS];
} at_mailbox; /* 256 bytes */

extern volatile at_mailbox at_mb;

/* words 0-4 at reset: the firmware runs, no op yet (inline: three stores, as each main had them) */
static inline void at_boot(void) {
  at_mb.magic = AT_MAILBOX_MAGIC;
  at_mb.status = AT_STATUS_RUNNING;
  at_mb.layer = 0xFFFFFFFFu;
}

/* Emulator hooks: breakpoints on these symbols attribute cycles to layers and end the run. */
void autotiny_layer_boundary(uint32_t op, uint32_t opcode, uint32_t phase);
__attribute__((noreturn)) void autotiny_done(void);
/* every fault and unexpected interrupt ends here (boards/startup.c) */
__attribute__((noreturn)) void autotiny_fault(void);

#endif
