"""CONCATENATION (C kernel: concatenation.c)."""

from __future__ import annotations

import numpy as np

from autotiny.blob.ops import blob_op, lowers


def _tensor_words(words):  # output, n, outer, then (tensor, chunk bytes) per input
    return [words[0]] + list(words[3::2])


CONCATENATION = blob_op("CONCATENATION", 14, tensors=_tensor_words, notes=(
    "any axis, any number of inputs; bytes copied as TFLM does (no rescaling, no fused activation)"))


@lowers("CONCATENATION", emits=[CONCATENATION])
def concatenation(b, op):
    i_out = op.outputs[0]
    t_out = b.m.tensors[i_out]
    if int(getattr(op.options, "fusedActivationFunction", 0) or 0) != 0:
        raise b.fail(op, "fused activation on CONCATENATION is not supported")
    rank = len(t_out.shape)
    axis = int(op.options.axis) % rank if rank else 0
    outer = int(np.prod(t_out.shape[:axis], dtype=np.int64))
    words = [b.tensor(i_out, op), len(op.inputs), outer]
    for i in op.inputs:
        t = b.m.tensors[i]
        if len(t.shape) != rank:
            raise b.fail(op, "inputs of different ranks")
        words += [b.tensor(i, op), int(np.prod(t.shape[axis:], dtype=np.int64))]
    b.emit(op, CONCATENATION, words)
