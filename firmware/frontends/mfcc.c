/* KWS MFCC front-end on the device: a raw 16-bit clip -> the model's int8 input
 * [FE_FRAMES][FE_N_MFCC], with CMSIS-DSP's arm_mfcc_f32 (RFFT, mel filters, log, DCT) per frame.
 * The tables come from fe_tables.h, generated at build time from the candidate's front-end
 * parameters (autotiny/frontends/cmsis_mfcc.py); framing and peak normalisation follow the
 * numpy front-end (autotiny/frontends/mfcc.py): the clip divided by its positive peak, frames of
 * FE_WINDOW_SAMPLES every FE_HOP_SAMPLES, zero-padded to FE_FFT_LEN.
 *
 * Working memory is on the stack (frame, FFT scratch, one frame of coefficients: ~3 x FFT_LEN
 * floats), so the measured stack peak is the front-end's RAM; the int8 features go straight to
 * `out` (the model's input tensor), so no float feature map is ever held. */
#include "fe.h"

#include <string.h>

#include "arm_math_types.h"
#include "dsp/transform_functions.h" /* not arm_math.h: its q15 inline helpers need CMSIS-Core intrinsics */
#include "fe_tables.h"

int at_fe_run(const void *input, int8_t *out, float scale, int32_t zero_point, float *float_out) {
  const int16_t *audio = (const int16_t *)input;
  arm_mfcc_instance_f32 S;
  float frame[FE_FFT_LEN];
  float tmp[2 * FE_FFT_LEN]; /* rfft output; arm_cmplx_mag_f32 reads FFT_LEN complex values */
  float coeffs[FE_N_MFCC];
  float gain = 1.0f / 32768.0f; /* int16 -> [-1, 1), as the host reads a .wav */
  uint32_t i, f, k;

  if (FE_MFCC_INIT(&S, FE_N_MELS, FE_N_MFCC, fe_dct, fe_filter_pos, fe_filter_len, fe_filter_coefs, fe_window) !=
      ARM_MATH_SUCCESS)
    return -1;
#if FE_NORMALIZE_PEAK
  {
    int32_t peak = 0;
    for (i = 0; i < FE_CLIP_SAMPLES; i++)
      if (audio[i] > peak) peak = audio[i];
    if (peak > 0) gain = 1.0f / (float)peak; /* (x / 32768) / (peak / 32768) */
  }
#endif
  memset(tmp, 0, sizeof tmp);
  for (f = 0; f < FE_FRAMES; f++) {
    const int16_t *src = audio + f * FE_HOP_SAMPLES;
    for (i = 0; i < FE_WINDOW_SAMPLES; i++) frame[i] = (float)src[i] * gain;
    for (; i < FE_FFT_LEN; i++) frame[i] = 0.0f;
    arm_mfcc_f32(&S, frame, coeffs, tmp);
    for (k = 0; k < FE_N_MFCC; k++) {
      out[f * FE_N_MFCC + k] = at_fe_quantize(coeffs[k], scale, zero_point);
      if (float_out) float_out[f * FE_N_MFCC + k] = coeffs[k];
    }
  }
  return 0;
}
