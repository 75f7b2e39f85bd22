"""ADD, int8 and int16 (C kernel: add.c)."""

from __future__ import annotations

import numpy as np

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import quantize_multiplier

ADD = blob_op("ADD", 6, tensors=(0, 1, 2), notes="fused activation, broadcasting up to 6 dims, constant operands")
ADD_INT16 = blob_op("ADD_INT16", 20, tensors=(0, 1, 2), notes="ADD on int16 (TFLM's general path, left shift 15)", int16=True)


@lowers("ADD", emits=[ADD, ADD_INT16])
def add(b, op):
    i1, i2, io = op.inputs[0], op.inputs[1], op.outputs[0]
    sixteen = b.int16(op, i1, i2, io)
    act = ("INT16",) if sixteen else ("INT8",)
    s1, z1 = b.q(i1)
    s2, z2 = b.q(i2)
    so, zo = b.q(io)
    left_shift = 15 if sixteen else 20
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(float(s1) / twice_max)
    m2, sh2 = quantize_multiplier(float(s2) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * float(so)))
    lo, hi = b.act(op, io)
    b.emit(op, ADD_INT16 if sixteen else ADD, [b.tensor(i1, op, act), b.tensor(i2, op, act), b.tensor(io, op, act),
                     -z1, -z2, zo, left_shift, m1, sh1, m2, sh2, mo, sho, lo, hi])
