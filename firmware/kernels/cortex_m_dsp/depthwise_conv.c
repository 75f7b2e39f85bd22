/* DEPTHWISE_CONV_2D for ARMv7E-M (Cortex-M4/M7), bit-exact with ../reference/depthwise_conv.c.
 *
 * Covers depth multiplier 1 without dilation (MobileNet, DS-CNN) for kernels up to
 * AT_DW_MAX_K rows and AT_DW_MAX_PAIRS filter words, any stride and padding; everything else
 * runs the reference.
 *
 * One channel at a time.  Its input rows, plus the input offset, are copied as int16 into a
 * small row buffer whose padding columns and rows hold 0: a padded tap then adds 0, as the
 * reference's skipped tap does, so no output needs a bounds check.  Each output is a sum of
 * SMLADs, two taps per instruction, over that buffer (3x3 stride 1 and 2: two outputs per step,
 * sharing loaded words; 10x4 and other sizes: one output per step).  The buffer is a ring of
 * rows: a band of output rows is computed from the rows it holds, then the rows the next band
 * shares stay and only the new ones are loaded, so each input value is converted once per
 * column tile (rows wider than AT_DW_TILE outputs are split).  The raw sums of a band are then
 * requantised in a second loop, where the channel's multiplier, shift and range stay in
 * registers.  Whole small planes (DS-CNN's 25x5) take a few bands per channel.
 *
 * Stack: about 1.5 KB (row buffer, sums of a band, filter words, band row pointers). */
#include <arm_acle.h>
#include <string.h>

#include "dsp_util.h"
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

#define AT_DW_BUF 256      /* int16 row-buffer entries: rows x pitch */
#define AT_DW_ROWS 32      /* rows of the ring at most */
#define AT_DW_TILE 32      /* outputs per row of a column tile */
#define AT_DW_ACC 128      /* raw sums of one band: output rows x tile width */
#define AT_DW_SMALL_PLANE 16 /* outputs per channel up to which four channels at a time are faster */
#define AT_DW_MAX_K 16 /* kernel rows the row buffer takes */
#define AT_DW_MAX_PAIRS 48 /* filter words of one channel: kernel rows x (columns + 1) / 2 */

#define AT_INLINE static inline __attribute__((always_inline))
#define AT_NOINLINE static __attribute__((noinline)) /* one copy, its own frame */

/* an int16 pair from the row buffer; any halfword alignment (unaligned LDR is allowed on v7E-M) */
AT_INLINE int32_t at_ld_pair(const int16_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

AT_INLINE int32_t at_pack16(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

/* at_mbqm for multiplier != INT32_MIN and -31 <= shift <= 31 (checked before use), in fewer
 * instructions:
 * - SaturatingRoundingDoublingHighMul(a, b) is floor((a*b + 2^30) / 2^31): for a*b >= 0 the
 *   reference's truncating division is a floor; for a*b < 0 its nudge 1 - 2^30 with the
 *   truncation (a ceiling) gives the same floor.  It saturates only for a = b = INT32_MIN.
 *   When |a| < 2^30 that is SMMULR(2a, b) = floor((2a*b + 2^31) / 2^32), one instruction.
 * - RoundingDivideByPOT(x, e), e >= 1, rounds half away from zero: round half up of x - 1 for
 *   negative x, and round half up of x / 2^e is floor(t / 2) + (t & 1) with t = x >> (e - 1). */
AT_INLINE int32_t at_smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

AT_INLINE int32_t at_round_shift(int32_t x, int32_t right) {
  x += x >> 31;
  x >>= right - 1;
  return (x >> 1) + (x & 1);
}

/* the general case: any accumulator, any shift */
static int32_t at_dw_requant(int32_t acc, int32_t mult, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int64_t ab = (int64_t)(int32_t)((uint32_t)acc << left) * mult;
  const int32_t x = (int32_t)((ab + (1 << 30)) >> 31);
  return shift < 0 ? at_round_shift(x, -shift) : x;
}

/* a band's sums (rows of n) -> int8 outputs dst[row * row_step + x * step].  fast: every sum is
 * below 2^29 in magnitude (so 2*sum fits SMMULR) and shift < 0; full: the activation range is
 * all of int8 (SSAT alone clamps). */
AT_INLINE void at_dw_requant_band(int8_t *dst, int32_t row_step, int32_t step, const int32_t *acc,
                                  int32_t rows, int32_t n, int32_t mult, int32_t shift, int32_t zp,
                                  int32_t lo, int32_t hi, int fast, int full) {
  int32_t r, i;
  for (r = 0; r < rows; ++r, dst += row_step) {
    int8_t *out = dst;
    for (i = 0; i < n; ++i, out += step) {
      int32_t v = fast ? at_round_shift(at_smmulr(*acc * 2, mult), -shift) : at_dw_requant(*acc, mult, shift);
      ++acc;
      v = __ssat(v + zp, 8);
      if (!full) {
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
      }
      *out = (int8_t)v;
    }
  }
}

/* The MAC kernels: `rows` output rows of n outputs each, output row r reading ring rows
 * band[r * row_step ...], sums (from the bias) to acc[r * n + x].  The pair kernels also write
 * acc[r * n + n] when n is odd (the next row overwrites it; acc has one spare entry). */

/* 3x3, stride 1: outputs x and x+1 read columns x..x+3 of each row; k = {k0,k1}, {k1,k2} per row */
AT_NOINLINE void at_dw_3x3_s1(int32_t *acc, int16_t *const *band, int32_t rows, int32_t row_step, int32_t n,
                              const int32_t *k, int32_t bias) {
  int32_t r, x;
  for (r = 0; r < rows; ++r, band += row_step, acc += n) {
    const int16_t *r0 = band[0], *r1 = band[1], *r2 = band[2];
    int32_t a0 = at_ld_pair(r0), b0 = at_ld_pair(r1), c0 = at_ld_pair(r2);
    for (x = 0; x < n; x += 2) {
      const int32_t a2 = at_ld_pair(r0 + x + 2), b2 = at_ld_pair(r1 + x + 2), c2 = at_ld_pair(r2 + x + 2);
      int32_t s0 = __smlad(a0, k[0], bias), s1 = __smlatb(a0, k[0], bias);
      s0 = __smlabt(a2, k[1], s0);
      s1 = __smlad(a2, k[1], s1);
      s0 = __smlad(b0, k[2], s0);
      s0 = __smlabt(b2, k[3], s0);
      s1 = __smlatb(b0, k[2], s1);
      s1 = __smlad(b2, k[3], s1);
      s0 = __smlad(c0, k[4], s0);
      s0 = __smlabt(c2, k[5], s0);
      s1 = __smlatb(c0, k[4], s1);
      s1 = __smlad(c2, k[5], s1);
      acc[x] = s0;
      acc[x + 1] = s1;
      a0 = a2;
      b0 = b2;
      c0 = c2;
    }
  }
}

/* 3x3, stride 2: outputs x and x+1 read columns 2x..2x+5; the same filter words as stride 1 */
AT_NOINLINE void at_dw_3x3_s2(int32_t *acc, int16_t *const *band, int32_t rows, int32_t row_step, int32_t n,
                              const int32_t *k, int32_t bias) {
  int32_t r, x;
  for (r = 0; r < rows; ++r, band += row_step, acc += n) {
    const int16_t *r0 = band[0], *r1 = band[1], *r2 = band[2];
    int32_t a0 = at_ld_pair(r0), b0 = at_ld_pair(r1), c0 = at_ld_pair(r2);
    for (x = 0; x < n; x += 2) {
      const int16_t *p0 = r0 + 2 * x, *p1 = r1 + 2 * x, *p2 = r2 + 2 * x;
      const int32_t a2 = at_ld_pair(p0 + 2), a4 = at_ld_pair(p0 + 4);
      const int32_t b2 = at_ld_pair(p1 + 2), b4 = at_ld_pair(p1 + 4);
      const int32_t c2 = at_ld_pair(p2 + 2), c4 = at_ld_pair(p2 + 4);
      int32_t s0 = __smlad(a0, k[0], bias), s1 = __smlad(a2, k[0], bias);
      s0 = __smlabt(a2, k[1], s0);
      s1 = __smlabt(a4, k[1], s1);
      s0 = __smlad(b0, k[2], s0);
      s0 = __smlabt(b2, k[3], s0);
      s1 = __smlad(b2, k[2], s1);
      s1 = __smlabt(b4, k[3], s1);
      s0 = __smlad(c0, k[4], s0);
      s0 = __smlabt(c2, k[5], s0);
      s1 = __smlad(c2, k[4], s1);
      s1 = __smlabt(c4, k[5], s1);
      acc[x] = s0;
      acc[x + 1] = s1;
      a0 = a4;
      b0 = b4;
      c0 = c4;
    }
  }
}

/* Any kernel: pairs[kh][kw2] filter words {k(2i), k(2i+1)} (the last one {k, 0} for odd kw: it
 * reads one column past the window, which the row buffer holds). */
AT_INLINE void at_dw_any(int32_t *acc, int16_t *const *band, int32_t rows, int32_t row_step, int32_t n,
                         const int32_t *pairs, int32_t bias, int32_t kh, int32_t kw2, int32_t stride) {
  int32_t r, x, ky, i;
  for (r = 0; r < rows; ++r, band += row_step, acc += n) {
    for (x = 0; x < n; ++x) {
      const int32_t *k = pairs;
      int32_t s = bias;
      for (ky = 0; ky < kh; ++ky) {
        const int16_t *p = band[ky] + x * stride;
        for (i = 0; i < kw2; ++i) s = __smlad(at_ld_pair(p + 2 * i), k[i], s);
        k += kw2;
      }
      acc[x] = s;
    }
  }
}

/* 10x4 (the DS-CNN first-layer shape): constant trip counts, so the taps unroll */
AT_NOINLINE void at_dw_10x4(int32_t *acc, int16_t *const *band, int32_t rows, int32_t row_step, int32_t n,
                            const int32_t *pairs, int32_t bias, int32_t stride) {
  at_dw_any(acc, band, rows, row_step, n, pairs, bias, 10, 2, stride);
}

AT_NOINLINE void at_dw_generic(int32_t *acc, int16_t *const *band, int32_t rows, int32_t row_step, int32_t n,
                               const int32_t *pairs, int32_t bias, int32_t kh, int32_t kw2, int32_t stride) {
  at_dw_any(acc, band, rows, row_step, n, pairs, bias, kh, kw2, stride);
}

/* input rows iy .. iy + count - 1 -> buffer rows dst[0 .. count), columns [j0, j1) as int16 with
 * the input offset; rows outside the image are zeros.  src: input row 0 at column j0. */
AT_NOINLINE void at_dw_load_rows(int16_t *const *dst, int32_t count, int32_t iy, int32_t in_h,
                                 const int8_t *src, int32_t src_row, int32_t step, int32_t j0, int32_t j1,
                                 int32_t offset) {
  const int8_t *p = src + iy * src_row;
  int32_t r;
  for (r = 0; r < count; ++r, ++iy, p += src_row) {
    int16_t *d = dst[r] + j0, *const end = dst[r] + j1;
    const int8_t *q = p;
    if (iy < 0 || iy >= in_h) {
      while (d < end) *d++ = 0;
      continue;
    }
    for (; d + 2 <= end; d += 2, q += 2 * step) {
      const int32_t v0 = q[0], v1 = q[step];
      d[0] = (int16_t)(v0 + offset);
      d[1] = (int16_t)(v1 + offset);
    }
    if (d < end) *d = (int16_t)(*q + offset);
  }
}

/* Small planes (MobileNet's last 3x3): the row buffer's per-channel set-up would cost more than
 * the few outputs (measured: 2x at 3x3, a loss from 6x6 up), so four channels at a time straight
 * from the NHWC tensors: SXTAB16 widens
 * the even and odd channels of an input word and adds the offset in one step, SMLABB/SMLATT
 * take one tap of four channels; padded taps are skipped (the window is clipped per output).
 * (at_sxtb16_ror8, at_sxtab16_ror8: dsp_util.h.) */
AT_INLINE int8_t at_dw_output(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {
  /* SMMULR when 2 * acc fits (|acc| < 2^29) and the shift rounds; the general path otherwise */
  const int32_t v = shift < 0 && (uint32_t)(acc + (1 << 29)) < (1u << 30)
                        ? at_round_shift(at_smmulr(acc * 2, mult), -shift)
                        : at_dw_requant(acc, mult, shift);
  return (int8_t)at_clamp(v + zp, lo, hi);
}

AT_NOINLINE void at_dw_by_channels(const at_model *m, const at_dwconv_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];
  const at_tensor *to = &m->tensors[p->output];
  const int32_t batches = ti->dims[0], in_h = ti->dims[1], in_w = ti->dims[2], depth = ti->dims[3];
  const int32_t kh = tf->dims[1], kw = tf->dims[2], out_h = to->dims[1], out_w = to->dims[2];
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  const int32_t *bias = p->bias >= 0 ? (const int32_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const uint32_t offset2 = (uint32_t)at_pack16(p->input_offset, p->input_offset);
  const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t b, oy, ox, c, ky, kx;
  for (b = 0; b < batches; ++b) {
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = kh < in_h - iy0 ? kh : in_h - iy0;
      for (ox = 0; ox < out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = kw < in_w - ix0 ? kw : in_w - ix0;
        /* the window's first in-image tap, channel 0, in the input and in the filter */
        const int8_t *x0 = in + ((b * in_h + iy0 + ky0) * in_w + ix0 + kx0) * depth;
        const int8_t *f0 = filter + (ky0 * kw + kx0) * depth;
        int8_t *o = out + ((b * out_h + oy) * out_w + ox) * depth;
        for (c = 0; c + 4 <= depth; c += 4) {
          int32_t a0 = bias ? bias[c] : 0, a1 = bias ? bias[c + 1] : 0;
          int32_t a2 = bias ? bias[c + 2] : 0, a3 = bias ? bias[c + 3] : 0;
          const int8_t *xr = x0 + c, *fr = f0 + c;
          for (ky = ky0; ky < ky1; ++ky, xr += in_w * depth, fr += kw * depth) {
            const int8_t *xp = xr, *fp = fr;
            for (kx = kx0; kx < kx1; ++kx, xp += depth, fp += depth) {
              uint32_t x, f, xe, xo, fe, fo;
              memcpy(&x, xp, 4);
              memcpy(&f, fp, 4);
              xe = __sxtab16(offset2, x); /* (x0 + offset, x2 + offset) */
              xo = at_sxtab16_ror8(offset2, x);
              fe = __sxtb16(f);
              fo = at_sxtb16_ror8(f);
              a0 = __smlabb(xe, fe, a0);
              a2 = __smlatt(xe, fe, a2);
              a1 = __smlabb(xo, fo, a1);
              a3 = __smlatt(xo, fo, a3);
            }
          }
          o[c] = at_dw_output(a0, mult[c], shift[c], zp, lo, hi);
          o[c + 1] = at_dw_output(a1, mult[c + 1], shift[c + 1], zp, lo, hi);
          o[c + 2] = at_dw_output(a2, mult[c + 2], shift[c + 2], zp, lo, hi);
          o[c + 3] = at_dw_output(a3, mult[c + 3], shift[c + 3], zp, lo, hi);
        }
        for (; c < depth; ++c) {
          int32_t a = bias ? bias[c] : 0;
          const int8_t *xr = x0 + c, *fr = f0 + c;
          for (ky = ky0; ky < ky1; ++ky, xr += in_w * depth, fr += kw * depth)
            for (kx = 0; kx < kx1 - kx0; ++kx) a += fr[kx * depth] * (xr[kx * depth] + p->input_offset);
          o[c] = at_dw_output(a, mult[c], shift[c], zp, lo, hi);
        }
      }
    }
  }
}

static int at_dw_requant_ok(const int32_t *mult, const int32_t *shift, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i)
    if (mult[i] == INT32_MIN || shift[i] > 31 || shift[i] < -31) return 0;
  return 1;
}

/* The image as the row-buffer path walks it: rows of `w` columns, element strides in the NHWC
 * tensors; a tall narrow plane (DS-CNN's 25x5) is walked transposed, so that buffer rows are
 * long and per-row costs are shared by more outputs. */
typedef struct {
  int32_t h, w, oh, ow, kh, kw, sh, sw, ph, pw;
  int32_t in_row, in_col, out_row, out_col, f_row, f_col;
} at_dw_view;

AT_INLINE at_dw_view at_dw_orient(const at_dwconv_params *p, int32_t in_h, int32_t in_w, int32_t depth,
                               int32_t out_h, int32_t out_w, int32_t kh, int32_t kw) {
  at_dw_view v;
  if (out_w < out_h) {
    v.h = in_w, v.w = in_h, v.oh = out_w, v.ow = out_h, v.kh = kw, v.kw = kh;
    v.sh = p->stride_w, v.sw = p->stride_h, v.ph = p->pad_w, v.pw = p->pad_h;
    v.in_row = depth, v.in_col = in_w * depth, v.out_row = depth, v.out_col = out_w * depth;
    v.f_row = depth, v.f_col = kw * depth;
  } else {
    v.h = in_h, v.w = in_w, v.oh = out_h, v.ow = out_w, v.kh = kh, v.kw = kw;
    v.sh = p->stride_h, v.sw = p->stride_w, v.ph = p->pad_h, v.pw = p->pad_w;
    v.in_row = in_w * depth, v.in_col = depth, v.out_row = out_w * depth, v.out_col = depth;
    v.f_row = kw * depth, v.f_col = depth;
  }
  return v;
}

/* How the row-buffer path tiles a view: columns per tile, buffer pitch, ring rows, output rows
 * per band; ok 0 when the layer is not one it takes (the reference runs it). */
typedef struct {
  int32_t tile, pitch, ring, band_rows, ok;
} at_dw_plan;

AT_INLINE at_dw_plan at_dw_plan_for(const at_dwconv_params *p, const at_dw_view *v) {
  const int32_t kh = v->kh, kw = v->kw, sw = v->sw;
  at_dw_plan pl;
  /* a tile's columns + 2 for the pair kernels' reads past it, even (word-aligned rows) */
  pl.tile = AT_DW_TILE < v->ow ? AT_DW_TILE : v->ow;
  if (kh > 0) {
    while (pl.tile > 1 && (((pl.tile - 1) * sw + kw + 3) & ~1) * kh > AT_DW_BUF) --pl.tile;
  }
  pl.pitch = ((pl.tile - 1) * sw + kw + 3) & ~1;
  pl.ok = !(p->depth_multiplier != 1 || p->dilation_h != 1 || p->dilation_w != 1 || kh < 1 || kh > AT_DW_MAX_K ||
            kw < 1 || kh * ((kw + 1) / 2) > AT_DW_MAX_PAIRS || pl.pitch * kh > AT_DW_BUF || v->ow < 1 ||
            v->sh < 1);
  pl.ring = pl.band_rows = 0;
  if (!pl.ok) return pl;
  pl.ring = AT_DW_BUF / pl.pitch < AT_DW_ROWS ? AT_DW_BUF / pl.pitch : AT_DW_ROWS;
  pl.band_rows = (pl.ring - kh) / v->sh + 1; /* output rows whose input rows the ring holds at once */
  if (pl.band_rows > AT_DW_ACC / pl.tile) pl.band_rows = AT_DW_ACC / pl.tile;
  return pl;
}

/* input rows -> buffer rows as at_dw_load_rows, from int16 activations (16x8: no offset) */
AT_NOINLINE void at_dw_load_rows16(int16_t *const *dst, int32_t count, int32_t iy, int32_t in_h,
                                   const int16_t *src, int32_t src_row, int32_t step, int32_t j0, int32_t j1) {
  const int16_t *p = src + iy * src_row;
  int32_t r;
  for (r = 0; r < count; ++r, ++iy, p += src_row) {
    int16_t *d = dst[r] + j0, *const end = dst[r] + j1;
    const int16_t *q = p;
    if (iy < 0 || iy >= in_h) {
      while (d < end) *d++ = 0;
      continue;
    }
    for (; d + 2 <= end; d += 2, q += 2 * step) {
      const int16_t v0 = q[0], v1 = q[step];
      d[0] = v0;
      d[1] = v1;
    }
    if (d < end) *d = *q;
  }
}

/* a band's int32 sums plus the channel's int64 bias -> int16 outputs (16x8), requantised as the
 * reference's at_mbqm64 (at_requant64, dsp_util.h) */
AT_NOINLINE void at_dw_requant_band16(int16_t *dst, int32_t row_step, int32_t step, const int32_t *acc,
                                      int32_t rows, int32_t n, const at_requant64 *q, int32_t lo, int32_t hi) {
  const at_requant64 r64 = *q; /* in registers: GCC reloads *q after each store otherwise */
  int32_t r, i;
  for (r = 0; r < rows; ++r, dst += row_step) {
    int16_t *out = dst;
    for (i = 0; i < n; ++i, out += step) *out = (int16_t)at_clamp(at_requant64_apply(&r64, *acc++), lo, hi);
  }
}

AT_INLINE at_dw_view at_dw_view_of(const at_model *m, const at_dwconv_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];
  const at_tensor *to = &m->tensors[p->output];
  return at_dw_orient(p, ti->dims[1], ti->dims[2], ti->dims[3], to->dims[1], to->dims[2], tf->dims[1],
                      tf->dims[2]);
}

/* The row-buffer path, one channel at a time (the file's comment).  wide (a constant where it is
 * inlined): 0 int8 (input offset, int32 bias in the sums, at_dw_requant_band), 1 16x8 (int16
 * activations without offset; the sums start at 0 -- at most AT_DW_MAX_PAIRS * 2 = 96 products
 * of at most 2^22, exact in int32 -- and the int64 bias is added at requantisation). */
AT_INLINE void at_dw_rows(const at_model *m, const at_dwconv_params *p, int wide) {
  /* view and plan worked out here again, not passed in: passed through memory, they cost the int8
   * KWS's 3x3 kernel 7% more instructions (GCC 12 -O3, measured on stm32l4r5) */
  const at_dw_view view = at_dw_view_of(m, p), *v = &view;
  const at_dw_plan plan = at_dw_plan_for(p, v), *pl = &plan;
  const int32_t batches = m->tensors[p->input].dims[0], depth = m->tensors[p->input].dims[3];
  const int32_t kh = v->kh, kw = v->kw, sh = v->sh, sw = v->sw;
  const int32_t kw2 = (kw + 1) / 2;
  const int32_t tile = pl->tile, pitch = pl->pitch, ring = pl->ring, band_rows = pl->band_rows;
  const int is_3x3 = kh == 3 && kw == 3 && (sw == 1 || sw == 2);
  const int32_t es = wide ? 2 : 1; /* bytes per activation */
  const uint8_t *in = (const uint8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  const void *bias = p->bias >= 0 ? at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  uint8_t *out = (uint8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
  const int full = lo <= -128 && hi >= 127;
  /* |input + offset| at most */
  const int32_t max_in = 128 + (p->input_offset < 0 ? -p->input_offset : p->input_offset);
  int32_t b, c, t0, oy, ky, i, last_j0 = -1, last_j1 = -1;
  int16_t buf[AT_DW_BUF] __attribute__((aligned(4)));
  int32_t acc[AT_DW_ACC + 1]; /* + 1: the pair kernels' unused last output */
  int32_t pairs[AT_DW_MAX_PAIRS];
  int16_t *band[AT_DW_ROWS];

  for (b = 0; b < batches; ++b) {
    const uint8_t *in_b = in + b * v->h * v->w * depth * es;
    uint8_t *out_b = out + b * v->oh * v->ow * depth * es;
    for (c = 0; c < depth; ++c) {
      const int32_t mu = mult[c], sc = shift[c];
      const int32_t bias_c = !wide && bias ? ((const int32_t *)bias)[c] : 0; /* the sums' start */
      const at_requant64 q64 = wide ? at_requant64_prepare(bias ? ((const int64_t *)bias)[c] : 0, mu, sc)
                                    : (at_requant64){0, 0, 0};
      int64_t bound = bias_c < 0 ? -(int64_t)bias_c : bias_c; /* of |sum|: |input + offset| <= max_in */
      int fast;
      /* filter words along a row; for 3x3: {k0,k1}, {k1,k2} per row */
      for (ky = 0; ky < kh; ++ky) {
        const int8_t *f = filter + ky * v->f_row + c;
        const int32_t fc = v->f_col;
        if (is_3x3) {
          pairs[2 * ky] = at_pack16(f[0], f[fc]);
          pairs[2 * ky + 1] = at_pack16(f[fc], f[2 * fc]);
        } else {
          for (i = 0; i < kw2; ++i)
            pairs[ky * kw2 + i] = at_pack16(f[2 * i * fc], 2 * i + 1 < kw ? f[(2 * i + 1) * fc] : 0);
        }
        if (!wide)
          for (i = 0; i < kw; ++i) bound += (int64_t)max_in * (f[i * fc] < 0 ? -f[i * fc] : f[i * fc]);
      }
      fast = sc < 0 && bound < (1 << 29);
      for (t0 = 0; t0 < v->ow; t0 += tile) {
        const int32_t n = v->ow - t0 < tile ? v->ow - t0 : tile;
        const int32_t ix0 = t0 * sw - v->pw;      /* input column of buffer column 0 */
        const int32_t ncols = (n - 1) * sw + kw; /* columns this tile's outputs read */
        const int32_t j0 = ix0 < 0 ? (-ix0 < ncols ? -ix0 : ncols) : 0;
        const int32_t j1 = v->w - ix0 < ncols ? (v->w - ix0 > j0 ? v->w - ix0 : j0) : ncols;
        const uint8_t *src = in_b + ((ix0 + j0) * v->in_col + c) * es;
        int32_t loaded = 0, next_iy = 0, head = 0; /* ring rows head.. hold input rows next_iy - loaded.. */
        /* columns outside [j0, j1) must be 0: the row loads never write them */
        if (j0 != last_j0 || j1 != last_j1) {
          memset(buf, 0, sizeof buf);
          last_j0 = j0;
          last_j1 = j1;
        }
        for (oy = 0; oy < v->oh; oy += band_rows) {
          const int32_t rows = v->oh - oy < band_rows ? v->oh - oy : band_rows;
          const int32_t iy0 = oy * sh - v->ph, need = (rows - 1) * sh + kh;
          uint8_t *dst = out_b + (oy * v->out_row + t0 * v->out_col + c) * es;
          int32_t slot;
          if (loaded && next_iy - loaded <= iy0 && iy0 < next_iy) { /* keep the rows this band shares */
            const int32_t drop = iy0 - (next_iy - loaded);
            head += drop;
            if (head >= ring) head -= ring;
            loaded -= drop;
          } else {
            loaded = 0;
            next_iy = iy0;
          }
          for (i = 0, slot = head; i < need; ++i) {
            band[i] = buf + slot * pitch;
            if (++slot == ring) slot = 0;
          }
          if (wide)
            at_dw_load_rows16(band + loaded, need - loaded, next_iy, v->h, (const int16_t *)(const void *)src,
                              v->in_row, v->in_col, j0, j1);
          else
            at_dw_load_rows(band + loaded, need - loaded, next_iy, v->h, (const int8_t *)src, v->in_row,
                            v->in_col, j0, j1, p->input_offset);
          next_iy += need - loaded;
          loaded = need;
          if (is_3x3 && sw == 1)
            at_dw_3x3_s1(acc, band, rows, sh, n, pairs, bias_c);
          else if (is_3x3)
            at_dw_3x3_s2(acc, band, rows, sh, n, pairs, bias_c);
          else if (kh == 10 && kw == 4)
            at_dw_10x4(acc, band, rows, sh, n, pairs, bias_c, sw);
          else
            at_dw_generic(acc, band, rows, sh, n, pairs, bias_c, kh, kw2, sw);
          if (wide)
            at_dw_requant_band16((int16_t *)(void *)dst, v->out_row, v->out_col, acc, rows, n, &q64, lo, hi);
          else if (fast && full)
            at_dw_requant_band((int8_t *)dst, v->out_row, v->out_col, acc, rows, n, mu, sc, zp, -128, 127, 1, 1);
          else if (fast)
            at_dw_requant_band((int8_t *)dst, v->out_row, v->out_col, acc, rows, n, mu, sc, zp, lo, hi, 1, 0);
          else
            at_dw_requant_band((int8_t *)dst, v->out_row, v->out_col, acc, rows, n, mu, sc, zp, lo, hi, 0, 0);
        }
      }
    }
  }
}

AT_NOINLINE void at_dw_rows8(const at_model *m, const at_dwconv_params *p) { at_dw_rows(m, p, 0); }

AT_NOINLINE void at_dw_rows16(const at_model *m, const at_dwconv_params *p) { at_dw_rows(m, p, 1); }

void at_dwconv_eval(const at_model *m, const at_dwconv_params *p) {
  const at_dw_view v = at_dw_view_of(m, p);
  const at_dw_plan pl = at_dw_plan_for(p, &v);
  const int32_t depth = m->tensors[p->input].dims[3];
  if (!pl.ok || !at_dw_requant_ok((const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers),
                                  (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts), depth)) {
    at_dwconv_eval_reference(m, p);
    return;
  }
  if (depth >= 4 && v.oh * v.ow <= AT_DW_SMALL_PLANE) {
    at_dw_by_channels(m, p);
    return;
  }
  at_dw_rows8(m, p);
}

/* DEPTHWISE_CONV_2D_16X8: the row-buffer path on int16 rows (at_dw_rows); what it does not take
 * runs the reference. */
void at_dwconv16x8_eval(const at_model *m, const at_dwconv_params *p) {
  const at_dw_view v = at_dw_view_of(m, p);
  const at_dw_plan pl = at_dw_plan_for(p, &v);
  if (!pl.ok || !at_shifts_for_requant64((const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts),
                                         m->tensors[p->output].dims[3])) {
    at_dwconv16x8_eval_reference(m, p);
    return;
  }
  at_dw_rows16(m, p);
}
