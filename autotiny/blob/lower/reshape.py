"""RESHAPE, SQUEEZE and EXPAND_DIMS: one blob op (C kernel: reshape.c)."""

from __future__ import annotations

from autotiny.blob.format import STORE_ARENA
from autotiny.blob.ops import blob_op, lowers

RESHAPE = blob_op("RESHAPE", 9, tensors=(0, 1), notes="aliased in the arena plan: no copy, no memory")


@lowers("RESHAPE", "SQUEEZE", "EXPAND_DIMS", emits=[RESHAPE])
def reshape(b, op):
    i_in, i_out = op.inputs[0], op.outputs[0]
    dt = ("INT8", "INT16", "FLOAT32")
    a, c = b.tensor(i_in, op, dt), b.tensor(i_out, op, dt)
    if b.tensors[a].nbytes != b.tensors[c].nbytes:
        raise b.fail(op, "element counts differ")
    if b.tensors[a].storage == STORE_ARENA:
        b.alias[c] = a
    b.emit(op, RESHAPE, [a, c])
