/* FULLY_CONNECTED, int8, with the DSP extension: bit-exact with the reference kernel (the
 * same integer sums, requantised by the same at_mbqm).
 *
 * Four output units at a time: each input word is widened once with the input offset
 * added (SXTAB16) and multiplied into four rows, each row's weight word widened once
 * (SXTB16), 2 MACs per SMLAD (pair order: dsp_util.h).  No buffer: the input is widened
 * on the fly, its cost shared by the four rows.  Whole blocks run a hand-scheduled loop
 * (fc_rows4), a last partial block the C loop.  A weight zero point other than 0 (not
 * produced by TFLite's int8 spec) goes to the reference kernel. */
#include "dsp_util.h"
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"


/* acc[0..3] += four rows' dot products with x over `groups` (>= 1) groups of 4 inputs: rows
 * w, w + stride, w + 2 stride, w + 3 stride.  Hand-scheduled (14 registers: r0 x, r1 rows 0/1,
 * r2 rows 2/3, r3 stride, r4 count, r5 input offset pair, r6-r9 acc, r10/r11 the input word
 * widened, r12/lr a weight word and its widened half), rows 1 and 3 read at [row 0/2 +
 * stride].  Arguments: r0 x, r1 w, r2 groups, r3 stride, stack: acc, offset2. */
/* On the dual-issue Cortex-M7 GCC's interleaving of the C loop below beats this in-order
 * schedule (AD autoencoder on stm32f746: 2.01 ms with C at c504e6d, 2.06 ms with fc_rows4 at
 * 57b4051, bench/mlperf_tiny.py); on the Cortex-M4 the hand schedule wins (stm32l4r5: 6.65 ->
 * 5.73 ms). */
#if defined(AT_CORE_M7)
#define AT_FC_ASM 0
#else
#define AT_FC_ASM 1
#endif

#define AT_FC_ROW(acc, load)                                                                         \
  load                                                                                               \
  "sxtb16 lr, r12\n"                                                                                 \
  "smlad " acc ", lr, r10, " acc "\n"                                                                \
  "sxtb16 r12, r12, ror #8\n"                                                                        \
  "smlad " acc ", r12, r11, " acc "\n"

static __attribute__((naked, noinline)) void fc_rows4(const int8_t *x __attribute__((unused)),
                                                      const int8_t *w __attribute__((unused)),
                                                      int32_t groups __attribute__((unused)),
                                                      int32_t stride __attribute__((unused)),
                                                      int32_t *acc __attribute__((unused)),
                                                      uint32_t offset2 __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n"
      "ldr lr, [sp, #36]\n" /* acc, offset2: the fifth and sixth arguments */
      "ldr r5, [sp, #40]\n"
      "ldm lr, {r6-r9}\n"
      "mov r4, r2\n"
      "add r2, r1, r3, lsl #1\n" /* rows 2, 3 */
      "1:\n"
      "ldr r12, [r0], #4\n"
      "sxtab16 r10, r5, r12\n"
      "sxtab16 r11, r5, r12, ror #8\n"
      AT_FC_ROW("r7", "ldr r12, [r1, r3]\n")
      AT_FC_ROW("r6", "ldr r12, [r1], #4\n")
      AT_FC_ROW("r9", "ldr r12, [r2, r3]\n")
      AT_FC_ROW("r8", "ldr r12, [r2], #4\n")
      "subs r4, r4, #1\n"
      "bne 1b\n"
      "ldr lr, [sp, #36]\n"
      "stm lr, {r6-r9}\n"
      "pop {r4-r11, pc}\n");
}

void at_fc_eval(const at_model *m, const at_fc_params *p) {
  const at_tensor *tf = &m->tensors[p->filter];
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  const int32_t *bias = p->bias >= 0 ? (const int32_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  const int per_channel = m->tensors[p->multipliers].dims[0] > 1;
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t units = tf->dims[0], depth = tf->dims[1];
  const int32_t batches = at_elem_count(&m->tensors[p->input]) / depth;
  const int32_t depth4 = depth & ~3;
  const uint32_t offset2 = at_pair16(p->input_offset);
  const int32_t output_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
  int32_t b, u, r, d;
  if (p->filter_offset != 0 || !at_multipliers_plain(mult, per_channel ? units : 1)) {
    at_fc_eval_reference(m, p);
    return;
  }
  for (b = 0; b < batches; ++b) {
    const int8_t *xb = in + b * depth;
    int8_t *ob = out + b * units;
    for (u = 0; u < units; u += 4) {
      /* a block past the last unit repeats the last row, its results dropped */
      const int32_t n = units - u < 4 ? units - u : 4;
      const int8_t *w0 = filter + u * depth;
      const int8_t *w1 = filter + (u + (n > 1 ? 1 : 0)) * depth;
      const int8_t *w2 = filter + (u + (n > 2 ? 2 : 0)) * depth;
      const int8_t *w3 = filter + (u + (n > 3 ? 3 : 0)) * depth;
      const int8_t *x = xb, *const x_end = xb + depth4;
      int32_t acc[4];
      int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      if (AT_FC_ASM && n == 4 && depth4) { /* a whole block */
        acc[0] = acc[1] = acc[2] = acc[3] = 0;
        fc_rows4(x, w0, depth4 >> 2, depth, acc, offset2);
        a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
        x += depth4, w0 += depth4, w1 += depth4, w2 += depth4, w3 += depth4;
      }
      while (x < x_end) {
        const uint32_t v = at_load_s8x4(x);
        const uint32_t xlo = __sxtab16(offset2, v), xhi = at_sxtab16_ror8(offset2, v);
        uint32_t w = at_load_s8x4(w0);
        a0 = __smlad(__sxtb16(w), xlo, a0);
        a0 = __smlad(at_sxtb16_ror8(w), xhi, a0);
        w = at_load_s8x4(w1);
        a1 = __smlad(__sxtb16(w), xlo, a1);
        a1 = __smlad(at_sxtb16_ror8(w), xhi, a1);
        w = at_load_s8x4(w2);
        a2 = __smlad(__sxtb16(w), xlo, a2);
        a2 = __smlad(at_sxtb16_ror8(w), xhi, a2);
        w = at_load_s8x4(w3);
        a3 = __smlad(__sxtb16(w), xlo, a3);
        a3 = __smlad(at_sxtb16_ror8(w), xhi, a3);
        x += 4, w0 += 4, w1 += 4, w2 += 4, w3 += 4;
      }
      for (d = 0; d < depth - depth4; ++d) { /* the last depth % 4 inputs */
        const int32_t xv = x[d] + p->input_offset;
        a0 += w0[d] * xv, a1 += w1[d] * xv, a2 += w2[d] * xv, a3 += w3[d] * xv;
      }
      acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
      for (r = 0; r < n; ++r) {
        const int c = per_channel ? (int)(u + r) : 0;
        const int left = shift[c] > 0 ? (int)shift[c] : 0, right = shift[c] > 0 ? 0 : (int)-shift[c];
        const int32_t v = at_mbqm_split(acc[r] + (bias ? bias[u + r] : 0), mult[c], left, right) + output_offset;
        ob[u + r] = (int8_t)at_clamp(v, act_min, act_max);
      }
    }
  }
}

/* FULLY_CONNECTED_16X8: the same four-row blocks.  The activations are int16 already (zero point
 * 0), so a group of four inputs is two words repacked into the pairs SXTB16 widens a weight word
 * in, (x0, x2) and (x1, x3) (PKHBT, PKHTB), once for four rows.  Sums run in int32 over runs of
 * AT_16X8_RUN inputs (dsp_util.h: no overflow) and are widened into the reference's int64
 * accumulator, requantised by its at_mbqm64. */
/* a[0..3] = the dot products of `groups` (>= 1, at most AT_16X8_RUN / 4) groups of 4 inputs from
 * x with the rows wa, wa + sa, wb, wb + sb.  Hand-scheduled: GCC's C loop spills its pointers.
 * r0 x, r1 wa, r2 wb, r3 sa, r4 count, r5 sb, r6-r9 sums, r10 (x0, x2), lr (x1, x3), r11 a
 * weight word's widened half, r12 the weight word.  Arguments: r0-r3, stack: sb, groups, a. */
#define AT_FC16_ROW(acc, load)                                                                       \
  load                                                                                               \
  "sxtb16 r11, r12\n"                                                                                \
  "smlad " acc ", r11, r10, " acc "\n"                                                               \
  "sxtb16 r12, r12, ror #8\n"                                                                        \
  "smlad " acc ", r12, lr, " acc "\n"

static __attribute__((naked, noinline)) void fc16x8_rows4(const int16_t *x __attribute__((unused)),
                                                          const int8_t *wa __attribute__((unused)),
                                                          const int8_t *wb __attribute__((unused)),
                                                          int32_t sa __attribute__((unused)),
                                                          int32_t sb __attribute__((unused)),
                                                          int32_t groups __attribute__((unused)),
                                                          int32_t *a __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n"
      "ldr r5, [sp, #36]\n"
      "ldr r4, [sp, #40]\n"
      "movs r6, #0\n"
      "movs r7, #0\n"
      "movs r8, #0\n"
      "movs r9, #0\n"
      "1:\n"
      "ldr r10, [r0], #4\n"
      "ldr r11, [r0], #4\n"
      "pkhtb lr, r11, r10, asr #16\n"
      "pkhbt r10, r10, r11, lsl #16\n"
      AT_FC16_ROW("r7", "ldr r12, [r1, r3]\n")
      AT_FC16_ROW("r6", "ldr r12, [r1], #4\n")
      AT_FC16_ROW("r9", "ldr r12, [r2, r5]\n")
      AT_FC16_ROW("r8", "ldr r12, [r2], #4\n")
      "subs r4, r4, #1\n"
      "bne 1b\n"
      "ldr lr, [sp, #44]\n"
      "stm lr, {r6-r9}\n"
      "pop {r4-r11, pc}\n");
}

void at_fc16x8_eval(const at_model *m, const at_fc_params *p) {
  const at_tensor *tf = &m->tensors[p->filter];
  const int16_t *in = (const int16_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  const int64_t *bias = p->bias >= 0 ? (const int64_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  const int per_channel = m->tensors[p->multipliers].dims[0] > 1;
  int16_t *out = (int16_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t units = tf->dims[0], depth = tf->dims[1];
  const int32_t batches = at_elem_count(&m->tensors[p->input]) / depth;
  const int32_t depth4 = depth & ~3;
  int32_t b, u, r, d, run;
  if (p->filter_offset != 0) {
    at_fc16x8_eval_reference(m, p);
    return;
  }
  for (b = 0; b < batches; ++b) {
    const int16_t *xb = in + b * depth;
    int16_t *ob = out + b * units;
    for (u = 0; u < units; u += 4) {
      /* a block past the last unit repeats the last row, its results dropped */
      const int32_t n = units - u < 4 ? units - u : 4;
      /* rows u, u + sa, u + 2 (or u), that + sb; a missing row repeats one before it */
      const int32_t sa = n > 1 ? depth : 0, sb = n == 2 || n == 4 ? depth : 0;
      const int8_t *wa = filter + u * depth, *wb = n > 2 ? wa + 2 * depth : wa;
      const int16_t *x = xb;
      int64_t acc[4] = {0, 0, 0, 0};
      for (run = 0; run < depth4; run += AT_16X8_RUN) {
        const int32_t len = depth4 - run < AT_16X8_RUN ? depth4 - run : AT_16X8_RUN;
        int32_t a[4];
        fc16x8_rows4(x, wa, wb, sa, sb, len >> 2, a);
        x += len, wa += len, wb += len;
        acc[0] += a[0], acc[1] += a[1], acc[2] += a[2], acc[3] += a[3];
      }
      for (d = 0; d < depth - depth4; ++d) { /* the last depth % 4 inputs */
        const int32_t xv = x[d];
        acc[0] += wa[d] * xv, acc[1] += wa[sa + d] * xv, acc[2] += wb[d] * xv, acc[3] += wb[sb + d] * xv;
      }
      for (r = 0; r < n; ++r) {
        const int c = per_channel ? (int)(u + r) : 0;
        const int32_t v = at_mbqm64(acc[r] + (bias ? bias[u + r] : 0), mult[c], shift[c]);
        ob[u + r] = (int16_t)at_clamp(v, p->act_min, p->act_max);
      }
    }
  }
}
