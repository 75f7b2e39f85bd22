/* autotiny model blob: on-flash format shared by the host generator
 * (autotiny/blob/format.py) and the runtime.  All fields little-endian, all records
 * word-aligned so a Cortex-M can read them in place.  See firmware/README.md. */
#ifndef AT_BLOB_H
#define AT_BLOB_H

#include <stdint.h>

#define AT_BLOB_MAGIC 0x594E5441u /* "ATNY" read as a little-endian word */
#define AT_BLOB_VERSION 1u
#define AT_HEADER_SIZE 128u
#define AT_MAX_DIMS 6
#define AT_CRC_START 16u /* CRC-32 covers bytes [16, total_size) */

/* tensor element types */
enum { AT_INT8 = 1, AT_INT32 = 2, AT_FLOAT32 = 3, AT_INT16 = 4, AT_INT64 = 5 };
/* tensor storage */
enum { AT_STORE_ARENA = 0, AT_STORE_BLOB = 1 };

/* Op codes are numbered by the op table (op_table.c, mirrored by the Python
 * lowering modules in autotiny/blob/lower/): stable, part of the format. */

typedef struct {
  uint16_t tensor;
  uint8_t dtype;
  uint8_t ndim;
  int32_t dims[AT_MAX_DIMS];
  uint32_t scale_bits; /* float32 bit pattern */
  int32_t zero_point;
} at_io_desc; /* 36 bytes */

typedef struct {
  uint32_t magic;
  uint16_t version;
  uint16_t header_size;
  uint32_t total_size;
  uint32_t crc32;
  uint32_t arena_size;
  uint16_t n_tensors;
  uint16_t n_ops;
  uint32_t tensors_offset;
  uint32_t ops_offset;
  uint32_t ops_size;
  uint32_t data_offset;
  uint32_t flags;
  at_io_desc input;
  at_io_desc output;
  uint32_t reserved[3];
} at_header; /* 128 bytes */

typedef struct {
  uint8_t dtype;
  uint8_t ndim;
  uint8_t storage;
  uint8_t reserved;
  int32_t dims[AT_MAX_DIMS];
  uint32_t offset; /* into the arena or into the blob */
  uint32_t nbytes;
  int32_t zero_point;
  uint32_t scale_bits;
} at_tensor; /* 44 bytes */

/* An op record in the op section: a word of {opcode:16, n_words:16} followed
 * by n_words int32 parameters (tensor indices first, see kernels.h). */

#endif
