/* Image front-end on the device: a grayscale picture, uint8 [FE_IN_H][FE_IN_W] as a camera
 * delivers it, -> the model's int8 input [FE_SIZE][FE_SIZE], as autotiny/frontends/image.py:
 * Pillow's BILINEAR resize (a horizontal pass into a float buffer, then a vertical one, each a
 * weighted sum over the taps fe_tables.h lists per output pixel: generated from Pillow's rule by
 * autotiny/frontends/device_tables.py), then / 255 and clipped to [0, 1].  A picture already
 * FE_SIZE x FE_SIZE is only scaled, as the numpy front-end does.  The horizontal pass's buffer
 * (FE_IN_H x FE_SIZE floats) is on the stack, so the measured stack peak is its working RAM. */
#include "fe.h"
#include "fe_tables.h"

static void put(int8_t *out, float *float_out, uint32_t i, float v, float scale, int32_t zero_point) {
  out[i] = at_fe_quantize(v, scale, zero_point);
  if (float_out) float_out[i] = v;
}

int at_fe_run(const void *input, int8_t *out, float scale, int32_t zero_point, float *float_out) {
  const uint8_t *px = (const uint8_t *)input;
  uint32_t r, c, k;
#if FE_RESIZE
  float rows[FE_IN_H * FE_SIZE];
  const float *w = fe_x_w;
  for (c = 0; c < FE_SIZE; c++) { /* horizontal: every input row -> FE_SIZE columns */
    for (r = 0; r < FE_IN_H; r++) {
      const uint8_t *src = px + r * FE_IN_W + fe_x_start[c];
      float acc = 0.0f;
      for (k = 0; k < fe_x_count[c]; k++) acc += w[k] * (float)src[k];
      rows[r * FE_SIZE + c] = acc;
    }
    w += fe_x_count[c];
  }
  w = fe_y_w;
  for (r = 0; r < FE_SIZE; r++) { /* vertical: FE_IN_H rows -> FE_SIZE */
    for (c = 0; c < FE_SIZE; c++) {
      const float *src = rows + fe_y_start[r] * FE_SIZE + c;
      float acc = 0.0f, v;
      for (k = 0; k < fe_y_count[r]; k++) acc += w[k] * src[k * FE_SIZE];
      v = acc / 255.0f;
      put(out, float_out, r * FE_SIZE + c, v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v, scale, zero_point);
    }
    w += fe_y_count[r];
  }
#else
  (void)k;
  for (r = 0; r < FE_SIZE; r++)
    for (c = 0; c < FE_SIZE; c++) put(out, float_out, r * FE_SIZE + c, (float)px[r * FE_SIZE + c] / 255.0f, scale,
                                      zero_point);
#endif
  return 0;
}
