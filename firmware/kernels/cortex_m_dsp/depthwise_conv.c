/* DEPTHWISE_CONV_2D for ARMv7E-M (Cortex-M4/M7), bit-exact with ../reference/depthwise_conv.c.
 *
 * Covers depth multiplier 1 without dilation (MobileNet, DS-CNN) for kernels up to
 * AT_DW_MAX_K x AT_DW_MAX_K, any stride and padding; everything else runs the reference.
 *
 * One channel at a time.  Its input rows, plus the input offset, are copied as int16 into a
 * small row buffer whose padding columns and rows hold 0: a padded tap then adds 0, as the
 * reference's skipped tap does, so no output needs a bounds check.  Each output is a sum of
 * SMLADs, two taps per instruction, over that buffer (3x3 stride 1 and 2: two outputs per step,
 * sharing loaded words; 10x4 and other sizes: one output per step with unrolled taps).  The
 * row buffer slides down with the stride (a ring of row pointers), so each input value is
 * converted once per column tile.  The raw sums of a row tile are then requantised in a second
 * loop, where the channel's multiplier, shift and range stay in registers.
 *
 * Stack: AT_DW_BUF int16 + AT_DW_TILE int32, about 0.7 KB; wider rows are split into tiles. */
#include <arm_acle.h>
#include <string.h>

#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

#define AT_DW_BUF 256  /* int16 row-buffer entries: kernel rows x pitch */
#define AT_DW_TILE 32  /* outputs per row tile (the accumulators of one tile) */
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

/* at_mbqm for multiplier != INT32_MIN and -31 <= shift <= 31 (checked before use), with the
 * right shift known to be zero (rounds = 0) or not.  Same value, fewer instructions:
 * - SaturatingRoundingDoublingHighMul is floor((a*b + 2^30) / 2^31): for a*b >= 0 the
 *   truncating division is a floor; for a*b < 0 the reference's nudge 1 - 2^30 with the
 *   truncation (a ceiling) gives the same floor.  It saturates only for a = b = INT32_MIN.
 * - RoundingDivideByPOT(x, e), e >= 1, rounds half away from zero: round half up of x - 1 for
 *   negative x, and round half up of x / 2^e is floor(t / 2) + (t & 1) with t = x >> (e - 1). */
AT_INLINE int32_t at_dw_requant(int32_t acc, int32_t mult, int32_t left, int32_t right, int rounds) {
  const int64_t ab = (int64_t)(int32_t)((uint32_t)acc << left) * mult;
  int32_t x = (int32_t)((ab + (1 << 30)) >> 31);
  if (rounds) {
    x += x >> 31;
    x >>= right - 1;
    x = (x >> 1) + (x & 1);
  }
  return x;
}

AT_INLINE void at_dw_requant_tile(int8_t *out, int32_t step, const int32_t *acc, int32_t n, int32_t mult,
                                  int32_t left, int32_t right, int32_t zp, int32_t lo, int32_t hi,
                                  int rounds) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    int32_t v = at_dw_requant(acc[i], mult, left, right, rounds) + zp;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    *out = (int8_t)v;
    out += step;
  }
}

/* 3x3, stride 1: outputs x and x+1 read columns x..x+3 of each row; k = {k0,k1}, {k1,k2} per row.
 * Writes acc[n] too when n is odd (the row buffer has the columns; the value is not used). */
AT_NOINLINE void at_dw_3x3_s1(int32_t *acc, int32_t n, const int16_t *r0, const int16_t *r1,
                              const int16_t *r2, const int32_t *k) {
  const int32_t k01a = k[0], k12a = k[1], k01b = k[2], k12b = k[3], k01c = k[4], k12c = k[5];
  int32_t a0 = at_ld_pair(r0), b0 = at_ld_pair(r1), c0 = at_ld_pair(r2);
  int32_t x;
  for (x = 0; x < n; x += 2) {
    const int32_t a2 = at_ld_pair(r0 + x + 2), b2 = at_ld_pair(r1 + x + 2), c2 = at_ld_pair(r2 + x + 2);
    int32_t s0 = acc[x], s1 = acc[x + 1];
    s0 = __smlad(a0, k01a, s0);
    s0 = __smlabt(a2, k12a, s0);
    s1 = __smlatb(a0, k01a, s1);
    s1 = __smlad(a2, k12a, s1);
    s0 = __smlad(b0, k01b, s0);
    s0 = __smlabt(b2, k12b, s0);
    s1 = __smlatb(b0, k01b, s1);
    s1 = __smlad(b2, k12b, s1);
    s0 = __smlad(c0, k01c, s0);
    s0 = __smlabt(c2, k12c, s0);
    s1 = __smlatb(c0, k01c, s1);
    s1 = __smlad(c2, k12c, s1);
    acc[x] = s0;
    acc[x + 1] = s1;
    a0 = a2;
    b0 = b2;
    c0 = c2;
  }
}

/* 3x3, stride 2: outputs x and x+1 read columns 2x..2x+5; the same filter words as stride 1 */
AT_NOINLINE void at_dw_3x3_s2(int32_t *acc, int32_t n, const int16_t *r0, const int16_t *r1,
                              const int16_t *r2, const int32_t *k) {
  const int32_t k01a = k[0], k12a = k[1], k01b = k[2], k12b = k[3], k01c = k[4], k12c = k[5];
  int32_t a0 = at_ld_pair(r0), b0 = at_ld_pair(r1), c0 = at_ld_pair(r2);
  int32_t x;
  for (x = 0; x < n; x += 2) {
    const int16_t *p0 = r0 + 2 * x, *p1 = r1 + 2 * x, *p2 = r2 + 2 * x;
    const int32_t a2 = at_ld_pair(p0 + 2), a4 = at_ld_pair(p0 + 4);
    const int32_t b2 = at_ld_pair(p1 + 2), b4 = at_ld_pair(p1 + 4);
    const int32_t c2 = at_ld_pair(p2 + 2), c4 = at_ld_pair(p2 + 4);
    int32_t s0 = acc[x], s1 = acc[x + 1];
    s0 = __smlad(a0, k01a, s0);
    s0 = __smlabt(a2, k12a, s0);
    s1 = __smlad(a2, k01a, s1);
    s1 = __smlabt(a4, k12a, s1);
    s0 = __smlad(b0, k01b, s0);
    s0 = __smlabt(b2, k12b, s0);
    s1 = __smlad(b2, k01b, s1);
    s1 = __smlabt(b4, k12b, s1);
    s0 = __smlad(c0, k01c, s0);
    s0 = __smlabt(c2, k12c, s0);
    s1 = __smlad(c2, k01c, s1);
    s1 = __smlabt(c4, k12c, s1);
    acc[x] = s0;
    acc[x + 1] = s1;
    a0 = a4;
    b0 = b4;
    c0 = c4;
  }
}

/* Any kernel: pairs[kh][kw2] filter words {k(2i), k(2i+1)} (the last one {k, 0} for odd kw: it
 * reads one column past the window, which the row buffer holds). */
AT_INLINE void at_dw_any(int32_t *acc, int32_t n, int16_t *const *rows, const int32_t *pairs, int32_t kh,
                         int32_t kw2, int32_t stride) {
  int32_t x, ky, i;
  for (x = 0; x < n; ++x) {
    const int32_t *k = pairs;
    int32_t s = acc[x];
    for (ky = 0; ky < kh; ++ky) {
      const int16_t *r = rows[ky] + x * stride;
      for (i = 0; i < kw2; ++i) s = __smlad(at_ld_pair(r + 2 * i), k[i], s);
      k += kw2;
    }
    acc[x] = s;
  }
}

/* 10x4 (the DS-CNN first-layer shape): constant trip counts, so the taps unroll */
AT_NOINLINE void at_dw_10x4(int32_t *acc, int32_t n, int16_t *const *rows, const int32_t *pairs,
                            int32_t stride) {
  at_dw_any(acc, n, rows, pairs, 10, 2, stride);
}

AT_NOINLINE void at_dw_generic(int32_t *acc, int32_t n, int16_t *const *rows, const int32_t *pairs,
                               int32_t kh, int32_t kw2, int32_t stride) {
  at_dw_any(acc, n, rows, pairs, kh, kw2, stride);
}

/* input row -> buffer columns [j0, j1) as int16 with the input offset (src: the first of them) */
AT_NOINLINE void at_dw_load_row(int16_t *row, const int8_t *src, int32_t step, int32_t j0, int32_t j1,
                                int32_t offset) {
  int32_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const int32_t v0 = src[0], v1 = src[step], v2 = src[2 * step], v3 = src[3 * step];
    row[j] = (int16_t)(v0 + offset);
    row[j + 1] = (int16_t)(v1 + offset);
    row[j + 2] = (int16_t)(v2 + offset);
    row[j + 3] = (int16_t)(v3 + offset);
    src += 4 * step;
  }
  for (; j < j1; ++j) {
    row[j] = (int16_t)(*src + offset);
    src += step;
  }
}

static int at_dw_requant_ok(const int32_t *mult, const int32_t *shift, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i)
    if (mult[i] == INT32_MIN || shift[i] > 31 || shift[i] < -31) return 0;
  return 1;
}

void at_dwconv_eval(const at_model *m, const at_dwconv_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];
  const at_tensor *to = &m->tensors[p->output];
  const int32_t batches = ti->dims[0], in_h = ti->dims[1], in_w = ti->dims[2], depth = ti->dims[3];
  const int32_t kh = tf->dims[1], kw = tf->dims[2];
  const int32_t out_h = to->dims[1], out_w = to->dims[2];
  const int32_t sh = p->stride_h, sw = p->stride_w;
  const int32_t kw2 = (kw + 1) / 2;
  const int is_3x3 = kh == 3 && kw == 3 && (sw == 1 || sw == 2);
  const int8_t *in, *filter;
  const int32_t *bias, *mult, *shift;
  int8_t *out;
  int32_t pitch, tile, b, c, t0, oy, ky, i;
  int16_t buf[AT_DW_BUF] __attribute__((aligned(4)));
  int32_t acc[AT_DW_TILE + 1]; /* + 1: the pair kernels' unused last output */
  int32_t pairs[AT_DW_MAX_PAIRS];
  int16_t *ring[2 * AT_DW_MAX_K]; /* buffer rows, twice: any window of kh is contiguous */

  /* columns a tile of `tile` outputs needs, + 2 for the pair kernels' reads past it, even */
  tile = AT_DW_TILE < out_w ? AT_DW_TILE : out_w;
  if (kh > 0) {
    const int32_t most = AT_DW_BUF / kh; /* the widest pitch that fits */
    while (tile > 1 && (((tile - 1) * sw + kw + 3) & ~1) > most) --tile;
  }
  pitch = ((tile - 1) * sw + kw + 3) & ~1;
  if (p->depth_multiplier != 1 || p->dilation_h != 1 || p->dilation_w != 1 || kh < 1 ||
      kh > AT_DW_MAX_K || kw < 1 || kh * kw2 > AT_DW_MAX_PAIRS || pitch * kh > AT_DW_BUF || out_w < 1) {
    at_dwconv_eval_reference(m, p);
    return;
  }
  for (i = 0; i < 2 * kh; ++i) ring[i] = buf + (i < kh ? i : i - kh) * pitch;
  mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  if (!at_dw_requant_ok(mult, shift, depth)) {
    at_dwconv_eval_reference(m, p);
    return;
  }
  in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  bias = p->bias >= 0 ? (const int32_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);

  for (b = 0; b < batches; ++b) {
    const int8_t *in_b = in + b * in_h * in_w * depth;
    int8_t *out_b = out + b * out_h * out_w * depth;
    for (c = 0; c < depth; ++c) {
      const int32_t mu = mult[c], left = shift[c] > 0 ? shift[c] : 0, right = shift[c] > 0 ? 0 : -shift[c];
      const int32_t bias_c = bias ? bias[c] : 0;
      /* filter pairs along a row; for 3x3: {k0,k1}, {k1,k2} per row */
      for (ky = 0; ky < kh; ++ky) {
        const int8_t *f = filter + ky * kw * depth + c;
        if (is_3x3) {
          pairs[2 * ky] = at_pack16(f[0], f[depth]);
          pairs[2 * ky + 1] = at_pack16(f[depth], f[2 * depth]);
        } else {
          for (i = 0; i < kw2; ++i)
            pairs[ky * kw2 + i] = at_pack16(f[2 * i * depth], 2 * i + 1 < kw ? f[(2 * i + 1) * depth] : 0);
        }
      }
      for (t0 = 0; t0 < out_w; t0 += tile) {
        const int32_t n = out_w - t0 < tile ? out_w - t0 : tile;
        const int32_t ix0 = t0 * sw - p->pad_w;              /* input column of buffer column 0 */
        const int32_t ncols = (n - 1) * sw + kw;             /* columns this tile's outputs read */
        const int32_t j0 = ix0 < 0 ? (-ix0 < ncols ? -ix0 : ncols) : 0;
        const int32_t j1 = in_w - ix0 < ncols ? (in_w - ix0 > j0 ? in_w - ix0 : j0) : ncols;
        int32_t loaded = 0, next_iy = 0, head = 0; /* the window ring[head..): loaded rows, then free */
        /* padding columns stay 0 (the row loads write only in-image ones); the image edge
         * moves with the tile, so clear what a previous tile or channel left */
        memset(buf, 0, sizeof(int16_t) * (size_t)(pitch * kh));
        for (oy = 0; oy < out_h; ++oy) {
          const int32_t iy0 = oy * sh - p->pad_h;
          int8_t *dst = out_b + (oy * out_w + t0) * depth + c;
          int16_t **rows;
          /* slide the window: keep the rows still inside it, load the new ones */
          if (loaded && next_iy - loaded <= iy0 && iy0 < next_iy) {
            const int32_t drop = iy0 - (next_iy - loaded);
            head += drop;
            if (head >= kh) head -= kh;
            loaded -= drop;
          } else {
            loaded = 0;
            next_iy = iy0;
          }
          rows = ring + head;
          for (; loaded < kh; ++loaded, ++next_iy) {
            int16_t *row = rows[loaded];
            if (next_iy < 0 || next_iy >= in_h)
              memset(row + j0, 0, sizeof(int16_t) * (size_t)(j1 - j0));
            else
              at_dw_load_row(row, in_b + ((next_iy * in_w) + ix0 + j0) * depth + c, depth, j0, j1,
                             p->input_offset);
          }
          for (i = 0; i <= n; ++i) acc[i] = bias_c;
          if (is_3x3 && sw == 1)
            at_dw_3x3_s1(acc, n, rows[0], rows[1], rows[2], pairs);
          else if (is_3x3)
            at_dw_3x3_s2(acc, n, rows[0], rows[1], rows[2], pairs);
          else if (kh == 10 && kw == 4)
            at_dw_10x4(acc, n, rows, pairs, sw);
          else
            at_dw_generic(acc, n, rows, pairs, kh, kw2, sw);
          if (right > 0)
            at_dw_requant_tile(dst, depth, acc, n, mu, left, right, p->output_offset, p->act_min,
                               p->act_max, 1);
          else
            at_dw_requant_tile(dst, depth, acc, n, mu, left, 0, p->output_offset, p->act_min,
                               p->act_max, 0);
        }
      }
    }
  }
}
