/* Small helpers for the ARMv7E-M DSP-extension kernels (Cortex-M4/M7), on top of ACLE's
 * arm_acle.h.  Packed int16 pairs: SXTB16 sign-extends bytes 0 and 2 of a word into the
 * two halfwords, so one int8 word x0..x3 widens to the pairs (x0, x2) and, rotated by 8
 * bits first, (x1, x3).  Both operands of an SMLAD widened the same way multiply the
 * right elements together; the sum of the four products is order-free. */
#ifndef AT_DSP_UTIL_H
#define AT_DSP_UTIL_H

#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

#include "fixedpoint.h"

#if !defined(__ARM_FEATURE_DSP)
#error "cortex_m_dsp kernels need the DSP extension (ARMv7E-M: -mcpu=cortex-m4 / cortex-m7)"
#endif

/* Four int8 as one word; any alignment (LDR allows unaligned addresses on v7-M). */
static inline uint32_t at_load_s8x4(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* (x1, x3) of a word: SXTB16 with its built-in rotation (ACLE's __sxtb16 takes no rotation
 * and GCC 12 emits a separate ROR). */
static inline uint32_t at_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* a + (x1, x3), halfword-wise. */
static inline uint32_t at_sxtab16_ror8(uint32_t a, uint32_t x) {
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
  return r;
}

/* An int16 offset in both halfwords, for SXTAB16. */
static inline uint32_t at_pair16(int32_t v) {
  return ((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16);
}

/* at_mbqm (fixedpoint.h, TFLite's MultiplyByQuantizedMultiplier) in fewer instructions, for
 * a multiplier other than INT32_MIN (check a layer's once: at_multipliers_plain), with the
 * shift split once per channel (left = max(shift, 0), right = max(-shift, 0)).  The reference's
 * rounding step, (a*b + nudge) / 2^31 truncated with nudge = 2^30 or 1 - 2^30 by the product's
 * sign, equals floor((a*b + 2^30) / 2^31) for both signs: one SMLAL, no branch; only the
 * product INT32_MIN * INT32_MIN saturates there, which the multiplier check rules out.  The
 * shift's rounding stays the reference's at_rdbpot. */
static inline int32_t at_mbqm_split(int32_t x, int32_t multiplier, int left, int right) {
  const int32_t a = (int32_t)((uint32_t)x << left);
  return at_rdbpot((int32_t)(((int64_t)a * multiplier + (1 << 30)) >> 31), right);
}

/* at_mbqm_split for |x << left| < 2^30 (check a layer's bound once): then 2a does not
 * overflow and floor((a*b + 2^30) / 2^31) = floor((2a*b + 2^31) / 2^32) is SMMULR(2a, b),
 * one instruction instead of SMLAL and two shifts. */
static inline int32_t at_mbqm_narrow(int32_t x, int32_t multiplier, int left, int right) {
  int32_t high;
  __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"((int32_t)((uint32_t)x << (left + 1))), "r"(multiplier));
  return at_rdbpot(high, right);
}

/* No multiplier of n is INT32_MIN (the host never writes one: its multipliers are >= 0). */
static inline int at_multipliers_plain(const int32_t *mult, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i)
    if (mult[i] == INT32_MIN) return 0;
  return 1;
}

/* 16x8 (int16 activations, int8 weights): a product is at most 128 * 32768 = 2^22 in
 * magnitude, so a sum of up to 511 of them -- every partial sum of SMLAD included -- stays
 * inside int32 (511 * 2^22 < 2^31).  The 16x8 kernels add products in int32 over runs of at
 * most AT_16X8_RUN (a multiple of 4) and widen each run's sum into the int64 accumulator the
 * reference keeps. */
#define AT_16X8_RUN 508

/* Two int16 pairs (t0, t1), (t2, t3) as words -> (t0, t2): the pair order SXTB16 widens a
 * weight word in (above). */
static inline uint32_t at_pair_even(uint32_t t01, uint32_t t23) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(t01), "r"(t23));
  return r;
}

/* ... -> (t1, t3). */
static inline uint32_t at_pair_odd(uint32_t t01, uint32_t t23) {
  uint32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(t23), "r"(t01));
  return r;
}

/* Two int16 as one word; any halfword alignment. */
static inline uint32_t at_load_s16x2(const int16_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* at_mbqm64 (fixedpoint.h, the 16x8 kernels' requantisation) of s + bias, split per channel:
 * the multiplier's 16-bit rounding, the bias's product and the rounding term folded into one
 * int64 once (at_requant64_prepare), then per int32 sum one SMLAL and a shift of its 64-bit
 * result.  Exact: the reference computes (x * reduced + round) >> total_shift in int64 with
 * x = s + bias, |x| < 2^47 and |reduced| <= 2^15, so s * reduced + (bias * reduced + round) is
 * the same int64; a shift by t >= 32 is the high word's by t - 32, one by t < 32 the two words
 * joined and cut to 32 bits, as the reference's cast cuts.  For total shifts 1..63 (shifts -48..14,
 * at_shifts_for_requant64; the host writes -31..7). */
typedef struct {
  int64_t base; /* bias * reduced + 2^(total_shift - 1) */
  int32_t reduced, total_shift;
} at_requant64;

static inline at_requant64 at_requant64_prepare(int64_t bias, int32_t multiplier, int32_t shift) {
  at_requant64 q;
  q.reduced = multiplier < 0x7FFF0000 ? (int32_t)(((int64_t)multiplier + (1 << 15)) >> 16) : 0x7FFF;
  q.total_shift = 15 - shift;
  q.base = bias * q.reduced + ((int64_t)1 << (q.total_shift - 1));
  return q;
}

static inline int32_t at_requant64_apply(const at_requant64 *q, int32_t s) {
  const int64_t v = (int64_t)s * q->reduced + q->base;
  const int t = q->total_shift;
  const int32_t hi = (int32_t)(v >> 32);
  return t >= 32 ? hi >> (t - 32) : (int32_t)(((uint32_t)v >> t) | ((uint32_t)hi << (32 - t)));
}

/* Every shift of n in at_requant64's range. */
static inline int at_shifts_for_requant64(const int32_t *shift, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i)
    if (shift[i] < -48 || shift[i] > 14) return 0;
  return 1;
}

#endif
