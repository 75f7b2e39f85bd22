/* Device front-end: raw audio -> the model's int8 input (firmware/frontends/mfcc.c). */
#ifndef AT_FE_MFCC_H
#define AT_FE_MFCC_H
#include <stdint.h>

/* audio: FE_CLIP_SAMPLES int16 samples; out: FE_FRAMES x FE_N_MFCC int8 (the model input,
 * quantised with its scale and zero point); float_out: the float coefficients too, or NULL.
 * Returns 0, or -1 when CMSIS-DSP has no FFT of FE_FFT_LEN. */
int at_fe_mfcc(const int16_t *audio, int8_t *out, float scale, int32_t zero_point, float *float_out);

#endif
