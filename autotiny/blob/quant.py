"""TFLM's quantization arithmetic, done on the host exactly as TFLM's Prepare() does it.

Everything the kernels need that TFLM computes at set-up (requantization multipliers
and shifts, activation ranges, padding) is computed with these double-precision steps
and stored in the blob, so the device does no floating-point set-up.  Pure functions:
no op names, no blob layout.
"""

from __future__ import annotations

import math

import numpy as np


def _round_half_away(x: float) -> float:
    """std::round: halves away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(d: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier (frexp-based, double precision): (q31 multiplier, shift)."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = int(_round_half_away(q * float(1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def activation_range(act: int, scale: float, zero_point: int, qmin: int = -128,
                     qmax: int = 127) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: act is the schema ActivationFunctionType, [qmin, qmax]
    the output type's range (int8 by default; int16: -32768, 32767)."""
    s = np.float32(scale)

    def q(f: float) -> int:  # zero_point + round(f / scale), division in float32
        return zero_point + int(_round_half_away(float(np.float32(f) / s)))

    if act == 0:
        return qmin, qmax
    if act == 1:  # RELU
        return max(qmin, q(0.0)), qmax
    if act == 2:  # RELU_N1_TO_1
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    if act == 3:  # RELU6
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    raise ValueError(act)


def compute_padding(padding: int, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """ComputePaddingHeightWidth for one dimension (padding: 0 SAME, 1 VALID)."""
    eff = (filter_size - 1) * dilation + 1
    out = (in_size + stride - 1) // stride if padding == 0 else (in_size + stride - eff) // stride
    total = (out - 1) * stride + eff - in_size
    return max(total, 0) // 2


def out_size(padding: int, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    eff = (filter_size - 1) * dilation + 1
    return (in_size + stride - 1) // stride if padding == 0 else (in_size + stride - eff) // stride


def f32(x: float) -> float:
    return float(np.float32(x))


def _libm_expf():
    """The C library's expf (what TFLM's std::exp(float) calls), else exp rounded to float32."""
    import ctypes
    import ctypes.util

    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = libm.expf
        fn.argtypes, fn.restype = [ctypes.c_float], ctypes.c_float
        return lambda x: np.float32(fn(float(x)))
    except (OSError, AttributeError):
        return lambda x: np.float32(math.exp(float(x)))


def int16_lut(func, input_min: float, input_max: float) -> np.ndarray:
    """TFLite's gen_lut<float, int16_t, int16_t> for an int16 input and a Q0.15 output over
    [-1, 1]: 512 steps plus one entry for the last slope, each sample biased by half the
    interpolation error at the step's midpoint.  Float32 arithmetic throughout."""
    f = np.float32
    lo, hi = f(input_min), f(input_max)
    steps = 512
    step = f((hi - lo) / f(steps))
    half = f(step / f(2))
    inv = f(f(65536.0) / f(2.0))

    def rnd(x):
        return f(_round_half_away(float(x)))

    lut = np.empty(steps + 1, dtype=np.int16)
    for i in range(steps):
        x = f(lo + f(f(i) * step))
        val = func(x)
        mid = func(f(x + half))
        nxt = func(f(lo + f(f(i + 1) * step)))
        sample = rnd(f(val * inv))
        interp = rnd(f(f(f(nxt * inv) + rnd(f(val * inv))) / f(2)))
        err = f(interp - rnd(f(mid * inv)))
        bias = rnd(f(err / f(2)))
        lut[i] = int(min(max(f(sample - bias), f(-32768)), f(32767)))
    lut[steps] = int(min(max(rnd(f(func(hi) * inv)), f(-32768)), f(32767)))
    return lut


def softmax_int16_luts() -> tuple[np.ndarray, np.ndarray]:
    """The int16 softmax's tables (TFLM's Prepare): exp over [-10, 0], 1/(1+x) over [0, 1]."""
    expf = _libm_expf()
    f = np.float32
    return (int16_lut(expf, -10.0, 0.0),
            int16_lut(lambda x: f(f(1.0) / f(f(1.0) + x)), 0.0, 1.0))
