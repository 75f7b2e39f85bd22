"""MEAN, int8 and int16 (C kernel: mean.c)."""

from __future__ import annotations

import numpy as np

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import quantize_multiplier

MEAN = blob_op("MEAN", 7, tensors=(0, 1), notes=(
    "any axes, keep_dims or not (TFLM's integer path: multiplier pre-divided by the count)"))
MEAN_INT16 = blob_op("MEAN_INT16", 21, tensors=(0, 1), notes="MEAN on int16", int16=True)


@lowers("MEAN", emits=[MEAN, MEAN_INT16])
def mean(b, op):
    i_in, i_ax, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
    t_in = b.m.tensors[i_in]
    if not b.m.tensors[i_ax].is_constant:
        raise b.fail(op, "non-constant axis")
    rank = len(t_in.shape)
    axes = {int(a) % rank for a in b.m.constant(i_ax).reshape(-1)}
    mask = sum(1 << a for a in axes)
    count = int(np.prod([t_in.shape[a] for a in axes]))
    s_in, z_in = b.q(i_in)
    s_out, z_out = b.q(i_out)
    mult, shift = quantize_multiplier(float(s_in) / float(s_out))
    # fold 1/count into the multiplier as TFLM's integer mean does
    sh = (count.bit_length() - 1) if count > 0 else 0
    sh = min(sh, 32, 31 + shift)
    mult = int((mult << sh) // count) if sh >= 0 else mult
    shift = shift - sh
    sixteen = b.int16(op, i_in, i_out)
    act = ("INT16",) if sixteen else ("INT8",)
    b.emit(op, MEAN_INT16 if sixteen else MEAN,
           [b.tensor(i_in, op, act), b.tensor(i_out, op, act), mask, z_in, z_out, mult, shift])
