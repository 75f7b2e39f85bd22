/* What every device front-end defines (firmware/frontends/<name>.c), and the quantisation rule the
 * non-KWS front-ends share.  fe_main.c calls at_fe_run once between two layer-boundary marks. */
#ifndef AT_FE_H
#define AT_FE_H
#include <stdint.h>

/* input: the raw input (FE_INPUT_BYTES bytes, format per front-end, autotiny/frontends/device.py
 * REGISTRY); out: FE_OUT_ROWS x FE_OUT_COLS int8, the model's input quantised with its scale and
 * zero point; float_out: the float features too, or NULL.  Returns 0, or negative on failure. */
int at_fe_run(const void *input, int8_t *out, float scale, int32_t zero_point, float *float_out);

/* Working memory a front-end needs beyond its stack (FE_SCRATCH_BYTES, from the registry, counted in its
 * RAM by device.py): in the arena after the raw input, the features and the float features (fe_main.c). */
extern uint8_t __arena_start[];
#define FE_ALIGN16(x) (((x) + 15u) & ~15u)
#define FE_SCRATCH                                                                                      \
  ((void *)(__arena_start + FE_ALIGN16(FE_INPUT_BYTES) + FE_ALIGN16(FE_OUT_ROWS * FE_OUT_COLS) +         \
            FE_ALIGN16(4u * FE_OUT_ROWS * FE_OUT_COLS)))

/* round-half-to-even(x / scale) + zero_point saturated to int8: the host's rule for every model
 * input, the one the search scores candidates with (autotiny.evaluate.quantize_input, numpy's float32
 * division and np.round); the MFCC too, although the MLPerf KWS reference model was calibrated on
 * trunc(x / scale + zp) (autotiny/frontends/mfcc.py quantize): the device must feed a candidate what
 * it was scored on.  |x / scale| is clamped at 512 first: far outside int8 either way, keeps the cast defined. */
static inline int8_t at_fe_quantize(float x, float scale, int32_t zero_point) {
  float v = x / scale, frac;
  int32_t r;
  if (v > 512.0f) v = 512.0f;
  if (v < -512.0f) v = -512.0f;
  r = (int32_t)v; /* toward zero */
  frac = v - (float)r; /* exact for |v| <= 512 */
  if (frac > 0.5f || (frac == 0.5f && (r & 1))) r++;
  else if (frac < -0.5f || (frac == -0.5f && (r & 1))) r--;
  r += zero_point;
  return (int8_t)(r > 127 ? 127 : r < -128 ? -128 : r);
}

#endif
