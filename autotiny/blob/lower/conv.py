"""CONV_2D and DEPTHWISE_CONV_2D, int8 and 16x8 (C kernels: conv.c, depthwise_conv.c)."""

from __future__ import annotations

from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import compute_padding, out_size
from autotiny.blob.sparse import DECODE_SPARSE_INT8

CONV_2D = blob_op("CONV_2D", 1, tensors=(0, 1, 2, 3, 4, 5), notes=(
    "any kernel/stride, SAME/VALID, dilation, grouped; per-channel or per-tensor int8 weights, "
    "optional int32 bias, fused NONE/RELU/RELU6/RELU_N1_TO_1"))
DEPTHWISE_CONV_2D = blob_op("DEPTHWISE_CONV_2D", 2, tensors=(0, 1, 2, 3, 4, 5),
                            notes="any depth multiplier, same options as CONV_2D")
CONV_2D_16X8 = blob_op("CONV_2D_16X8", 15, tensors=(0, 1, 2, 3, 4, 5), notes=(
    "CONV_2D with int16 activations (zero point 0), int8 weights, optional int64 bias; int64 accumulator"), int16=True)
DEPTHWISE_CONV_2D_16X8 = blob_op("DEPTHWISE_CONV_2D_16X8", 16, tensors=(0, 1, 2, 3, 4, 5),
                                 notes="DEPTHWISE_CONV_2D in 16x8, as CONV_2D_16X8", int16=True)


def conv_macs(m, op) -> int:
    w = m.tensors[op.inputs[1]]  # [out_c, kh, kw, in_c / groups]
    return m.tensors[op.outputs[0]].size * w.shape[1] * w.shape[2] * w.shape[3]


def depthwise_macs(m, op) -> int:
    w = m.tensors[op.inputs[1]]  # [1, kh, kw, out_c]
    return m.tensors[op.outputs[0]].size * w.shape[1] * w.shape[2]


def _conv_common(b, op):
    o = op.options
    i_in, i_w, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
    t_in, t_w, t_out = (b.m.tensors[i] for i in (i_in, i_w, i_out))
    if len(t_in.shape) != 4 or len(t_w.shape) != 4 or len(t_out.shape) != 4:
        raise b.fail(op, "expects 4-D input, filter and output")
    if not b.m.tensors[i_w].is_constant:
        raise b.fail(op, "non-constant weights are not supported")
    sixteen = b.int16(op, i_in, i_out)
    act = ("INT16",) if sixteen else ("INT8",)
    in_t, w_t, out_t = b.tensor(i_in, op, act), b.weights(i_w, op), b.tensor(i_out, op, act)
    b_t = b.bias(op, "INT64" if sixteen else "INT32")
    n = t_out.shape[3]
    mult, shift = b.requant_vectors(op, i_in, i_w, i_out, n)
    kh, kw = t_w.shape[1], t_w.shape[2]
    sh, sw = int(o.strideH), int(o.strideW)
    dh, dw = int(o.dilationHFactor or 1), int(o.dilationWFactor or 1)
    pad = int(o.padding)
    ph = compute_padding(pad, t_in.shape[1], kh, sh, dh)
    pw = compute_padding(pad, t_in.shape[2], kw, sw, dw)
    if (out_size(pad, t_in.shape[1], kh, sh, dh), out_size(pad, t_in.shape[2], kw, sw, dw)) != \
            (t_out.shape[1], t_out.shape[2]):
        raise b.fail(op, "output shape does not match padding/stride")
    _, in_zp = b.q(i_in)
    _, out_zp = b.q(i_out)
    lo, hi = b.act(op, i_out)
    words = [in_t, w_t, b_t, out_t, mult, shift, sh, sw, dh, dw, ph, pw, -in_zp, out_zp, lo, hi]
    return words, t_in, t_out, sixteen


@lowers("CONV_2D", emits=[CONV_2D, CONV_2D_16X8, DECODE_SPARSE_INT8], macs=conv_macs)
def conv_2d(b, op):
    words, t_in, t_out, sixteen = _conv_common(b, op)
    t_w = b.m.tensors[op.inputs[1]]
    if t_in.shape[3] % t_w.shape[3] or t_out.shape[3] % (t_in.shape[3] // t_w.shape[3]):
        raise b.fail(op, "filter depth does not divide the input depth")
    b.emit(op, CONV_2D_16X8 if sixteen else CONV_2D, words)


@lowers("DEPTHWISE_CONV_2D", emits=[DEPTHWISE_CONV_2D, DEPTHWISE_CONV_2D_16X8, DECODE_SPARSE_INT8], macs=depthwise_macs)
def depthwise_conv_2d(b, op):
    words, t_in, t_out, sixteen = _conv_common(b, op)
    if t_out.shape[3] % t_in.shape[3]:
        raise b.fail(op, "output depth is not a multiple of the input depth")
    b.emit(op, DEPTHWISE_CONV_2D_16X8 if sixteen else DEPTHWISE_CONV_2D, words + [t_out.shape[3] // t_in.shape[3]])
