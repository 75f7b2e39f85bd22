"""ADD (C kernel: add.c)."""

from __future__ import annotations

import numpy as np

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import quantize_multiplier

ADD = blob_op("ADD", 6, tensors=(0, 1, 2), notes="fused activation, broadcasting up to 6 dims, constant operands")


@lowers("ADD", emits=[ADD])
def add(b, op):
    i1, i2, io = op.inputs[0], op.inputs[1], op.outputs[0]
    s1, z1 = b.q(i1)
    s2, z2 = b.q(i2)
    so, zo = b.q(io)
    left_shift = 20
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(float(s1) / twice_max)
    m2, sh2 = quantize_multiplier(float(s2) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * float(so)))
    lo, hi = b.act(op, io)
    b.emit(op, ADD, [b.tensor(i1, op), b.tensor(i2, op), b.tensor(io, op),
                     -z1, -z2, zo, left_shift, m1, sh1, m2, sh2, mo, sho, lo, hi])
