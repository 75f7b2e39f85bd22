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
 * two columns of int16 = 2,320 B of stack at most (+ 512 B of accumulators: AT_CONV_WORDS). */
#define AT_CONV_MAX_TAPS 576

typedef struct {
  const int8_t *in; /* this batch's input image */
  const int16_t *in16; /* the same, for a 16x8 convolution */
  int32_t in_h, in_w, in_d, k_h, k_w, taps, groups;
  int32_t dil_h, dil_w;
  uint32_t offset2; /* the input offset in both halfwords */
  int32_t input_offset;
} geometry;

/* Column slot (int16 index) of tap k for a pixel (the layout above). */
static inline int32_t tap_slot(const geometry *g, int pixel, int32_t k) {
  static const uint8_t order[4] = {0, 2, 1, 3}; /* t0 t1 t2 t3 -> (t0, t2), (t1, t3) */
  return k < g->groups * 4 ? (k & ~3) * 2 + pixel * 4 + order[k & 3] : g->groups * 8 + pixel * 4 + (k & 3);
}

/* Taps k..k+n-1 of a pixel's column from n consecutive input bytes (src 0: outside the
 * image, zeros, as the reference skips them): whole groups a word at a time (SXTAB16 adds
 * the input offset while widening), the taps before the first and after the last whole
 * group one at a time. */
static void put_taps(uint32_t *cols, int pixel, const geometry *g, int32_t k, const int8_t *src, int32_t n) {
  int16_t *c = (int16_t *)(void *)cols;
  const int32_t end = k + n, words_end = end < g->groups * 4 ? end & ~3 : g->groups * 4;
  for (; k < end && (k & 3); ++k, src = src ? src + 1 : 0)
    c[tap_slot(g, pixel, k)] = src ? (int16_t)(*src + g->input_offset) : 0;
  if (src) {
    const uint32_t offset2 = g->offset2;
    uint32_t *dst = cols + k + pixel * 2; /* group k/4's words for this pixel */
    for (; k < words_end; k += 4, src += 4, dst += 4) {
      const uint32_t v = at_load_s8x4(src);
      dst[0] = __sxtab16(offset2, v);
      dst[1] = at_sxtab16_ror8(offset2, v);
    }
  } else {
    uint32_t *dst = cols + k + pixel * 2;
    for (; k < words_end; k += 4, dst += 4) dst[0] = dst[1] = 0;
  }
  for (; k < end; ++k, src = src ? src + 1 : 0)
    c[tap_slot(g, pixel, k)] = src ? (int16_t)(*src + g->input_offset) : 0;
}

/* The column of pixel 0 or 1 of a pair, whose window starts at (iy0, ix0). */
static void fill_column(uint32_t *cols, int pixel, const geometry *g, int32_t iy0, int32_t ix0) {
  const int32_t row_taps = g->k_w * g->in_d;
  int32_t ky, kx, k = 0;
  /* with dilation 1 a window row is one run of bytes in the image (NHWC): the columns
   * [kx_lo, kx_hi) inside it, zeros either side */
  const int32_t kx_lo = ix0 < 0 ? -ix0 : 0, kx_hi = ix0 + g->k_w > g->in_w ? g->in_w - ix0 : g->k_w;
  /* the common case a word at a time without put_taps' calls: whole rows of whole groups */
  const int whole = g->dil_w == 1 && kx_lo == 0 && kx_hi == g->k_w && (row_taps & 3) == 0;
  const uint32_t offset2 = g->offset2;
  for (ky = 0; ky < g->k_h; ++ky, k += row_taps) {
    const int32_t iy = iy0 + g->dil_h * ky;
    const int8_t *row;
    if (iy < 0 || iy >= g->in_h) {
      put_taps(cols, pixel, g, k, 0, row_taps);
      continue;
    }
    row = g->in + iy * g->in_w * g->in_d;
    if (whole) {
      const int8_t *src = row + ix0 * g->in_d;
      uint32_t *dst = cols + k + pixel * 2, *const end = dst + row_taps;
      for (; dst < end; dst += 4, src += 4) {
        const uint32_t v = at_load_s8x4(src);
        dst[0] = __sxtab16(offset2, v);
        dst[1] = at_sxtab16_ror8(offset2, v);
      }
      continue;
    }
    if (g->dil_w == 1) {
      if (kx_hi <= kx_lo) {
        put_taps(cols, pixel, g, k, 0, row_taps);
        continue;
      }
      if (kx_lo > 0) put_taps(cols, pixel, g, k, 0, kx_lo * g->in_d);
      put_taps(cols, pixel, g, k + kx_lo * g->in_d, row + (ix0 + kx_lo) * g->in_d, (kx_hi - kx_lo) * g->in_d);
      if (kx_hi < g->k_w) put_taps(cols, pixel, g, k + kx_hi * g->in_d, 0, (g->k_w - kx_hi) * g->in_d);
      continue;
    }
    for (kx = 0; kx < g->k_w; ++kx) {
      const int32_t ix = ix0 + g->dil_w * kx;
      put_taps(cols, pixel, g, k + kx * g->in_d, ix >= 0 && ix < g->in_w ? row + ix * g->in_d : 0, g->in_d);
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

/* mac_groups for `pairs` consecutive pairs of filters, each taps = 4 * groups long (no tail):
 * pair i is filters 2i, 2i + 1 from w, its accumulators acc[4i..4i+3] (holding the biases on
 * entry).  The same loop, the per-pair set-up kept on the stack instead of a call per pair.
 * Arguments: r0 w, r1 pairs (>= 1), r2 cols, r3 groups (>= 1), stack: taps, acc. */
static __attribute__((naked, noinline)) void mac_pairs(const int8_t *w __attribute__((unused)),
                                                       int32_t pairs __attribute__((unused)),
                                                       const uint32_t *cols __attribute__((unused)),
                                                       int32_t groups __attribute__((unused)),
                                                       int32_t taps __attribute__((unused)),
                                                       int32_t *acc __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n"
      "push {r0-r3}\n" /* [sp] next w, [sp, #4] pairs left, [sp, #8] cols, [sp, #12] groups; */
                       /* taps at [sp, #52], acc at [sp, #56] */
      "4:\n"
      "ldr lr, [sp, #56]\n"
      "ldm lr, {r4-r7}\n"
      "ldr r0, [sp]\n"
      "ldr r12, [sp, #52]\n"
      "add r1, r0, r12\n"
      "ldr r2, [sp, #8]\n"
      "ldr r3, [sp, #12]\n"
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
      "str r1, [sp]\n" /* w1 ran to the next pair's first filter */
      "ldr lr, [sp, #56]\n"
      "stm lr!, {r4-r7}\n"
      "str lr, [sp, #56]\n"
      "ldr r12, [sp, #4]\n"
      "subs r12, r12, #1\n"
      "str r12, [sp, #4]\n"
      "bne 4b\n"
      "add sp, sp, #16\n"
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
  for (c = 0; c < n; ++c) acc[2 * c] = acc[2 * c + 1] = bias ? bias[c] : 0;
  if (n & 1) acc[2 * n] = acc[2 * n + 1] = acc[2 * n - 2]; /* an odd last filter pairs with itself */
  c = 0;
  if (tail == 0 && n >= 2) { /* whole groups only: every pair in one call */
    mac_pairs(w, n >> 1, cols, groups, taps, acc);
    c = n & ~1;
  }
  for (; c < n; c += 2) {
    const int8_t *w0 = w + c * taps, *w1 = c + 1 < n ? w0 + taps : w0;
    const int16_t *t = (const int16_t *)(const void *)(cols + groups * 4); /* pixel 0's last taps, pixel 1's */
    int32_t *a = acc + 2 * c;
    if (groups) mac_groups(w0, w1, cols, groups, a);
    w0 += groups * 4, w1 += groups * 4;
    for (k = 0; k < tail; ++k) {
      a[0] += w0[k] * t[k], a[1] += w0[k] * t[4 + k];
      a[2] += w1[k] * t[k], a[3] += w1[k] * t[4 + k];
    }
  }
}

typedef struct {
  int32_t output_offset, act_min, act_max;
} output_range;

/* Requantise a block's accumulators into the pixel pair's outputs, each channel's
 * multiplier and shift read once for both pixels.  A lone last pixel passes o1 == o0: its
 * stand-in result is written first, then overwritten.  narrow: narrow_sums. */
#define AT_REQUANTISE_LOOP(mbqm)                                                                     \
  for (c = 0; c < n; ++c, acc += 2) {                                                                \
    const int32_t sh = shift[c], m = mult[c];                                                        \
    const int left = sh > 0 ? (int)sh : 0, right = left - (int)sh;                                   \
    int32_t v0 = mbqm(acc[0], m, left, right) + off, v1 = mbqm(acc[1], m, left, right) + off;         \
    v0 = v0 < lo ? lo : v0;                                                                          \
    v1 = v1 < lo ? lo : v1;                                                                          \
    o1[c] = (int8_t)(v1 > hi ? hi : v1);                                                             \
    o0[c] = (int8_t)(v0 > hi ? hi : v0);                                                             \
  }

/* requantise_block for a narrow layer whose shifts are all negative (left 0, right >= 1): per
 * channel SMMULR(2a, m) for both pixels, then the reference's round-half-away shift in the
 * form floor((h + 2^(right-1) - [h < 0]) / 2^right) -- the same value as at_rdbpot for
 * right >= 1 -- computed in 32 bits: the add can overflow only for h >= 0, and then the
 * unsigned sum is exact and shifted logically (V flag).  Arguments: r0 acc, r1 n (>= 1),
 * r2 mult, r3 shift, stack: o0, o1, q.  r0-r2 hold the output offset and range so the
 * compares are 16-bit and fold their ITs. */
static __attribute__((naked, noinline)) void requantise_shifts_right(
    const int32_t *acc __attribute__((unused)), int32_t n __attribute__((unused)),
    const int32_t *mult __attribute__((unused)), const int32_t *shift __attribute__((unused)),
    int8_t *o0 __attribute__((unused)), int8_t *o1 __attribute__((unused)),
    const output_range *q __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n"
      "mov r8, r0\n"              /* acc */
      "mov r9, r2\n"              /* mult */
      "mov r10, r3\n"             /* shift */
      "add lr, r2, r1, lsl #2\n"  /* mult's end */
      "ldr r11, [sp, #36]\n"      /* o0 */
      "ldr r12, [sp, #40]\n"      /* o1 */
      "ldr r3, [sp, #44]\n"       /* q */
      "ldm r3, {r0-r2}\n"         /* output offset, act_min, act_max */
      "1:\n"
      "ldr r7, [r10], #4\n"
      "ldr r6, [r9], #4\n"
      "ldrd r4, r5, [r8], #8\n"
      "rsbs r7, r7, #0\n"         /* right */
      "lsls r4, r4, #1\n"
      "lsls r5, r5, #1\n"
      "smmulr r4, r4, r6\n"
      "smmulr r5, r5, r6\n"
      "movs r3, #1\n"
      "lsls r3, r3, r7\n"
      "lsrs r3, r3, #1\n"         /* 2^(right-1) */
      "adds r6, r4, r3\n"
      "sub r6, r6, r4, lsr #31\n"
      "ite vs\n"
      "lsrvs r4, r6, r7\n"
      "asrvc r4, r6, r7\n"
      "adds r6, r5, r3\n"
      "sub r6, r6, r5, lsr #31\n"
      "ite vs\n"
      "lsrvs r5, r6, r7\n"
      "asrvc r5, r6, r7\n"
      "adds r4, r4, r0\n"
      "adds r5, r5, r0\n"
      "cmp r4, r1\n"
      "it lt\n"
      "movlt r4, r1\n"
      "cmp r4, r2\n"
      "it gt\n"
      "movgt r4, r2\n"
      "cmp r5, r1\n"
      "it lt\n"
      "movlt r5, r1\n"
      "cmp r5, r2\n"
      "it gt\n"
      "movgt r5, r2\n"
      "strb r5, [r12], #1\n"      /* o1 first: a lone last pixel passes o1 == o0 */
      "strb r4, [r11], #1\n"
      "cmp r9, lr\n"
      "bne 1b\n"
      "pop {r4-r11, pc}\n");
}

static __attribute__((noinline)) void requantise_block(const int32_t *acc, int32_t n, const int32_t *mult,
                                                       const int32_t *shift, const output_range *q, int narrow,
                                                       int8_t *o0, int8_t *o1) {
  const int32_t off = q->output_offset, lo = q->act_min, hi = q->act_max;
  int32_t c;
  if (narrow == 2)
    requantise_shifts_right(acc, n, mult, shift, o0, o1, q);
  else if (narrow)
    AT_REQUANTISE_LOOP(at_mbqm_narrow)
  else
    AT_REQUANTISE_LOOP(at_mbqm_split)
}

/* 1 when every accumulator of the layer, shifted left by its channel's shift, stays below
 * 2^30 in magnitude (|sum| <= taps * 128 * 255, int8 weights times offset inputs, + |bias|),
 * 2 when moreover every shift is negative (requantise_shifts_right), else 0. */
static int narrow_sums(int32_t taps, const int32_t *bias, const int32_t *shift, int32_t n) {
  int64_t most = 0;
  int32_t c, all_right = 1;
  for (c = 0; c < n; ++c) {
    const int64_t b = bias ? (bias[c] < 0 ? -(int64_t)bias[c] : bias[c]) : 0;
    const int64_t sum = ((int64_t)taps * 128 * 255 + b) << (shift[c] > 0 ? shift[c] : 0);
    if (sum > most) most = sum;
    if (shift[c] >= 0) all_right = 0;
  }
  return most < ((int64_t)1 << 30) ? 1 + all_right : 0;
}

/* The convolution, its columns and accumulators in buf (checked by at_conv_eval). */
static __attribute__((noinline)) void conv_run(const at_model *m, const at_conv_params *p, uint32_t *buf) {
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
  const output_range q = {p->output_offset, p->act_min, p->act_max}; /* int8 stores alias p */
  uint32_t *const cols = buf;
  int32_t *acc;
  int32_t b, px, oc;
  int narrow;
  geometry g;
  g.in_h = ti->dims[1], g.in_w = ti->dims[2], g.in_d = ti->dims[3];
  g.k_h = tf->dims[1], g.k_w = tf->dims[2];
  g.taps = g.k_h * g.k_w * g.in_d;
  g.groups = g.taps >> 2;
  g.dil_h = p->dilation_h, g.dil_w = p->dilation_w;
  g.input_offset = p->input_offset;
  g.offset2 = at_pair16(p->input_offset);
  acc = (int32_t *)(cols + g.groups * 4 + 4); /* after the columns' groups and tails */
  narrow = narrow_sums(g.taps, bias, shift, out_d);
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
        requantise_block(acc, n, mult + oc, shift + oc, &q, narrow, o0 + oc, (two ? o1 : o0) + oc);
      }
    }
  }
}

/* Stack buffers by receptive field: the columns (4 * groups + 4 words <= taps + 4) and a
 * block's accumulators (2 per channel, 2 * AT_CONV_BLOCK at most).  A run touches, and the
 * painted peak stack counts, the smallest that holds the layer -- KWS's layers the 64-tap one,
 * 784 B -- not the cap's 2,832 B. */
#define AT_CONV_WORDS(taps) ((taps) + 4 + 2 * AT_CONV_BLOCK)

static __attribute__((noinline)) void conv_64(const at_model *m, const at_conv_params *p) {
  uint32_t buf[AT_CONV_WORDS(64)];
  conv_run(m, p, buf);
}

static __attribute__((noinline)) void conv_160(const at_model *m, const at_conv_params *p) {
  uint32_t buf[AT_CONV_WORDS(160)];
  conv_run(m, p, buf);
}

static __attribute__((noinline)) void conv_max(const at_model *m, const at_conv_params *p) {
  uint32_t buf[AT_CONV_WORDS(AT_CONV_MAX_TAPS)];
  conv_run(m, p, buf);
}

void at_conv_eval(const at_model *m, const at_conv_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];
  const int32_t taps = tf->dims[1] * tf->dims[2] * tf->dims[3];
  const int32_t *mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  if (tf->dims[3] != ti->dims[3] || taps > AT_CONV_MAX_TAPS ||
      !at_multipliers_plain(mult, m->tensors[p->output].dims[3]))
    at_conv_eval_reference(m, p);
  else if (taps <= 64)
    conv_64(m, p);
  else if (taps <= 160)
    conv_160(m, p);
  else
    conv_max(m, p);
}

/* CONV_2D_16X8: the same columns and the same MAC loops.  The activations are int16 already
 * (zero point 0): a group of four taps is two input words repacked into the pairs SXTB16 widens
 * a weight word in (PKHBT, PKHTB; dsp_util.h).  A receptive field of up to AT_16X8_RUN taps sums
 * in int32 exactly (dsp_util.h), so mac_block runs unchanged; a larger one sums runs of
 * AT_16X8_RUN taps per pair of filters (mac_groups) into int64.  The reference's int64 bias and
 * at_mbqm64 requantise. */

/* put_taps for int16 inputs. */
static void put_taps16(uint32_t *cols, int pixel, const geometry *g, int32_t k, const int16_t *src, int32_t n) {
  int16_t *c = (int16_t *)(void *)cols;
  const int32_t end = k + n, words_end = end < g->groups * 4 ? end & ~3 : g->groups * 4;
  uint32_t *dst;
  for (; k < end && (k & 3); ++k, src = src ? src + 1 : 0) c[tap_slot(g, pixel, k)] = src ? *src : 0;
  dst = cols + k + pixel * 2;
  if (src) {
    for (; k < words_end; k += 4, src += 4, dst += 4) {
      const uint32_t t01 = at_load_s16x2(src), t23 = at_load_s16x2(src + 2);
      dst[0] = at_pair_even(t01, t23);
      dst[1] = at_pair_odd(t01, t23);
    }
  } else {
    for (; k < words_end; k += 4, dst += 4) dst[0] = dst[1] = 0;
  }
  for (; k < end; ++k, src = src ? src + 1 : 0) c[tap_slot(g, pixel, k)] = src ? *src : 0;
}

/* fill_column for int16 inputs: a window row (dilation 1) is one run of the image, zeros either
 * side; with dilation, one run of in_d taps per column. */
static void fill_column16(uint32_t *cols, int pixel, const geometry *g, int32_t iy0, int32_t ix0) {
  const int32_t row_taps = g->k_w * g->in_d;
  const int32_t kx_lo = ix0 < 0 ? -ix0 : 0, kx_hi = ix0 + g->k_w > g->in_w ? g->in_w - ix0 : g->k_w;
  /* the common case a word pair at a time without put_taps16's calls: whole rows of whole groups */
  const int whole = g->dil_w == 1 && kx_lo == 0 && kx_hi == g->k_w && (row_taps & 3) == 0;
  int32_t ky, kx, k = 0;
  for (ky = 0; ky < g->k_h; ++ky, k += row_taps) {
    const int32_t iy = iy0 + g->dil_h * ky;
    const int16_t *row = g->in16 + (iy < 0 || iy >= g->in_h ? 0 : iy * g->in_w * g->in_d);
    if (whole && iy >= 0 && iy < g->in_h) {
      const int16_t *src = row + ix0 * g->in_d;
      uint32_t *dst = cols + k + pixel * 2, *const end = dst + row_taps;
      for (; dst < end; dst += 4, src += 4) {
        const uint32_t t01 = at_load_s16x2(src), t23 = at_load_s16x2(src + 2);
        dst[0] = at_pair_even(t01, t23);
        dst[1] = at_pair_odd(t01, t23);
      }
    } else if (iy < 0 || iy >= g->in_h || (g->dil_w == 1 && kx_hi <= kx_lo)) {
      put_taps16(cols, pixel, g, k, 0, row_taps);
    } else if (g->dil_w == 1) {
      if (kx_lo > 0) put_taps16(cols, pixel, g, k, 0, kx_lo * g->in_d);
      put_taps16(cols, pixel, g, k + kx_lo * g->in_d, row + (ix0 + kx_lo) * g->in_d, (kx_hi - kx_lo) * g->in_d);
      if (kx_hi < g->k_w) put_taps16(cols, pixel, g, k + kx_hi * g->in_d, 0, (g->k_w - kx_hi) * g->in_d);
    } else {
      for (kx = 0; kx < g->k_w; ++kx) {
        const int32_t ix = ix0 + g->dil_w * kx;
        put_taps16(cols, pixel, g, k + kx * g->in_d, ix < 0 || ix >= g->in_w ? 0 : row + ix * g->in_d, g->in_d);
      }
    }
  }
}

typedef struct {
  const int64_t *bias;
  const int32_t *mult, *shift;
  int32_t act_min, act_max;
} requant16;

/* Output channel c of the pixel pair from its two sums; o1 first (a lone pixel: o1 == o0). */
static inline void put_outputs16(const requant16 *q, int32_t c, int64_t s0, int64_t s1, int16_t *o0, int16_t *o1) {
  const int64_t b = q->bias ? q->bias[c] : 0;
  o1[c] = (int16_t)at_clamp(at_mbqm64(s1 + b, q->mult[c], q->shift[c]), q->act_min, q->act_max);
  o0[c] = (int16_t)at_clamp(at_mbqm64(s0 + b, q->mult[c], q->shift[c]), q->act_min, q->act_max);
}

/* A block's int32 sums (acc[2c + pixel]) -> the pixel pair's outputs o0[c], o1[c] (o1 first: a
 * lone pixel passes o1 == o0), by the channels' prepared at_requant64 (dsp_util.h). */
static __attribute__((noinline)) void requantise_block16(const int32_t *acc, int32_t n, const at_requant64 *rq,
                                                         int32_t lo, int32_t hi, int16_t *o0, int16_t *o1) {
  int32_t c;
  for (c = 0; c < n; ++c, acc += 2) {
    const at_requant64 r = rq[c];
    const int32_t v1 = at_requant64_apply(&r, acc[1]), v0 = at_requant64_apply(&r, acc[0]);
    o1[c] = (int16_t)(v1 < lo ? lo : v1 > hi ? hi : v1);
    o0[c] = (int16_t)(v0 < lo ? lo : v0 > hi ? hi : v0);
  }
}

/* the prepared at_requant64 of channels c0 .. c0 + n - 1 */
static void prepare_block16(const requant16 *q, int32_t c0, int32_t n, at_requant64 *rq) {
  int32_t c;
  for (c = 0; c < n; ++c) rq[c] = at_requant64_prepare(q->bias ? q->bias[c0 + c] : 0, q->mult[c0 + c], q->shift[c0 + c]);
}

/* The pixel pair's outputs for a receptive field above AT_16X8_RUN taps, a pair of filters at
 * a time: int32 runs of AT_16X8_RUN taps (mac_groups), widened and added in int64, then the
 * taps % 4 left in plain int16 (tap_slot). */
static __attribute__((noinline)) void conv16_long(const int8_t *filter, int32_t out_d, int32_t taps,
                                                  const uint32_t *cols, const requant16 *q, int16_t *o0,
                                                  int16_t *o1) {
  const int32_t groups = taps >> 2, tail = taps & 3;
  const int16_t *t = (const int16_t *)(const void *)(cols + groups * 4); /* pixel 0's last taps, pixel 1's */
  int32_t c, g0, k;
  for (c = 0; c < out_d; c += 2) {
    const int8_t *w0 = filter + c * taps, *w1 = c + 1 < out_d ? w0 + taps : w0;
    int64_t s[4] = {0, 0, 0, 0};
    for (g0 = 0; g0 < groups; g0 += AT_16X8_RUN / 4) {
      const int32_t n = groups - g0 < AT_16X8_RUN / 4 ? groups - g0 : AT_16X8_RUN / 4;
      int32_t a[4] = {0, 0, 0, 0};
      mac_groups(w0 + 4 * g0, w1 + 4 * g0, cols + 4 * g0, n, a);
      s[0] += a[0], s[1] += a[1], s[2] += a[2], s[3] += a[3];
    }
    for (k = 0; k < tail; ++k) {
      const int32_t v0 = w0[groups * 4 + k], v1 = w1[groups * 4 + k];
      s[0] += v0 * t[k], s[1] += v0 * t[4 + k], s[2] += v1 * t[k], s[3] += v1 * t[4 + k];
    }
    put_outputs16(q, c, s[0], s[1], o0, o1);
    if (c + 1 < out_d) put_outputs16(q, c + 1, s[2], s[3], o0, o1);
  }
}

/* The 16x8 convolution, its columns and accumulators in buf (checked by at_conv16x8_eval). */
static __attribute__((noinline)) void conv16_run(const at_model *m, const at_conv_params *p, uint32_t *buf) {
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];
  const at_tensor *to = &m->tensors[p->output];
  const int16_t *in = (const int16_t *)at_tensor_ptr(m, (uint32_t)p->input);
  const int8_t *filter = (const int8_t *)at_tensor_ptr(m, (uint32_t)p->filter);
  int16_t *out = (int16_t *)at_tensor_ptr(m, (uint32_t)p->output);
  const int32_t batches = ti->dims[0], out_w = to->dims[2], out_d = to->dims[3];
  const int32_t pixels = to->dims[1] * out_w;
  uint32_t *const cols = buf;
  int32_t *acc;
  int32_t b, px, oc;
  at_requant64 rq[AT_CONV_BLOCK]; /* a block's channels, prepared */
  requant16 q;
  geometry g;
  q.bias = p->bias >= 0 ? (const int64_t *)at_tensor_ptr(m, (uint32_t)p->bias) : 0;
  q.mult = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->multipliers);
  q.shift = (const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts);
  q.act_min = p->act_min, q.act_max = p->act_max;
  g.in_h = ti->dims[1], g.in_w = ti->dims[2], g.in_d = ti->dims[3];
  g.k_h = tf->dims[1], g.k_w = tf->dims[2];
  g.taps = g.k_h * g.k_w * g.in_d;
  g.groups = g.taps >> 2;
  g.dil_h = p->dilation_h, g.dil_w = p->dilation_w;
  acc = (int32_t *)(cols + g.groups * 4 + 4); /* after the columns' groups and tails */
  if (out_d <= AT_CONV_BLOCK) prepare_block16(&q, 0, out_d, rq);
  for (b = 0; b < batches; ++b) {
    g.in16 = in + b * g.in_h * g.in_w * g.in_d;
    for (px = 0; px < pixels; px += 2) {
      /* an odd last pixel runs as a pair with itself, its second result dropped */
      const int two = px + 1 < pixels;
      const int32_t px1 = two ? px + 1 : px;
      int16_t *o0 = out + (b * pixels + px) * out_d, *o1 = two ? o0 + out_d : o0;
      fill_column16(cols, 0, &g, (px / out_w) * p->stride_h - p->pad_h, (px % out_w) * p->stride_w - p->pad_w);
      fill_column16(cols, 1, &g, (px1 / out_w) * p->stride_h - p->pad_h, (px1 % out_w) * p->stride_w - p->pad_w);
      if (g.taps > AT_16X8_RUN) {
        conv16_long(filter, out_d, g.taps, cols, &q, o0, o1);
        continue;
      }
      for (oc = 0; oc < out_d; oc += AT_CONV_BLOCK) {
        const int32_t n = out_d - oc < AT_CONV_BLOCK ? out_d - oc : AT_CONV_BLOCK;
        mac_block(filter + oc * g.taps, 0, n, g.taps, cols, acc);
        if (out_d > AT_CONV_BLOCK) prepare_block16(&q, oc, n, rq); /* else once for the layer */
        requantise_block16(acc, n, rq, q.act_min, q.act_max, o0 + oc, o1 + oc);
      }
    }
  }
}

static __attribute__((noinline)) void conv16_64(const at_model *m, const at_conv_params *p) {
  uint32_t buf[AT_CONV_WORDS(64)];
  conv16_run(m, p, buf);
}

static __attribute__((noinline)) void conv16_160(const at_model *m, const at_conv_params *p) {
  uint32_t buf[AT_CONV_WORDS(160)];
  conv16_run(m, p, buf);
}

static __attribute__((noinline)) void conv16_max(const at_model *m, const at_conv_params *p) {
  uint32_t buf[AT_CONV_WORDS(AT_CONV_MAX_TAPS)];
  conv16_run(m, p, buf);
}

void at_conv16x8_eval(const at_model *m, const at_conv_params *p) {
  const at_tensor *ti = &m->tensors[p->input], *tf = &m->tensors[p->filter];
  const int32_t taps = tf->dims[1] * tf->dims[2] * tf->dims[3];
  if (tf->dims[3] != ti->dims[3] || taps > AT_CONV_MAX_TAPS ||
      !at_shifts_for_requant64((const int32_t *)at_tensor_ptr(m, (uint32_t)p->shifts), m->tensors[p->output].dims[3]))
    at_conv16x8_eval_reference(m, p);
  else if (taps <= 64)
    conv16_64(m, p);
  else if (taps <= 160)
    conv16_160(m, p);
  else
    conv16_max(m, p);
}
