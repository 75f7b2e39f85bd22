"""AVERAGE_POOL_2D and MAX_POOL_2D (C kernel: pooling.c)."""

from __future__ import annotations

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import compute_padding

AVERAGE_POOL_2D = blob_op("AVERAGE_POOL_2D", 4, tensors=(0, 1),
                          notes="rounding half away from zero over the in-image window")
MAX_POOL_2D = blob_op("MAX_POOL_2D", 5, tensors=(0, 1), notes="over the in-image window")


def _pool(b, op, code):
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
    b.emit(op, code, [b.tensor(i_in, op), b.tensor(i_out, op), fh, fw, sh, sw, ph, pw, lo, hi])


@lowers("AVERAGE_POOL_2D", emits=[AVERAGE_POOL_2D])
def average_pool_2d(b, op):
    _pool(b, op, AVERAGE_POOL_2D)


@lowers("MAX_POOL_2D", emits=[MAX_POOL_2D])
def max_pool_2d(b, op):
    _pool(b, op, MAX_POOL_2D)
