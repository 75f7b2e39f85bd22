/* IMU front-ends on the device: one window of a multi-axis signal, float32 [FE_WINDOW][FE_AXES]
 * interleaved as a sensor FIFO delivers it (accelerometer in g, gyroscope in rad/s: the units the
 * host trains on), -> the model's int8 input [rows][FE_AXES], as autotiny/frontends/imu.py:
 *   FE_IMU_RAW       rows = FE_WINDOW: the window itself, quantised;
 *   FE_IMU_STATS     rows = 5: mean, standard deviation (population), min, max, and the share of
 *                    the FE_WINDOW - 1 neighbouring pairs on two sides of the mean (CMSIS-DSP
 *                    arm_mean/var/min/max_f32 on one axis at a time);
 *   FE_IMU_SPECTRAL  rows = FE_N_BANDS: log10(mean power + 1e-9) per band of bins 1..FE_WINDOW/2 of
 *                    the mean-removed, Hann-windowed axis (CMSIS-DSP arm_rfft_fast_f32; |X|^2 / N).
 * The Hann window and the band edges come from fe_tables.h, generated from the candidate's
 * parameters (autotiny/frontends/device_tables.py).  Working memory (one axis, the FFT output) is on
 * the stack, so the measured stack peak is the front-end's working RAM. */
#include <math.h>
#include <string.h>

#include "arm_math_types.h"
#include "dsp/statistics_functions.h"
#include "fe.h"
#include "fe_tables.h"
#if FE_IMU_KIND == FE_IMU_SPECTRAL
#include "dsp/transform_functions.h"
#endif

static void put(int8_t *out, float *float_out, uint32_t i, float v, float scale, int32_t zero_point) {
  out[i] = at_fe_quantize(v, scale, zero_point);
  if (float_out) float_out[i] = v;
}

int at_fe_run(const void *input, int8_t *out, float scale, int32_t zero_point, float *float_out) {
  const float *x = (const float *)input;
#if FE_IMU_KIND == FE_IMU_RAW
  uint32_t i;
  for (i = 0; i < FE_WINDOW * FE_AXES; i++) put(out, float_out, i, x[i], scale, zero_point);
#else
  float axis[FE_WINDOW];
  float mean;
  uint32_t a, i;
#if FE_IMU_KIND == FE_IMU_SPECTRAL
  float spec[FE_WINDOW];
  arm_rfft_fast_instance_f32 S;
  if (FE_RFFT_INIT(&S) != ARM_MATH_SUCCESS) return -1;
#endif
  for (a = 0; a < FE_AXES; a++) {
    for (i = 0; i < FE_WINDOW; i++) axis[i] = x[i * FE_AXES + a];
    arm_mean_f32(axis, FE_WINDOW, &mean);
#if FE_IMU_KIND == FE_IMU_STATS
    {
      float var, lo, hi;
      uint32_t at, crossings = 0;
      int above, was = axis[0] > mean;
      arm_var_f32(axis, FE_WINDOW, &var); /* sum of squares / (N - 1): numpy's std is over N */
      arm_min_f32(axis, FE_WINDOW, &lo, &at);
      arm_max_f32(axis, FE_WINDOW, &hi, &at);
      for (i = 1; i < FE_WINDOW; i++) {
        above = axis[i] > mean;
        crossings += (uint32_t)(above != was);
        was = above;
      }
      put(out, float_out, 0 * FE_AXES + a, mean, scale, zero_point);
      put(out, float_out, 1 * FE_AXES + a, sqrtf(var * ((float)(FE_WINDOW - 1) / (float)FE_WINDOW)), scale,
          zero_point);
      put(out, float_out, 2 * FE_AXES + a, lo, scale, zero_point);
      put(out, float_out, 3 * FE_AXES + a, hi, scale, zero_point);
      put(out, float_out, 4 * FE_AXES + a, (float)crossings / (float)(FE_WINDOW - 1), scale, zero_point);
    }
#else
    {
      uint32_t b, k;
      for (i = 0; i < FE_WINDOW; i++) axis[i] = (axis[i] - mean) * fe_hann[i];
      arm_rfft_fast_f32(&S, axis, spec, 0); /* [re0, re(N/2), re1, im1, ...]; overwrites axis */
      for (b = 0; b < FE_N_BANDS; b++) {
        float sum = 0.0f;
        for (k = fe_band_start[b]; k < fe_band_start[b + 1]; k++) /* bins 1..N/2 */
          sum += k == FE_WINDOW / 2 ? spec[1] * spec[1] : spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1];
        put(out, float_out, b * FE_AXES + a,
            log10f(sum / (float)(FE_WINDOW * (fe_band_start[b + 1] - fe_band_start[b])) + 1e-9f), scale, zero_point);
      }
    }
#endif
  }
#endif
  return 0;
}
