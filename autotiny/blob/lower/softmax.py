"""SOFTMAX, int8 and int16 (C kernel: softmax.c)."""

from __future__ import annotations

import math

import numpy as np

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import quantize_multiplier, softmax_int16_luts

SOFTMAX = blob_op("SOFTMAX", 10, tensors=(0, 1), notes=(
    "int8 → int8 (scale 1/256, zp −128), any beta, TFLM's exp-on-negative-values fixed-point path"))
SOFTMAX_INT16 = blob_op("SOFTMAX_INT16", 22, tensors=(0, 1, 2, 3), notes=(
    "int16 → int16 (scale 1/32768, zp 0), any beta, TFLM's table path (two 513-entry tables in the blob)"), int16=True)

_LUTS: list = []  # computed once (float32 arithmetic, ~10 ms)


@lowers("SOFTMAX", emits=[SOFTMAX, SOFTMAX_INT16])
def softmax(b, op):
    i_in, i_out = op.inputs[0], op.outputs[0]
    if b.int16(op, i_in, i_out):
        return _softmax_int16(b, op, i_in, i_out)
    s_in, _ = b.q(i_in)
    s_out, z_out = b.q(i_out)
    if z_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
        raise b.fail(op, "int8 softmax needs output scale 1/256 and zero point -128")
    beta = float(np.float32(op.options.beta if op.options is not None else 1.0))
    real = min(beta * float(s_in) * float(1 << 26), float((1 << 31) - 1))
    mult, left = quantize_multiplier(real)
    if left < 0:
        raise b.fail(op, "softmax input scale too small")
    radius = math.floor(1.0 * ((1 << 5) - 1) * float(1 << 26) / float(1 << left))
    b.emit(op, SOFTMAX, [b.tensor(i_in, op), b.tensor(i_out, op), mult, left, -int(radius)])


def _softmax_int16(b, op, i_in, i_out):
    s_in, _ = b.q(i_in)
    s_out, _ = b.q(i_out)
    if np.float32(s_out) != np.float32(1.0 / 32768):
        raise b.fail(op, "int16 softmax needs output scale 1/32768")
    beta = np.float32(op.options.beta if op.options is not None else 1.0)
    # TFLM: input scale x beta (float product) / (10 / 65535): [-65535, 0] covers exp's [-10, 0]
    mult, shift = quantize_multiplier(float(np.float32(s_in) * beta) / (10.0 / 65535.0))
    if not _LUTS:
        _LUTS.extend(softmax_int16_luts())
    exp_lut = b.const(_LUTS[0], dtype=np.int16, name="exp_lut")
    recip_lut = b.const(_LUTS[1], dtype=np.int16, name="one_over_one_plus_x_lut")
    b.emit(op, SOFTMAX_INT16, [b.tensor(i_in, op, ("INT16",)), b.tensor(i_out, op, ("INT16",)),
                               exp_lut, recip_lut, mult, shift])
