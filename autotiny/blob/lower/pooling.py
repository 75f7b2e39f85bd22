"""AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (C kernel: pooling.c)."""

from __future__ import annotations

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import compute_padding

AVERAGE_POOL_2D = blob_op("AVERAGE_POOL_2D", 4, tensors=(0, 1),
                          notes="rounding half away from zero over the in-image window")
MAX_POOL_2D = blob_op("MAX_POOL_2D", 5, tensors=(0, 1), notes="over the in-image window")
AVERAGE_POOL_2D_INT16 = blob_op("AVERAGE_POOL_2D_INT16", 18, tensors=(0, 1), notes="AVERAGE_POOL_2D on int16", int16=True)
MAX_POOL_2D_INT16 = blob_op("MAX_POOL_2D_INT16", 19, tensors=(0, 1), notes="MAX_POOL_2D on int16", int16=True)


def _pool(b, op, code, code16):
    o = op.options
    i_in, i_out = op.inputs[0], op.outputs[0]
    t_in = b.m.tensors[i_in]
    if len(t_in.shape) != 4:
        raise b.fail(op, "expects a 4-D input")
    (s_in, z_in), (s_out, z_out) = b.q(i_in), b.q(i_out)
    if abs(s_in - s_out) > 1e-6 or z_in != z_out:  # TFLM's pooling refuses these too
        raise b.fail(op, "input and output quantization differ")
    fh, fw, sh, sw = int(o.filterHeight), int(o.filterWidth), int(o.strideH), int(o.strideW)
    pad = int(o.padding)
    ph = compute_padding(pad, t_in.shape[1], fh, sh, 1)
    pw = compute_padding(pad, t_in.shape[2], fw, sw, 1)
    lo, hi = b.act(op, i_out)
    sixteen = b.int16(op, i_in, i_out)
    act = ("INT16",) if sixteen else ("INT8",)
    b.emit(op, code16 if sixteen else code,
           [b.tensor(i_in, op, act), b.tensor(i_out, op, act), fh, fw, sh, sw, ph, pw, lo, hi])


@lowers("AVERAGE_POOL_2D", emits=[AVERAGE_POOL_2D, AVERAGE_POOL_2D_INT16])
def average_pool_2d(b, op):
    _pool(b, op, AVERAGE_POOL_2D, AVERAGE_POOL_2D_INT16)


@lowers("MAX_POOL_2D", emits=[MAX_POOL_2D, MAX_POOL_2D_INT16])
def max_pool_2d(b, op):
    _pool(b, op, MAX_POOL_2D, MAX_POOL_2D_INT16)
