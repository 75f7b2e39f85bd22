/* Fixed-point helpers with the exact semantics of TFLite / gemmlowp reference
 * arithmetic (SaturatingRoundingDoublingHighMul, RoundingDivideByPOT,
 * MultiplyByQuantizedMultiplier, the Q-format exp / reciprocal used by the
 * int8 softmax).  Signed overflow is avoided by going through uint32_t. */
#ifndef AT_FIXEDPOINT_H
#define AT_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t at_wrap_add(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t at_wrap_sub(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* high 32 bits of 2*a*b, rounded to nearest (ties away from zero), saturated */
static inline int32_t at_srdhm(int32_t a, int32_t b) {
  int64_t ab;
  int32_t nudge;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero; 0 <= exponent <= 31 */
static inline int32_t at_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1u << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding variant) */
static inline int32_t at_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? (int)shift : 0;
  const int right = shift > 0 ? 0 : (int)-shift;
  return at_rdbpot(at_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* TFLite MultiplyByQuantizedMultiplier for an int64 accumulator (the 16x8 kernels): the
 * multiplier rounded to 16 bits, one rounding shift; |x| < 2^47, shift in [-31, 7]. */
static inline int32_t at_mbqm64(int64_t x, int32_t multiplier, int32_t shift) {
  const int64_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
  const int total_shift = 15 - (int)shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  return (int32_t)((x * reduced + round) >> total_shift);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0 */
static inline int32_t at_sat_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

static inline int at_clz32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
#if defined(__GNUC__)
  (void)n;
  return __builtin_clz(x);
#endif
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

#endif
