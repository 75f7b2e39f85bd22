"""QUANTIZE (float32 -> int8 or int16, or int8 -> int8 as REQUANTIZE) and DEQUANTIZE (int8 or
int16 -> float32) (C kernel: quantize.c)."""

from __future__ import annotations

from autotiny.blob.format import float_bits
from autotiny.blob.ops import blob_op, lowers
from autotiny.blob.quant import quantize_multiplier

QUANTIZE = blob_op("QUANTIZE", 11, tensors=(0, 1),
                   notes="float32 → int8, the only float code, single precision (`roundf`)")
DEQUANTIZE = blob_op("DEQUANTIZE", 12, tensors=(0, 1), notes=(
    "int8 → float32, float product (equals TFLM's exact double product rounded once)"))
REQUANTIZE = blob_op("REQUANTIZE", 13, tensors=(0, 1), notes="int8 → int8 (a QUANTIZE with an int8 input)")
QUANTIZE_INT16 = blob_op("QUANTIZE_INT16", 23, tensors=(0, 1), notes="float32 → int16, as QUANTIZE", int16=True)
DEQUANTIZE_INT16 = blob_op("DEQUANTIZE_INT16", 24, tensors=(0, 1), notes="int16 → float32, as DEQUANTIZE", int16=True)


@lowers("QUANTIZE", emits=[QUANTIZE, REQUANTIZE, QUANTIZE_INT16])
def quantize(b, op):
    i_in, i_out = op.inputs[0], op.outputs[0]
    t_in = b.m.tensors[i_in]
    s_out, z_out = b.q(i_out)
    if b.m.tensors[i_out].dtype == "INT16":
        if t_in.dtype != "FLOAT32":
            raise b.fail(op, f"QUANTIZE from {t_in.dtype} to INT16 is not supported")
        b.emit(op, QUANTIZE_INT16, [b.tensor(i_in, op, ("FLOAT32",)), b.tensor(i_out, op, ("INT16",)),
                                    z_out, float_bits(s_out)])
    elif t_in.dtype == "FLOAT32":
        b.emit(op, QUANTIZE, [b.tensor(i_in, op, ("FLOAT32",)), b.tensor(i_out, op), z_out, float_bits(s_out)])
    elif t_in.dtype == "INT8":
        s_in, z_in = b.q(i_in)
        mult, shift = quantize_multiplier(float(s_in) / float(s_out))
        b.emit(op, REQUANTIZE, [b.tensor(i_in, op), b.tensor(i_out, op), z_in, z_out, mult, shift])
    else:
        raise b.fail(op, f"QUANTIZE from {t_in.dtype} is not supported")


@lowers("DEQUANTIZE", emits=[DEQUANTIZE, DEQUANTIZE_INT16])
def dequantize(b, op):
    i_in, i_out = op.inputs[0], op.outputs[0]
    s_in, z_in = b.q(i_in)
    if b.m.tensors[i_in].dtype == "INT16":
        b.emit(op, DEQUANTIZE_INT16, [b.tensor(i_in, op, ("INT16",)), b.tensor(i_out, op, ("FLOAT32",)),
                                      z_in, float_bits(s_in)])
    else:
        b.emit(op, DEQUANTIZE, [b.tensor(i_in, op), b.tensor(i_out, op, ("FLOAT32",)), z_in, float_bits(s_in)])
