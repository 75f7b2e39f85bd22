/* AVERAGE_POOL_2D and MAX_POOL_2D for ARMv7E-M (Cortex-M4/M7), bit-exact with
 * ../reference/pooling.c.
 *
 * Four channels per word: the average adds a window's int8 values into two words of int16
 * lane sums with SXTAB16 (even and odd channels; exact while the window has at most 256
 * in-image values, 256 x -128 = -32768), then divides each lane's sum as the reference does.
 * The maximum keeps four int8 maxima in one word (SSUB8 sets the GE flags lane by lane, SEL
 * picks) and clamps all four the same way.  Larger windows run the reference. */
#include <arm_acle.h>
#include <string.h>

#include "kernel_util.h"
#include "kernels.h"

#define AT_POOL_MAX_SUM 256 /* in-image values per window the int16 lane sums hold */

static inline uint32_t at_pool_ld4(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* a + bytes 1 and 3 of x, sign-extended, per halfword (SXTAB16 with its rotation) */
static inline uint32_t at_pool_sxtab16_ror8(uint32_t a, uint32_t x) {
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
  return r;
}

/* the reference's rounding division of a window sum, then the activation clamp */
static inline int8_t at_pool_average(int32_t sum, int32_t count, int32_t lo, int32_t hi) {
  const int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  return (int8_t)at_clamp(v, lo, hi);
}

/* the window of output (oy, ox) clipped to the image: rows [fy0, fy1), columns [fx0, fx1) from
 * its top-left input pixel (iy0, ix0) */
typedef struct {
  int32_t iy0, ix0, fy0, fy1, fx0, fx1;
} at_pool_window;

static inline at_pool_window at_pool_clip(const at_pool_params *p, int32_t oy, int32_t ox, int32_t in_h,
                                          int32_t in_w) {
  at_pool_window w;
  w.iy0 = oy * p->stride_h - p->pad_h;
  w.ix0 = ox * p->stride_w - p->pad_w;
  w.fy0 = w.iy0 < 0 ? -w.iy0 : 0;
  w.fy1 = p->filter_h < in_h - w.iy0 ? p->filter_h : in_h - w.iy0;
  w.fx0 = w.ix0 < 0 ? -w.ix0 : 0;
  w.fx1 = p->filter_w < in_w - w.ix0 ? p->filter_w : in_w - w.ix0;
  return w;
}

void at_avgpool_eval(const at_model *m, const at_pool_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *to = &m->tensors[p->output];
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t batches = ti->dims[0], in_h = ti->dims[1], in_w = ti->dims[2], depth = ti->dims[3];
  const int32_t out_h = to->dims[1], out_w = to->dims[2], row = in_w * depth;
  const int32_t lo = p->act_min, hi = p->act_max;
  int32_t b, oy, ox, c, fy, fx;
  if (p->filter_h * p->filter_w > AT_POOL_MAX_SUM) {
    at_avgpool_eval_reference(m, p);
    return;
  }
  for (b = 0; b < batches; ++b) {
    for (oy = 0; oy < out_h; ++oy) {
      for (ox = 0; ox < out_w; ++ox) {
        const at_pool_window w = at_pool_clip(p, oy, ox, in_h, in_w);
        const int32_t rows = w.fy1 - w.fy0, cols = w.fx1 - w.fx0;
        const int8_t *win = in + ((b * in_h + w.iy0 + w.fy0) * in_w + w.ix0 + w.fx0) * depth;
        int8_t *o = out + ((b * out_h + oy) * out_w + ox) * depth;
        if (rows <= 0 || cols <= 0) { /* no in-image value: the reference's sum and count are 0 */
          for (c = 0; c < depth; ++c) o[c] = (int8_t)at_clamp(0, lo, hi);
          continue;
        }
        for (c = 0; c + 4 <= depth; c += 4) {
          uint32_t even = 0, odd = 0; /* int16 lane sums of channels c, c+2 and c+1, c+3 */
          const int8_t *r = win + c;
          for (fy = 0; fy < rows; ++fy, r += row) {
            const int8_t *q = r;
            for (fx = 0; fx < cols; ++fx, q += depth) {
              const uint32_t v = at_pool_ld4(q);
              even = __sxtab16(even, v);
              odd = at_pool_sxtab16_ror8(odd, v);
            }
          }
          o[c] = at_pool_average((int16_t)even, rows * cols, lo, hi);
          o[c + 1] = at_pool_average((int16_t)odd, rows * cols, lo, hi);
          o[c + 2] = at_pool_average((int32_t)even >> 16, rows * cols, lo, hi);
          o[c + 3] = at_pool_average((int32_t)odd >> 16, rows * cols, lo, hi);
        }
        for (; c < depth; ++c) {
          int32_t sum = 0;
          const int8_t *r = win + c;
          for (fy = 0; fy < rows; ++fy, r += row)
            for (fx = 0; fx < cols; ++fx) sum += r[fx * depth];
          o[c] = at_pool_average(sum, rows * cols, lo, hi);
        }
      }
    }
  }
}

void at_maxpool_eval(const at_model *m, const at_pool_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *to = &m->tensors[p->output];
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t batches = ti->dims[0], in_h = ti->dims[1], in_w = ti->dims[2], depth = ti->dims[3];
  const int32_t out_h = to->dims[1], out_w = to->dims[2], row = in_w * depth;
  const int32_t lo = p->act_min, hi = p->act_max;
  /* the activation bounds in every byte lane */
  const uint32_t lo4 = 0x01010101u * (uint8_t)(int8_t)lo, hi4 = 0x01010101u * (uint8_t)(int8_t)hi;
  int32_t b, oy, ox, c, fy, fx;
  if (lo < -128 || hi > 127) { /* not int8 bounds: the lanes could not hold them */
    at_maxpool_eval_reference(m, p);
    return;
  }
  for (b = 0; b < batches; ++b) {
    for (oy = 0; oy < out_h; ++oy) {
      for (ox = 0; ox < out_w; ++ox) {
        const at_pool_window w = at_pool_clip(p, oy, ox, in_h, in_w);
        const int32_t rows = w.fy1 - w.fy0, cols = w.fx1 - w.fx0;
        const int8_t *win = in + ((b * in_h + w.iy0 + w.fy0) * in_w + w.ix0 + w.fx0) * depth;
        int8_t *o = out + ((b * out_h + oy) * out_w + ox) * depth;
        for (c = 0; c + 4 <= depth; c += 4) {
          uint32_t mx = 0x80808080u; /* -128 in each lane, the reference's start */
          const int8_t *r = win + c;
          for (fy = 0; fy < rows; ++fy, r += row) {
            const int8_t *q = r;
            for (fx = 0; fx < cols; ++fx, q += depth) {
              const uint32_t v = at_pool_ld4(q);
              (void)__ssub8(v, mx); /* GE per lane: v >= mx */
              mx = __sel(v, mx);
            }
          }
          (void)__ssub8(mx, lo4);
          mx = __sel(mx, lo4);
          (void)__ssub8(mx, hi4);
          mx = __sel(hi4, mx);
          memcpy(o + c, &mx, 4);
        }
        for (; c < depth; ++c) {
          int32_t v = -128;
          const int8_t *r = win + c;
          for (fy = 0; fy < rows; ++fy, r += row)
            for (fx = 0; fx < cols; ++fx)
              if (r[fx * depth] > v) v = r[fx * depth];
          o[c] = (int8_t)at_clamp(v, lo, hi);
        }
      }
    }
  }
}
