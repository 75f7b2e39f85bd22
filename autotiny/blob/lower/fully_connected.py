"""FULLY_CONNECTED, int8 and 16x8 (C kernel: fully_connected.c)."""

from __future__ import annotations

import numpy as np

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import f32, quantize_multiplier
from autotiny.blob.sparse import DECODE_SPARSE_INT8

FULLY_CONNECTED = blob_op("FULLY_CONNECTED", 3, tensors=(0, 1, 2, 3, 4, 5), notes=(
    "per-tensor (TFLM's float product of scales) or per-channel weights; any leading dims (batches)"))
FULLY_CONNECTED_16X8 = blob_op("FULLY_CONNECTED_16X8", 17, tensors=(0, 1, 2, 3, 4, 5), notes=(
    "FULLY_CONNECTED with int16 activations (zero point 0), int8 weights, optional int64 bias"), int16=True)


def fc_macs(m, op) -> int:
    w = m.tensors[op.inputs[1]]  # [out, in]
    return m.tensors[op.outputs[0]].size * w.shape[1]


@lowers("FULLY_CONNECTED", emits=[FULLY_CONNECTED, FULLY_CONNECTED_16X8, DECODE_SPARSE_INT8], macs=fc_macs)
def fully_connected(b, op):
    i_in, i_w, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
    t_w = b.m.tensors[i_w]
    if len(t_w.shape) != 2 or not t_w.is_constant:
        raise b.fail(op, "expects constant 2-D weights")
    sixteen = b.int16(op, i_in, i_out)
    act = ("INT16",) if sixteen else ("INT8",)
    in_t, w_t, out_t = b.tensor(i_in, op, act), b.weights(i_w, op), b.tensor(i_out, op, act)
    b_t = b.bias(op, "INT64" if sixteen else "INT32")
    in_s, in_zp = b.q(i_in)
    out_s, out_zp = b.q(i_out)
    if len(t_w.scale) > 1:
        mult, shift = b.requant_vectors(op, i_in, i_w, i_out, t_w.shape[0])
        w_zp = 0
    else:
        # GetQuantizedConvolutionMultipler: float product, then double division
        mq, sh = quantize_multiplier(f32(np.float32(in_s) * np.float32(t_w.scale[0])) / float(out_s))
        if sixteen and sh > 7:  # TFLite's int64 rescale: shift < 8
            raise b.fail(op, "16x8 requantisation multiplier of 128 or more (input x weight scale >> output scale)")
        mult, shift = b.const([mq], name="multiplier"), b.const([sh], name="shift")
        w_zp = t_w.zero_point[0] if t_w.zero_point else 0
    lo, hi = b.act(op, i_out)
    b.emit(op, FULLY_CONNECTED_16X8 if sixteen else FULLY_CONNECTED, [in_t, w_t, b_t, out_t, mult, shift, -in_zp, -w_zp, out_zp, lo, hi])
