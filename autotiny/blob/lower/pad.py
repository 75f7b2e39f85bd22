"""PAD and PADV2 (C kernel: pad.c)."""

from __future__ import annotations

from autotiny.blob.format import MAX_DIMS
from autotiny.blob.ops import blob_op, lowers

PAD = blob_op("PAD", 8, tensors=(0, 1), notes="up to 6 dims; the pad value is the output zero point (PADV2: its own)")


@lowers("PAD", "PADV2", emits=[PAD])
def pad(b, op):
    i_in, i_pad, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
    t_in = b.m.tensors[i_in]
    if not b.m.tensors[i_pad].is_constant:
        raise b.fail(op, "non-constant paddings")
    pads = b.m.constant(i_pad).reshape(-1, 2)
    if len(pads) != len(t_in.shape):
        raise b.fail(op, "paddings rank does not match the input")
    # like TFLM: input values are copied as they are, the padding is the output zero point
    before = [0] * (MAX_DIMS - len(pads)) + [int(p[0]) for p in pads]
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = int(b.m.constant(op.inputs[2]).reshape(-1)[0])
    else:
        value = b.q(i_out)[1]
    b.emit(op, PAD, [b.tensor(i_in, op), b.tensor(i_out, op), value] + before)
