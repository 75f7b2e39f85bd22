/* Model slots for over-the-air updates: the blob flash region holds N equal slots (A/B by
 * default, board.model_slots); each slot is a 128-byte slot header followed by a model blob.
 * At reset the firmware runs the valid slot with the highest model version; a slot that fails
 * a check is skipped and its reason is reported (mailbox, firmware/README.md).  Mirrored by
 * autotiny/slots.py. */
#ifndef AT_SLOTS_H
#define AT_SLOTS_H

#include <stdint.h>

#include "at_runtime.h"

/* This runtime's version (major.minor.patch as 0x00MMmmpp).  A slot header names the minimum
 * runtime its blob needs; bump the minor when the runtime learns an op or a blob feature. */
#define AT_RUNTIME_VERSION 0x00010000u
#define AT_SLOT_MAGIC 0x4C535441u /* "ATSL" read as a little-endian word */
#define AT_SLOT_FORMAT 1u
#define AT_SLOT_HEADER_SIZE 128u
#define AT_MAX_SLOTS 8u
#define AT_SLOT_NONE 0xFFFFFFFFu /* no slot header anywhere: a bare blob in slot 0 runs */
/* main status when slot headers exist but none holds a model this firmware can run */
#define AT_STATUS_NO_SLOT 0x534C5400u /* "SLT" */

typedef struct {
  uint32_t magic;
  uint16_t format;
  uint16_t header_size;
  uint16_t major, minor, patch, reserved0; /* the model's semantic version */
  uint32_t blob_size;
  uint32_t blob_crc32;     /* CRC-32 (zlib) of the blob's blob_size bytes */
  uint32_t signature;      /* at_signature() of the blob: its input/output types and shapes */
  uint32_t min_runtime;    /* the oldest AT_RUNTIME_VERSION that runs the blob */
  uint8_t sha256[32];      /* of the blob, for tools (the firmware checks the CRC-32) */
  uint32_t reserved[15];
  uint32_t header_crc32;   /* CRC-32 of the 124 bytes before it */
} at_slot_header;          /* 128 bytes */

/* why a slot is or is not running (mailbox words 20.., autotiny/slots.py SLOT_STATUS) */
enum {
  AT_SLOT_ACTIVE = 0,        /* the model running */
  AT_SLOT_EMPTY = 1,         /* no slot header (erased) */
  AT_SLOT_BAD_HEADER = 2,    /* slot header CRC, format or size field wrong */
  AT_SLOT_TOO_LARGE = 3,     /* the blob does not fit the slot */
  AT_SLOT_BAD_CRC = 4,       /* content CRC-32 mismatch: corrupted or incompletely written */
  AT_SLOT_RUNTIME_OLD = 5,   /* the blob needs a newer runtime than this firmware's */
  AT_SLOT_BAD_SIGNATURE = 6, /* input/output types or shapes differ from the application's */
  AT_SLOT_NO_FIT = 7,        /* the blob fails the runtime's checks or does not fit the arena/output */
  AT_SLOT_OLDER = 8          /* valid, but another valid slot has a newer version (the fallback) */
};

/* CRC-32 of the blob header's input and output types and shapes (dtype, rank, dims of each:
 * what an application's buffers are sized for; not the quantisation, which it reads at run time). */
uint32_t at_signature(const at_header *h);

/* Check one slot (capacity bytes at slot) against this firmware; expected_signature 0 = any. */
uint32_t at_slot_check(const uint8_t *slot, uint32_t capacity, uint32_t expected_signature);

/* Pick and load the model: the valid slot with the highest version, falling back to older
 * valid slots when one fails to load or to fit (arena_capacity, output_capacity).  status[i]
 * gets each slot's reason, *active the slot chosen (AT_SLOT_NONE: no slot header anywhere, the
 * bare blob at base was loaded).  Returns AT_OK, the bare blob's load status, or
 * AT_STATUS_NO_SLOT. */
int at_slots_select(at_model *m, const uint8_t *base, uint32_t slot_size, uint32_t n_slots,
                    uint32_t expected_signature, uint32_t arena_capacity, uint32_t output_capacity,
                    uint32_t status[], uint32_t *active);

#endif
