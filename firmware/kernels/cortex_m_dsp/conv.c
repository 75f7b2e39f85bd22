/* CONV_2D, int8 per-channel, with the DSP extension: bit-exact with the reference kernel
 * (the same integer sums, requantised by the same at_mbqm).
 *
 * Each output pixel's receptive field is gathered once into an int16 column (im2col,
 * input offset added while widening: SXTAB16), then every pair of output channels is
 * run against a pair of columns: 2 channels x 2 pixels = 4 accumulators, each weight word
 * widened once (SXTB16) and used for both pixels, 2 MACs per SMLAD.  A 1x1 stride-1
 * convolution is the same loop with the column a widened copy of the input pixel: a
 * matrix product.
 *
 * Column layout (two pixels interleaved so one pointer walks both): taps in filter order
 * (ky, kx, ic); each complete group of four taps t0..t3 is four words, pixel 0's pairs
 * (t0, t2), (t1, t3) -- the order SXTB16 widens a weight word in (dsp_util.h) -- then
 * pixel 1's; the last K % 4 taps follow in plain int16, four slots per pixel.
 *
 * Falls back to the reference kernel for grouped convolution and for a receptive field
 * above AT_CONV_MAX_TAPS (the stack buffer's cap). */
#include "dsp_util.h"
#include "fixedpoint.h"
#include "kernel_util.h"
#include "kernels.h"

/* Taps per column: 3x3x64, the largest receptive field of the MLPerf Tiny models (IC ResNet);
 * two columns of int16 = 2,320 B of stack at most. */
#define AT_CONV_MAX_TAPS 576

typedef struct {
  const int8_t *in; /* this batch's input image */
  int32_t in_h, in_w, in_d, k_h, k_w, taps, groups;
  int32_t dil_h, dil_w;
  uint32_t offset2; /* the input offset in both halfwords */
  int32_t input_offset;
} geometry;

/* Widen n (a multiple of 4) input bytes into the column words of whole groups, dst at
 * the first group's pair for this pixel. */
static inline void widen_words(uint32_t *dst, const int8_t *src, int32_t n, uint32_t offset2) {
  for (; n > 0; n -= 4, src += 4, dst += 4) {
    const uint32_t v = at_load_s8x4(src);
    dst[0] = __sxtab16(offset2, v);
    dst[1] = at_sxtab16_ror8(offset2, v);
  }
}

/* Taps k..k+n-1 one at a time (src 0: outside the image, 0 as the reference skips them). */
static void gather_taps(uint32_t *cols, int pixel, const geometry *g, int32_t k, const int8_t *src, int32_t n) {
  int16_t *c = (int16_t *)(void *)cols;
  int32_t i;
  for (i = 0; i < n; ++i, ++k) {
    const int16_t v = src ? (int16_t)(src[i] + g->input_offset) : 0;
    if (k < g->groups * 4)
      c[(k >> 2) * 8 + pixel * 4 + ((k & 1) << 1) + ((k >> 1) & 1)] = v;
    else
      c[g->groups * 8 + pixel * 4 + (k & 3)] = v;
  }
}

/* The column of pixel 0 or 1 of a pair, whose window starts at (iy0, ix0). */
static void fill_column(uint32_t *cols, int pixel, const geometry *g, int32_t iy0, int32_t ix0) {
  const int32_t row_taps = g->k_w * g->in_d;
  const int row_words = row_taps % 4 == 0 && g->dil_w == 1 && ix0 >= 0 && ix0 + g->k_w <= g->in_w;
  int32_t ky, kx, k = 0;
  for (ky = 0; ky < g->k_h; ++ky) {
    const int32_t iy = iy0 + g->dil_h * ky;
    const int8_t *row;
    if (iy < 0 || iy >= g->in_h) {
      gather_taps(cols, pixel, g, k, 0, row_taps);
      k += row_taps;
      continue;
    }
    row = g->in + iy * g->in_w * g->in_d;
    if (row_words) { /* the window's row is contiguous in the image (NHWC) and whole groups */
      widen_words(cols + k + pixel * 2, row + ix0 * g->in_d, row_taps, g->offset2);
      k += row_taps;
      continue;
    }
    for (kx = 0; kx < g->k_w; ++kx, k += g->in_d) {
      const int32_t ix = ix0 + g->dil_w * kx;
      const int inside = ix >= 0 && ix < g->in_w;
      if (g->in_d % 4 == 0 && inside)
        widen_words(cols + k + pixel * 2, row + ix * g->in_d, g->in_d, g->offset2);
      else
        gather_taps(cols, pixel, g, k, inside ? row + ix * g->in_d : 0, g->in_d);
    }
  }
}

/* acc[0..3] += the products of `groups` (>= 1) groups of 4 taps: {w0.pixel0, w0.pixel1,
 * w1.pixel0, w1.pixel1}, the columns' words at x.  Hand-scheduled because the loop needs all
 * 14 allocatable registers (4 accumulators, 3 pointers, a count, 4 column words, a weight word
 * and its widened half) and GCC spills one: r0 w0, r1 w1, r2 x, r3 count, r4-r7 acc, r8-r11
 * the group's column words (pixel 0's (t0,t2) (t1,t3), then pixel 1's), r12/lr a weight word
 * widened in two halves (SXTB16, SXTB16 ROR 8); two groups per trip.  Arguments per the AAPCS
 * (r0-r3, then the stack: acc). */
#define AT_MAC_GROUP                                                                                 \
  "ldm r2!, {r8-r11}\n"                                                                              \
  "ldr r12, [r0], #4\n"                                                                              \
  "sxtb16 lr, r12\n"                                                                                 \
  "smlad r4, lr, r8, r4\n"                                                                           \
  "smlad r5, lr, r10, r5\n"                                                                          \
  "sxtb16 r12, r12, ror #8\n"                                                                        \
  "smlad r4, r12, r9, r4\n"                                                                          \
  "smlad r5, r12, r11, r5\n"                                                                         \
  "ldr r12, [r1], #4\n"                                                                              \
  "sxtb16 lr, r12\n"                                                                                 \
  "smlad r6, lr, r8, r6\n"                                                                           \
  "smlad r7, lr, r10, r7\n"                                                                          \
  "sxtb16 r12, r12, ror #8\n"                                                                        \
  "smlad r6, r12, r9, r6\n"                                                                          \
  "smlad r7, r12, r11, r7\n"

static __attribute__((naked, noinline)) void mac_groups(const int8_t *w0 __attribute__((unused)),
                                                        const int8_t *w1 __attribute__((unused)),
                                                        const uint32_t *x __attribute__((unused)),
                                                        int32_t groups __attribute__((unused)),
                                                        int32_t *acc __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n"
      "ldr lr, [sp, #36]\n" /* acc: the fifth argument, above the 9 saved registers */
      "ldm lr, {r4-r7}\n"
      "tst r3, #1\n"
      "beq 2f\n"
      AT_MAC_GROUP
      "subs r3, r3, #1\n"
      "beq 3f\n"
      "2:\n"
      AT_MAC_GROUP
      AT_MAC_GROUP
      "subs r3, r3, #2\n"
      "bne 2b\n"
      "3:\n"
      "ldr lr, [sp, #36]\n"
      "stm lr, {r4-r7}\n"
      "pop {r4-r11, pc}\n");
}

/* Channels per accumulator block: the requantisation runs after the products of a block,
 * in its own loop, so neither loop spills registers. */
#define AT_CONV_BLOCK 64

/* Dot products of n filters (from w, each taps long) with the two columns at cols, plus
 * the filter's bias (none: 0): acc[2c + pixel] for filter c.  Pairs of filters share each
 * widened column word. */
static __attribute__((noinline)) void mac_block(const int8_t *w, const int32_t *bias, int32_t n, int32_t taps,
                                                const uint32_t *cols, int32_t acc[2 * AT_CONV_BLOCK]) {
  const int32_t groups = taps >> 2, tail = taps & 3;
  int32_t c, k;
  for (c = 0; c < n; c += 2, w += 2 * taps, acc += 4) {
    const int8_t *w0 = w, *w1 = c + 1 < n ? w + taps : w; /* an odd last filter pairs with itself */
    const int16_t *t = (const int16_t *)(const void *)(cols + groups * 4); /* pixel 0's last taps, pixel 1's */
    acc[0] = acc[1] = bias ? bias[c] : 0;
    acc[2] = acc[3] = bias ? bias[c + 1 < n ? c + 1 : c] : 0;
    if (groups) mac_groups(w0, w1, cols, groups, acc);
    w0 += groups * 4, w1 += groups * 4;
    for (k = 0; k < tail; ++k) {
      acc[0] += w0[k] * t[k], acc[1] += w0[k] * t[4 + k];
      acc[2] += w1[k] * t[k], acc[3] += w1[k] * t[4 + k];
    }
  }
}

typedef struct {
  int32_t output_offset, act_min, act_max;
} output_range;

/* Requantise a block's accumulators into the pixel pair's outputs, each channel's
 * multiplier and shift read once for both pixels.  A lone last pixel passes o1 == o0: its
 * stand-in result is written first, then overwritten. */
static __attribute__((noinline)) void requantise_block(const int32_t *acc, int32_t n, const int32_t *mult,
                                                       const int32_t *shift, const output_range *q, int8_t *o0,
                                                       int8_t *o1) {
  const int32_t off = q->output_offset, lo = q->act_min, hi = q->act_max;
  int32_t c;
  for (c = 0; c < n; ++c, acc += 2) {
    const int32_t sh = shift[c], m = mult[c];
    const int left = sh > 0 ? (int)sh : 0, right = left - (int)sh;
    int32_t v0 = at_mbqm_split(acc[0], m, left, right) + off;
    int32_t v1 = at_mbqm_split(acc[1], m, left, right) + off;
    v0 = v0 < lo ? lo : v0;
    v1 = v1 < lo ? lo : v1;
    o1[c] = (int8_t)(v1 > hi ? hi : v1);
    o0[c] = (int8_t)(v0 > hi ? hi : v0);
  }
}

void at_conv_eval(const at_model *m, const at_conv_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];
  const at_tensor *to = &m->tensors[p->output];
  const int8_t *in = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  const int32_t *bias = p->bias >= 0 ? (const int32_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  const int32_t *shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  int8_t *out = (int8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t batches = ti->dims[0], out_w = to->dims[2], out_d = to->dims[3];
  const int32_t pixels = to->dims[1] * out_w;
  uint32_t buf[AT_CONV_MAX_TAPS + 4]; /* two interleaved int16 columns + their tails */
  int32_t acc[2 * AT_CONV_BLOCK];
  uint32_t *cols;
  int32_t b, px, oc;
  const output_range q = {p->output_offset, p->act_min, p->act_max}; /* int8 stores alias p */
  geometry g;
  g.in_h = ti->dims[1], g.in_w = ti->dims[2], g.in_d = ti->dims[3];
  g.k_h = tf->dims[1], g.k_w = tf->dims[2];
  g.taps = g.k_h * g.k_w * g.in_d;
  g.groups = g.taps >> 2;
  if (tf->dims[3] != g.in_d || g.taps > AT_CONV_MAX_TAPS || !at_multipliers_plain(mult, out_d)) {
    at_conv_eval_reference(m, p);
    return;
  }
  g.dil_h = p->dilation_h, g.dil_w = p->dilation_w;
  g.input_offset = p->input_offset;
  g.offset2 = at_pair16(p->input_offset);
  /* the columns at the top of the buffer: the stack a run touches (the emulator's painted
   * peak) is what this layer needs, not the cap */
  cols = buf + AT_CONV_MAX_TAPS - g.groups * 4;

  for (b = 0; b < batches; ++b) {
    g.in = in + b * g.in_h * g.in_w * g.in_d;
    for (px = 0; px < pixels; px += 2) {
      /* an odd last pixel runs as a pair with itself, its second result dropped */
      const int two = px + 1 < pixels;
      const int32_t px1 = two ? px + 1 : px;
      int8_t *o0 = out + (b * pixels + px) * out_d, *o1 = o0 + out_d;
      fill_column(cols, 0, &g, (px / out_w) * p->stride_h - p->pad_h, (px % out_w) * p->stride_w - p->pad_w);
      fill_column(cols, 1, &g, (px1 / out_w) * p->stride_h - p->pad_h, (px1 % out_w) * p->stride_w - p->pad_w);
      for (oc = 0; oc < out_d; oc += AT_CONV_BLOCK) {
        const int32_t n = out_d - oc < AT_CONV_BLOCK ? out_d - oc : AT_CONV_BLOCK;
        mac_block(filter + oc * g.taps, bias ? bias + oc : 0, n, g.taps, cols, acc);
        requantise_block(acc, n, mult + oc, shift + oc, &q, o0 + oc, (two ? o1 : o0) + oc);
      }
    }
  }
}
