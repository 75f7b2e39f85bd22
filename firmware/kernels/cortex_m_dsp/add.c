/* ADD for ARMv7E-M (Cortex-M4/M7), bit-exact with ../reference/add.c: the common case of two
 * operands with the output's element count (no broadcasting); the rest runs the reference.
 *
 * Each of the three SaturatingRoundingDoublingHighMul steps is one SMMULR: for |a| < 2^30 and
 * a multiplier other than INT32_MIN, floor((a*b + 2^30) / 2^31) (what the reference's
 * nudge-and-truncate computes) equals floor((2a*b + 2^31) / 2^32) = SMMULR(2a, b).  The
 * operands qualify when (|x| + |offset|) << left_shift < 2^29: then each rescaled operand is
 * below 2^29 (a multiplier < 2^31 only shrinks it) and their sum below 2^30. */
#include <arm_acle.h>

#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

static inline int32_t at_add_smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

/* RoundingDivideByPOT(x, e) for 0 <= e <= 31: half away from zero is half up of x - 1 for
 * negative x, and half up of x / 2^e is floor(t / 2) + (t & 1) with t = x >> (e - 1) */
static inline int32_t at_add_round(int32_t x, int32_t e) {
  if (e == 0) return x;
  x += x >> 31;
  x >>= e - 1;
  return (x >> 1) + (x & 1);
}

static int at_add_fits(int32_t offset, int32_t left_shift) {
  const int64_t most = (int64_t)(128 + (offset < 0 ? -(int64_t)offset : offset)) << left_shift;
  return most < ((int64_t)1 << 29);
}

void at_add_eval(const at_model *m, const at_add_params *p) {
  const at_tensor *ta = &m->tensors[p->input1], *tb = &m->tensors[p->input2];
  const at_tensor *to = &m->tensors[p->output];
  const int32_t n = at_elem_count(to);
  const int8_t *a = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input1);
  const int8_t *b = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input2);
  int8_t *o = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t off1 = p->input1_offset, off2 = p->input2_offset, shl = p->left_shift + 1; /* + 1: SMMULR */
  const int32_t m1 = p->input1_multiplier, m2 = p->input2_multiplier, mo = p->output_multiplier;
  const int32_t e1 = -p->input1_shift, e2 = -p->input2_shift, eo = -p->output_shift;
  const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t i;
  if (at_elem_count(ta) != n || at_elem_count(tb) != n || m1 == INT32_MIN || m2 == INT32_MIN ||
      mo == INT32_MIN || !at_add_fits(off1, p->left_shift) || !at_add_fits(off2, p->left_shift)) {
    at_add_eval_reference(m, p);
    return;
  }
  for (i = 0; i < n; ++i) {
    const int32_t r1 = at_add_round(at_add_smmulr((int32_t)((uint32_t)(a[i] + off1) << shl), m1), e1);
    const int32_t r2 = at_add_round(at_add_smmulr((int32_t)((uint32_t)(b[i] + off2) << shl), m2), e2);
    const int32_t v = at_add_round(at_add_smmulr((r1 + r2) * 2, mo), eo) + zp;
    o[i] = (int8_t)at_clamp(v, lo, hi);
  }
}
