"""SOFTMAX (C kernel: softmax.c)."""

from __future__ import annotations

import math

import numpy as np

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import quantize_multiplier

SOFTMAX = blob_op("SOFTMAX", 10, tensors=(0, 1), notes=(
    "int8 → int8 (scale 1/256, zp −128), any beta, TFLM's exp-on-negative-values fixed-point path"))


@lowers("SOFTMAX", emits=[SOFTMAX])
def softmax(b, op):
    i_in, i_out = op.inputs[0], op.outputs[0]
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
