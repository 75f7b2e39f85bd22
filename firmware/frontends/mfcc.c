/* KWS MFCC front-end on the device: a raw 16-bit clip -> the model's int8 input
 * [FE_FRAMES][FE_N_MFCC].  Per frame, the steps of CMSIS-DSP's arm_mfcc_f32 (window, real FFT,
 * magnitude with the DC bin's imaginary part = the Nyquist term dropped, sparse mel filters,
 * log(x + 1e-6), DCT-II) on CMSIS-DSP's arm_rfft_fast_f32, without three of its costs that buy
 * nothing in float32:
 *   - no per-frame |max| normalisation and its undoing (it exists for fixed-point range; the gain
 *     is linear through the FFT and the magnitude, so the clip's peak gain is applied once per mel
 *     energy instead of once per sample);
 *   - magnitudes only for the bins the mel filters read (FE_BIN_LO..FE_BIN_HI, about half the
 *     spectrum at 4 kHz fmax), where arm_mfcc_f32 takes FFT_LEN of them, half of them zeros;
 *   - the int16 -> float conversion fused with the window.
 * The result matches the cmsisdsp wheel's arm_mfcc_f32 within cmsis_mfcc.TOLERANCE (float32
 * rounding order differs); the tables come from fe_tables.h, generated from the candidate's
 * front-end parameters (autotiny/frontends/cmsis_mfcc.py).
 *
 * Working memory is on the stack (the frame, the FFT output, one frame of mel energies), so the
 * measured stack peak is the front-end's RAM; the int8 features go straight to `out` (the model's
 * input tensor), so no float feature map is ever held. */
#include "fe.h"

#include <math.h>

#include "arm_math_types.h"
#include "dsp/transform_functions.h" /* not arm_math.h: its q15 inline helpers need CMSIS-Core intrinsics */
#include "fe_tables.h"

#define FE_LOG_OFFSET 1e-6f /* arm_mfcc_f32's: log(mel + 1e-6) */

int at_fe_run(const void *input, int8_t *out, float scale, int32_t zero_point, float *float_out) {
  const int16_t *audio = (const int16_t *)input;
  arm_rfft_fast_instance_f32 S;
  float frame[FE_FFT_LEN]; /* windowed samples; after the FFT (which overwrites it), the magnitudes */
  float spec[FE_FFT_LEN];  /* [re0, re(N/2), re1, im1, ...] */
  float mel[FE_N_MELS];
  float gain = 1.0f / 32768.0f; /* int16 -> [-1, 1), as the host reads a .wav */
  uint32_t i, f, k, j;

  if (FE_RFFT_INIT(&S) != ARM_MATH_SUCCESS) return -1;
#if FE_NORMALIZE_PEAK
  {
    int32_t peak = 0;
    for (i = 0; i < FE_CLIP_SAMPLES; i++)
      if (audio[i] > peak) peak = audio[i];
    if (peak > 0) gain = 1.0f / (float)peak; /* (x / 32768) / (peak / 32768) */
  }
#endif
  for (f = 0; f < FE_FRAMES; f++) {
    const int16_t *src = audio + f * FE_HOP_SAMPLES;
    const float *coef = fe_filter_coefs;
    for (i = 0; i + 4 <= FE_WINDOW_SAMPLES; i += 4) { /* 4 at a time: loop overhead was a third of it */
      frame[i] = (float)src[i] * fe_window[i];
      frame[i + 1] = (float)src[i + 1] * fe_window[i + 1];
      frame[i + 2] = (float)src[i + 2] * fe_window[i + 2];
      frame[i + 3] = (float)src[i + 3] * fe_window[i + 3];
    }
    for (; i < FE_WINDOW_SAMPLES; i++) frame[i] = (float)src[i] * fe_window[i];
    for (; i < FE_FFT_LEN; i++) frame[i] = 0.0f;
    arm_rfft_fast_f32(&S, frame, spec, 0);
#if FE_BIN_LO == 0
    frame[0] = fabsf(spec[0]);
#endif
    for (k = (FE_BIN_LO > 0 ? FE_BIN_LO : 1); k < FE_BIN_HI && k < FE_FFT_LEN / 2; k++) {
      float re = spec[2 * k], im = spec[2 * k + 1];
      frame[k] = __builtin_sqrtf(re * re + im * im);
    }
    for (; k < FE_BIN_HI; k++) frame[k] = 0.0f; /* the Nyquist bin: arm_mfcc_f32 reads it as zero too */
    for (j = 0; j < FE_N_MELS; j++) {
      const float *m = frame + fe_filter_pos[j];
      float acc = 0.0f;
      for (i = 0; i < fe_filter_len[j]; i++) acc += m[i] * coef[i];
      coef += fe_filter_len[j];
      mel[j] = logf(acc * gain + FE_LOG_OFFSET);
    }
    for (k = 0; k < FE_N_MFCC; k++) {
      const float *d = fe_dct + k * FE_N_MELS;
      float c = 0.0f, c1 = 0.0f; /* two sums: each add waits on the FPU's latency otherwise */
      for (j = 0; j + 2 <= FE_N_MELS; j += 2) {
        c += d[j] * mel[j];
        c1 += d[j + 1] * mel[j + 1];
      }
      if (j < FE_N_MELS) c += d[j] * mel[j];
      c += c1;
      out[f * FE_N_MFCC + k] = at_fe_quantize(c, scale, zero_point);
      if (float_out) float_out[f * FE_N_MFCC + k] = c;
    }
  }
  return 0;
}
