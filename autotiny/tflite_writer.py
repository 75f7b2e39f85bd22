"""Write .tflite flatbuffers directly with the schema's object API (the schema module of the
tflite-micro wheel, the runtime we treat as the reference).

Milliseconds per model, with any quantization parameters (TF conversion takes seconds and picks
its own).  Used by the budget pre-check's shape model (autotiny.probe) and the per-op tests.

    b = ModelBuilder()
    x = b.tensor((1, 8, 8, 3), scale=0.05, zero_point=-3)
    w = b.tensor((4, 3, 3, 3), scale=[0.01] * 4, zero_point=[0] * 4, data=np.int8 array)
    y = b.tensor((1, 8, 8, 4), scale=0.1, zero_point=2)
    b.op("CONV_2D", [x, w, -1], [y], options("Conv2DOptionsT", ...))
    tflite_bytes = b.build([x], [y])
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

TYPES = {"INT8": schema.TensorType.INT8, "INT32": schema.TensorType.INT32,
         "FLOAT32": schema.TensorType.FLOAT32, "INT64": schema.TensorType.INT64, "INT16": schema.TensorType.INT16}
NP = {"INT8": np.int8, "INT32": np.int32, "FLOAT32": np.float32, "INT64": np.int64, "INT16": np.int16}


class ModelBuilder:
    def __init__(self):
        self.tensors: list = []
        self.buffers: list = [schema.BufferT()]  # buffer 0: the empty sentinel
        self.ops: list = []
        self.opcodes: list[int] = []

    def tensor(self, shape, dtype: str = "INT8", scale=None, zero_point=None, quantized_dimension: int = 0,
               data=None, name: str | None = None) -> int:
        t = schema.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = TYPES[dtype]
        t.name = (name or f"t{len(self.tensors)}").encode()
        if scale is not None:
            q = schema.QuantizationParametersT()
            q.scale = np.atleast_1d(np.asarray(scale, dtype=np.float32)).tolist()
            zp = 0 if zero_point is None else zero_point
            q.zeroPoint = np.atleast_1d(np.asarray(zp, dtype=np.int64)).tolist()
            q.quantizedDimension = quantized_dimension
            t.quantization = q
        if data is not None:
            buf = schema.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(np.asarray(data, dtype=NP[dtype])).tobytes(),
                                     dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, name: str, inputs, outputs, options=None) -> None:
        code = getattr(schema.BuiltinOperator, name)
        if code not in self.opcodes:
            self.opcodes.append(code)
        o = schema.OperatorT()
        o.opcodeIndex = self.opcodes.index(code)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        if options is not None:
            o.builtinOptionsType = getattr(schema.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        self.ops.append(o)

    def build(self, inputs, outputs) -> bytes:
        g = schema.SubGraphT()
        g.tensors = self.tensors
        g.inputs = list(inputs)
        g.outputs = list(outputs)
        g.operators = self.ops
        g.name = b"main"
        m = schema.ModelT()
        m.version = 3
        m.description = b"autotiny"
        m.subgraphs = [g]
        m.buffers = self.buffers
        codes = []
        for c in self.opcodes:
            oc = schema.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)
            oc.version = 1
            codes.append(oc)
        m.operatorCodes = codes
        fb = flatbuffers.Builder(1024)
        fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def options(cls_name: str, **fields):
    """schema.<cls_name>() with fields set, e.g. options('Conv2DOptionsT', strideH=2)."""
    o = getattr(schema, cls_name)()
    for k, v in fields.items():
        setattr(o, k, v)
    return o
