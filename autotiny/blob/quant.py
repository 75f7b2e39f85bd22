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


def activation_range(act: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: act is the schema ActivationFunctionType."""
    s = np.float32(scale)

    def q(f: float) -> int:  # zero_point + round(f / scale), division in float32
        return zero_point + int(_round_half_away(float(np.float32(f) / s)))

    if act == 0:
        return -128, 127
    if act == 1:  # RELU
        return max(-128, q(0.0)), 127
    if act == 2:  # RELU_N1_TO_1
        return max(-128, q(-1.0)), min(127, q(1.0))
    if act == 3:  # RELU6
        return max(-128, q(0.0)), min(127, q(6.0))
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
