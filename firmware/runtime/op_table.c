/* The op table: the one place the C runtime spells its op set.
 *
 * One row per blob op code: code, name, parameter record (kernels.h), load-time
 * check, kernel.  The codes are part of the blob format and are assigned on the
 * Python side by the lowering modules (autotiny/blob/lower/); tests/unit/test_op_table.py
 * checks that this table and the Python one agree, code for code and name for name.
 * Adding an op: a kernel file, its record and entry points in kernels.h, one row here.
 * A variant for other tensor types (the 16x8 rows) is a row of its own: the lowering picks
 * the row by the tensors' types, so a kernel never branches on a dtype. */
#include "kernels.h"
#include "op_table.h"

#define AT_OPS(FIXED, VARIABLE)                                                          \
  FIXED(1, CONV_2D, at_conv_params, at_conv_check, at_conv_eval)                         \
  FIXED(2, DEPTHWISE_CONV_2D, at_dwconv_params, at_dwconv_check, at_dwconv_eval)         \
  FIXED(3, FULLY_CONNECTED, at_fc_params, at_fc_check, at_fc_eval)                       \
  FIXED(4, AVERAGE_POOL_2D, at_pool_params, at_pool_check, at_avgpool_eval)              \
  FIXED(5, MAX_POOL_2D, at_pool_params, at_pool_check, at_maxpool_eval)                  \
  FIXED(6, ADD, at_add_params, at_add_check, at_add_eval)                                \
  FIXED(7, MEAN, at_mean_params, at_mean_check, at_mean_eval)                            \
  FIXED(8, PAD, at_pad_params, at_pad_check, at_pad_eval)                                \
  FIXED(9, RESHAPE, at_reshape_params, at_reshape_check, at_reshape_eval)                \
  FIXED(10, SOFTMAX, at_softmax_params, at_softmax_check, at_softmax_eval)               \
  FIXED(11, QUANTIZE, at_quantize_params, at_quantize_check, at_quantize_eval)           \
  FIXED(12, DEQUANTIZE, at_quantize_params, at_dequantize_check, at_dequantize_eval)     \
  FIXED(13, REQUANTIZE, at_requantize_params, at_requantize_check, at_requantize_eval)   \
  VARIABLE(14, CONCATENATION, at_concat_params, at_concat_check, at_concat_eval)

/* The 16x8 rows (int16 activations, int8 weights), linked only into a firmware built for a
 * model that uses them (autotiny.firmware: -DAT_WITH_16X8; ~8 KB of flash at -O3). */
#ifdef AT_WITH_16X8
#define AT_OPS_16X8(FIXED)                                                                     \
  FIXED(15, CONV_2D_16X8, at_conv_params, at_conv16x8_check, at_conv16x8_eval)                 \
  FIXED(16, DEPTHWISE_CONV_2D_16X8, at_dwconv_params, at_dwconv16x8_check, at_dwconv16x8_eval) \
  FIXED(17, FULLY_CONNECTED_16X8, at_fc_params, at_fc16x8_check, at_fc16x8_eval)               \
  FIXED(18, AVERAGE_POOL_2D_INT16, at_pool_params, at_pool16_check, at_avgpool16_eval)         \
  FIXED(19, MAX_POOL_2D_INT16, at_pool_params, at_pool16_check, at_maxpool16_eval)             \
  FIXED(20, ADD_INT16, at_add_params, at_add16_check, at_add16_eval)                           \
  FIXED(21, MEAN_INT16, at_mean_params, at_mean16_check, at_mean16_eval)                       \
  FIXED(22, SOFTMAX_INT16, at_softmax16_params, at_softmax16_check, at_softmax16_eval)         \
  FIXED(23, QUANTIZE_INT16, at_quantize_params, at_quantize16_check, at_quantize16_eval)       \
  FIXED(24, DEQUANTIZE_INT16, at_quantize_params, at_dequantize16_check, at_dequantize16_eval)
#else
#define AT_OPS_16X8(FIXED)
#endif

/* The sparse-filter decoder (autotiny/blob/sparse.py), likewise linked only into a firmware
 * built for a model that uses it (-DAT_WITH_SPARSE). */
#ifdef AT_WITH_SPARSE
#define AT_OPS_SPARSE(FIXED) \
  FIXED(25, DECODE_SPARSE_INT8, at_decode_sparse_params, at_decode_sparse_check, at_decode_sparse_eval)
#else
#define AT_OPS_SPARSE(FIXED)
#endif

#define AT_N_WORDS(T) ((uint32_t)(sizeof(T) / sizeof(int32_t)))

/* Adapters from the table's untyped entries to the typed kernels.  A fixed-size
 * record must have exactly its struct's word count; a variable one checks itself. */
#define AT_ADAPT_FIXED(CODE, NAME, T, CHECK, EVAL)                                      \
  static int at_check_##NAME(const at_model *m, const void *w, uint32_t n_words) {      \
    return n_words == AT_N_WORDS(T) ? CHECK(m, (const T *)w) : AT_ERR_BAD_TABLE;        \
  }                                                                                     \
  static void at_eval_##NAME(const at_model *m, const void *w) { EVAL(m, (const T *)w); }
#define AT_ADAPT_VARIABLE(CODE, NAME, T, CHECK, EVAL)                                   \
  static int at_check_##NAME(const at_model *m, const void *w, uint32_t n_words) {      \
    return CHECK(m, (const T *)w, n_words);                                             \
  }                                                                                     \
  static void at_eval_##NAME(const at_model *m, const void *w) { EVAL(m, (const T *)w); }

AT_OPS(AT_ADAPT_FIXED, AT_ADAPT_VARIABLE)
AT_OPS_16X8(AT_ADAPT_FIXED)
AT_OPS_SPARSE(AT_ADAPT_FIXED)

/* indexed by op code; a code used twice fails the build (-Woverride-init) */
#define AT_ROW(CODE, NAME, T, CHECK, EVAL) [CODE] = {#NAME, at_check_##NAME, at_eval_##NAME},
static const at_op at_ops[] = {AT_OPS(AT_ROW, AT_ROW) AT_OPS_16X8(AT_ROW) AT_OPS_SPARSE(AT_ROW)};

const at_op *at_op_find(uint32_t opcode) {
  if (opcode >= sizeof(at_ops) / sizeof(at_ops[0]) || at_ops[opcode].name == 0) return 0;
  return &at_ops[opcode];
}

const char *at_op_name(uint32_t opcode) {
  const at_op *op = at_op_find(opcode);
  return op ? op->name : 0;
}
