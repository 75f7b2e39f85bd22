/* autotiny int8 runtime: public API (portable C99, no malloc). */
#ifndef AT_RUNTIME_H
#define AT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "at_blob.h"

/* status codes (also written by the firmware to its mailbox) */
typedef enum {
  AT_OK = 0,
  AT_ERR_BAD_MAGIC = 1,
  AT_ERR_BAD_VERSION = 2,
  AT_ERR_BAD_SIZE = 3,      /* truncated blob or inconsistent total size */
  AT_ERR_BAD_CRC = 4,
  AT_ERR_BAD_TABLE = 5,     /* tensor/op tables out of bounds or inconsistent */
  AT_ERR_UNSUPPORTED_OP = 6,
  AT_ERR_BAD_PARAMS = 7,    /* op parameters inconsistent with tensor shapes */
  AT_ERR_ARENA_TOO_SMALL = 8,
  AT_ERR_BAD_IO = 9,        /* input/output buffer size mismatch */
  AT_ERR_OUTPUT_TOO_LARGE = 10,
  AT_ERR_BAD_ALIGNMENT = 11,
  AT_STATUS_RUNNING = 0x52554E00u, /* firmware: "RUN" while inference runs */
  AT_STATUS_FAULT = 0x46415400u    /* firmware: a fault handler was entered */
} at_status;

typedef struct {
  const uint8_t *blob;
  const at_header *hdr;
  const at_tensor *tensors;
  const uint8_t *ops;
  uint8_t *arena;
} at_model;

/* Called before each op (phase 0) and after it (phase 1). */
typedef void (*at_layer_hook)(uint32_t op_index, uint32_t opcode, uint32_t phase);

uint32_t at_crc32(const uint8_t *data, uint32_t len);

/* Validate a blob (magic, version, sizes, CRC, tables, op params) and bind
 * the model to it.  len is the number of readable bytes at blob. */
int at_model_load(at_model *m, const void *blob, uint32_t len);

/* The same with flags; AT_LOAD_SKIP_CRC is for a host that already verified
 * the CRC of an immutable copy (the firmware always checks it). */
#define AT_LOAD_SKIP_CRC 1u
int at_model_load_flags(at_model *m, const void *blob, uint32_t len, uint32_t flags);

/* Run all ops.  arena must be 16-byte aligned and at least arena_size bytes;
 * the input tensor must already be in place (at_input_ptr). */
int at_model_invoke(at_model *m, uint8_t *arena, uint32_t arena_len, at_layer_hook hook);

void *at_tensor_ptr(const at_model *m, uint32_t tensor_index);
const char *at_status_name(int status);
/* The op table's name for an op code ("CONV_2D" ...), 0 for an unknown code. */
const char *at_op_name(uint32_t opcode);

#endif
