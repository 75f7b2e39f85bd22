/* Op parameter records (the int32 words that follow each op header in the
 * blob) and the reference kernels' entry points.  Every field is an int32 so a
 * record is read in place from flash.  Tensor fields are indices into the
 * tensor table, -1 for an absent optional tensor.  Each op family lives in its
 * own .c file; op_table.c maps op codes to these functions (the one place the
 * op set is spelled on the C side); shared helpers are in kernel_util.h.
 *
 * Kernel sets (firmware/kernels/<set>/, the same file names in each): `reference` is the
 * portable, TFLM-bit-exact set and is always built; a faster set chosen for the core
 * (autotiny.targets) adds files whose at_<op>_eval replaces the reference one at link
 * time, because the reference's is a weak alias of at_<op>_eval_reference.  A faster
 * kernel calls at_<op>_eval_reference for the shapes it does not specialise. */
#ifndef AT_KERNELS_H
#define AT_KERNELS_H

#include "at_runtime.h"

#define AT_REPLACEABLE(reference) __attribute__((weak, alias(#reference)))

typedef struct {
  int32_t input, filter, bias, output, multipliers, shifts;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t input_offset, output_offset, act_min, act_max;
} at_conv_params;

typedef struct {
  int32_t input, filter, bias, output, multipliers, shifts;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t input_offset, output_offset, act_min, act_max;
  int32_t depth_multiplier;
} at_dwconv_params;

typedef struct {
  int32_t input, filter, bias, output, multipliers, shifts;
  int32_t input_offset, filter_offset, output_offset, act_min, act_max;
} at_fc_params;

typedef struct {
  int32_t input, output;
  int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
} at_pool_params;

typedef struct {
  int32_t input1, input2, output;
  int32_t input1_offset, input2_offset, output_offset, left_shift;
  int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift, act_min, act_max;
} at_add_params;

typedef struct {
  int32_t input, output, axis_mask, input_zero_point, output_zero_point;
  int32_t multiplier, shift; /* already divided by the element count */
} at_mean_params;

typedef struct {
  int32_t input, output, exp_lut, recip_lut, input_multiplier, input_shift;
} at_softmax16_params; /* the tables: 513 int16 each (softmax.c) */

typedef struct {
  int32_t input, output, pad_value;
  int32_t before[AT_MAX_DIMS]; /* leading padding per dim, right-aligned to 6 dims */
} at_pad_params;

typedef struct {
  int32_t input, output;
} at_reshape_params;

typedef struct {
  int32_t input, output, input_multiplier, input_left_shift, diff_min;
} at_softmax_params;

typedef struct {
  int32_t input, output, zero_point, scale_bits; /* QUANTIZE / DEQUANTIZE */
} at_quantize_params;

typedef struct {
  int32_t input, output, input_zero_point, output_zero_point, multiplier, shift;
} at_requantize_params;

/* variable length: output, n_inputs, outer, then n_inputs pairs (tensor, chunk bytes) */
typedef struct {
  int32_t output, n_inputs, outer;
  int32_t inputs[][2]; /* [n_inputs]: C99 flexible array member */
} at_concat_params;

typedef struct {
  int32_t input, output; /* the encoding (1-D int8 in the blob) -> the filter (int8 in the arena) */
} at_decode_sparse_params;

/* check: validate params against the tensor table (at load time) */
int at_conv_check(const at_model *m, const at_conv_params *p);
void at_conv_eval(const at_model *m, const at_conv_params *p);
void at_conv_eval_reference(const at_model *m, const at_conv_params *p);
int at_dwconv_check(const at_model *m, const at_dwconv_params *p);
void at_dwconv_eval(const at_model *m, const at_dwconv_params *p);
void at_dwconv_eval_reference(const at_model *m, const at_dwconv_params *p);
int at_fc_check(const at_model *m, const at_fc_params *p);
void at_fc_eval(const at_model *m, const at_fc_params *p);
void at_fc_eval_reference(const at_model *m, const at_fc_params *p);
int at_pool_check(const at_model *m, const at_pool_params *p);
void at_avgpool_eval(const at_model *m, const at_pool_params *p);
void at_avgpool_eval_reference(const at_model *m, const at_pool_params *p);
void at_maxpool_eval(const at_model *m, const at_pool_params *p);
void at_maxpool_eval_reference(const at_model *m, const at_pool_params *p);
int at_add_check(const at_model *m, const at_add_params *p);
void at_add_eval(const at_model *m, const at_add_params *p);
void at_add_eval_reference(const at_model *m, const at_add_params *p);
int at_mean_check(const at_model *m, const at_mean_params *p);
void at_mean_eval(const at_model *m, const at_mean_params *p);
void at_mean_eval_reference(const at_model *m, const at_mean_params *p);
int at_pad_check(const at_model *m, const at_pad_params *p);
void at_pad_eval(const at_model *m, const at_pad_params *p);
void at_pad_eval_reference(const at_model *m, const at_pad_params *p);
int at_reshape_check(const at_model *m, const at_reshape_params *p);
void at_reshape_eval(const at_model *m, const at_reshape_params *p);
void at_reshape_eval_reference(const at_model *m, const at_reshape_params *p);
int at_softmax_check(const at_model *m, const at_softmax_params *p);
void at_softmax_eval(const at_model *m, const at_softmax_params *p);
void at_softmax_eval_reference(const at_model *m, const at_softmax_params *p);
int at_quantize_check(const at_model *m, const at_quantize_params *p);
void at_quantize_eval(const at_model *m, const at_quantize_params *p);
void at_quantize_eval_reference(const at_model *m, const at_quantize_params *p);
int at_dequantize_check(const at_model *m, const at_quantize_params *p);
void at_dequantize_eval(const at_model *m, const at_quantize_params *p);
void at_dequantize_eval_reference(const at_model *m, const at_quantize_params *p);
int at_concat_check(const at_model *m, const at_concat_params *p, uint32_t n_words);
void at_concat_eval(const at_model *m, const at_concat_params *p);
void at_concat_eval_reference(const at_model *m, const at_concat_params *p);
int at_requantize_check(const at_model *m, const at_requantize_params *p);
void at_requantize_eval(const at_model *m, const at_requantize_params *p);
void at_requantize_eval_reference(const at_model *m, const at_requantize_params *p);
int at_decode_sparse_check(const at_model *m, const at_decode_sparse_params *p);
void at_decode_sparse_eval(const at_model *m, const at_decode_sparse_params *p);
void at_decode_sparse_eval_reference(const at_model *m, const at_decode_sparse_params *p);

/* 16x8 variants (int16 activations, int8 weights, int64 bias): the same records, their own
 * op codes, reference kernels in the same files; cortex_m_dsp replaces conv, depthwise and fully
 * connected (its README.md), the rest run the reference on every core. */
int at_conv16x8_check(const at_model *m, const at_conv_params *p);
void at_conv16x8_eval(const at_model *m, const at_conv_params *p);
void at_conv16x8_eval_reference(const at_model *m, const at_conv_params *p);
int at_dwconv16x8_check(const at_model *m, const at_dwconv_params *p);
void at_dwconv16x8_eval(const at_model *m, const at_dwconv_params *p);
void at_dwconv16x8_eval_reference(const at_model *m, const at_dwconv_params *p);
int at_fc16x8_check(const at_model *m, const at_fc_params *p);
void at_fc16x8_eval(const at_model *m, const at_fc_params *p);
void at_fc16x8_eval_reference(const at_model *m, const at_fc_params *p);
int at_pool16_check(const at_model *m, const at_pool_params *p);
void at_avgpool16_eval(const at_model *m, const at_pool_params *p);
void at_avgpool16_eval_reference(const at_model *m, const at_pool_params *p);
void at_maxpool16_eval(const at_model *m, const at_pool_params *p);
void at_maxpool16_eval_reference(const at_model *m, const at_pool_params *p);
int at_add16_check(const at_model *m, const at_add_params *p);
void at_add16_eval(const at_model *m, const at_add_params *p);
void at_add16_eval_reference(const at_model *m, const at_add_params *p);
int at_mean16_check(const at_model *m, const at_mean_params *p);
void at_mean16_eval(const at_model *m, const at_mean_params *p);
void at_mean16_eval_reference(const at_model *m, const at_mean_params *p);
int at_softmax16_check(const at_model *m, const at_softmax16_params *p);
void at_softmax16_eval(const at_model *m, const at_softmax16_params *p);
void at_softmax16_eval_reference(const at_model *m, const at_softmax16_params *p);
int at_quantize16_check(const at_model *m, const at_quantize_params *p);
void at_quantize16_eval(const at_model *m, const at_quantize_params *p);
void at_quantize16_eval_reference(const at_model *m, const at_quantize_params *p);
int at_dequantize16_check(const at_model *m, const at_quantize_params *p);
void at_dequantize16_eval(const at_model *m, const at_quantize_params *p);
void at_dequantize16_eval_reference(const at_model *m, const at_quantize_params *p);

#endif
