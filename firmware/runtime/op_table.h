/* The op table's entry type and lookup (the table itself: op_table.c). */
#ifndef AT_OP_TABLE_H
#define AT_OP_TABLE_H

#include "at_runtime.h"

typedef struct {
  const char *name; /* the blob op name, as in autotiny/blob/lower/ */
  /* validate a record of n_words parameters against the tensor table (at load time) */
  int (*check)(const at_model *m, const void *params, uint32_t n_words);
  /* run the op (only on records that passed check) */
  void (*eval)(const at_model *m, const void *params);
} at_op;

/* The entry for an op code; 0 for an op code the runtime does not know. */
const at_op *at_op_find(uint32_t opcode);

#endif
