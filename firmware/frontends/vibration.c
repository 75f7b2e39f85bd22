/* Vibration front-ends on the device: one accelerometer window, float32 [FE_WINDOW] (the units the
 * host trains on), -> the model's int8 input [rows][1], as autotiny/frontends/vibration.py:
 *   FE_VIB_BANDS     rows = FE_N_BANDS: log10(energy + 1e-12) of the mean-removed window's one-sided
 *                    power spectrum (periodic Hann, CMSIS-DSP arm_rfft_fast_f32) in equal-width bands
 *                    over bins 0..FE_WINDOW/2 - 1;
 *   FE_VIB_SPECTRUM  rows = FE_FFT/2: Welch's average of the FE_FFT-sample frames' power spectra (hop
 *                    FE_FFT/2), log10(p + 1e-12) of bins 1..FE_FFT/2;
 *   FE_VIB_STATS     rows = FE_N_FRAMES x 7: per sub-frame RMS, peak, crest, kurtosis, skewness,
 *                    shape and impulse factors, all but skewness as log10(s + 1e-12).
 * The Hann window, its normalisation and the band edges come from fe_tables.h, generated from the
 * candidate's parameters (autotiny/frontends/device_tables.py).  Working memory (the windowed frame,
 * its spectrum, the accumulated power: FE_SCRATCH_BYTES) is scratch in the arena (fe.h), not on the
 * stack: a 2,048-point FFT's 20 KB would not fit the boards' 16 KB stack region. */
#include <math.h>

#include "arm_math_types.h"
#include "dsp/statistics_functions.h"
#include "fe.h"
#include "fe_tables.h"
#if FE_VIB_KIND != FE_VIB_STATS
#include "dsp/transform_functions.h"
#endif

#define EPS 1e-12f

static void put(int8_t *out, float *float_out, uint32_t i, float v, float scale, int32_t zero_point) {
  out[i] = at_fe_quantize(v, scale, zero_point);
  if (float_out) float_out[i] = v;
}

#if FE_VIB_KIND != FE_VIB_STATS
/* The one-sided power spectrum of FE_FFT samples starting at src, less `mean`, added into acc[0..FE_FFT/2]
 * (vibration.power_spectrum: |X|^2 / sum(w^2) / n, bins 1..n/2-1 doubled). */
static void add_power(const arm_rfft_fast_instance_f32 *S, const float *src, float mean, float *frame, float *spec,
                      float *acc) {
  uint32_t i, k;
  for (i = 0; i < FE_FFT; i++) frame[i] = (src[i] - mean) * fe_hann[i];
  arm_rfft_fast_f32(S, frame, spec, 0); /* [re0, re(N/2), re1, im1, ...] */
  acc[0] += spec[0] * spec[0] * FE_NORM;
  acc[FE_FFT / 2] += spec[1] * spec[1] * FE_NORM;
  for (k = 1; k < FE_FFT / 2; k++)
    acc[k] += 2.0f * (spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1]) * FE_NORM;
}
#endif

int at_fe_run(const void *input, int8_t *out, float scale, int32_t zero_point, float *float_out) {
  const float *x = (const float *)input;
  float mean;
  uint32_t i, b;
  arm_mean_f32(x, FE_WINDOW, &mean);
#if FE_VIB_KIND == FE_VIB_STATS
  for (b = 0; b < FE_N_FRAMES; b++) {
    const float *f = x + b * FE_FRAME;
    float fmean, m2 = 0.0f, m3 = 0.0f, m4 = 0.0f, peak = 0.0f, mabs = 0.0f, rms, sm2, sabs, s[7];
    arm_mean_f32(f, FE_FRAME, &fmean); /* the frame's mean of the window less its mean */
    fmean -= mean;
    for (i = 0; i < FE_FRAME; i++) {
      float v = (f[i] - mean) - fmean, a = fabsf(v), v2 = v * v;
      m2 += v2;
      m3 += v2 * v;
      m4 += v2 * v2;
      mabs += a;
      if (a > peak) peak = a;
    }
    m2 /= (float)FE_FRAME;
    m3 /= (float)FE_FRAME;
    m4 /= (float)FE_FRAME;
    mabs /= (float)FE_FRAME;
    rms = sqrtf(m2);
    sm2 = m2 > EPS ? m2 : EPS;
    sabs = mabs > EPS ? mabs : EPS;
    s[0] = log10f(rms + EPS);
    s[1] = log10f(peak + EPS);
    s[2] = log10f(peak / (rms > EPS ? rms : EPS) + EPS);
    s[3] = log10f(m4 / (sm2 * sm2) + EPS);
    s[4] = m3 / (sm2 * sqrtf(sm2));
    s[5] = log10f(rms / sabs + EPS);
    s[6] = log10f(peak / sabs + EPS);
    for (i = 0; i < 7; i++) put(out, float_out, b * 7 + i, s[i], scale, zero_point);
  }
#else
  {
    arm_rfft_fast_instance_f32 S;
    float *frame = (float *)FE_SCRATCH, *spec = frame + FE_FFT, *acc = spec + FE_FFT;
    if (FE_RFFT_INIT(&S) != ARM_MATH_SUCCESS) return -1;
    for (i = 0; i <= FE_FFT / 2; i++) acc[i] = 0.0f;
#if FE_VIB_KIND == FE_VIB_BANDS
    add_power(&S, x, mean, frame, spec, acc);
    for (b = 0; b < FE_N_BANDS; b++) {
      float e = 0.0f;
      for (i = fe_band_start[b]; i < fe_band_start[b + 1]; i++) e += acc[i];
      put(out, float_out, b, log10f(e + EPS), scale, zero_point);
    }
#else
    for (i = 0; i + FE_FFT <= FE_WINDOW; i += FE_FFT / 2) add_power(&S, x + i, mean, frame, spec, acc);
    for (b = 1; b <= FE_FFT / 2; b++)
      put(out, float_out, b - 1, log10f(acc[b] / (float)FE_N_SEGMENTS + EPS), scale, zero_point);
#endif
  }
#endif
  return 0;
}
