/* autotiny model blob: on-flash format shared by the host generator
 * (autotiny/blob.py) and the runtime.  All fields little-endian, all records
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
enum { AT_INT8 = 1, AT_INT32 = 2, AT_FLOAT32 = 3 };
/* tensor storage */
enum { AT_STORE_ARENA = 0, AT_STORE_BLOB = 1 };

/* op codes (stable numbering: part of the blob format) */
enum {
  AT_OP_CONV_2D = 1,
  AT_OP_DEPTHWISE_CONV_2D = 2,
  AT_OP_FULLY_CONNECTED = 3,
  AT_OP_AVERAGE_POOL_2D = 4,
  AT_OP_MAX_POOL_2D = 5,
  AT_OP_ADD = 6,
  AT_OP_MEAN = 7,
  AT_OP_PAD = 8,
  AT_OP_RESHAPE = 9,
  AT_OP_SOFTMAX = 10,
  AT_OP_QUANTIZE = 11,   /* float32 -> int8 */
  AT_OP_DEQUANTIZE = 12, /* int8 -> float32 */
  AT_OP_REQUANTIZE = 13, /* int8 -> int8 (QUANTIZE with int8 input) */
  AT_OP_CONCATENATION = 14,
  AT_OP_COUNT_ = 15
};

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
