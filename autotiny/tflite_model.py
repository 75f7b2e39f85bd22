"""Read a .tflite flatbuffer into typed records: ops, tensors, MAC count.

Uses the schema module shipped inside the tflite-micro wheel, so the reader
matches the runtime we treat as the reference.  Knows no op by name: how many
multiply-accumulates an op does is a row of the op table (autotiny.blob.ops, filled
by autotiny/blob/lower/), which registers its rules in MAC_RULES below; this
module imports nothing of the blob package, so the arrow points one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from autotiny.errors import ModelError

OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

# TFLite op name -> (model, op) -> multiply-accumulates; written by autotiny.blob.ops.lowers
MAC_RULES: dict[str, Callable[[TfliteModel, Op], int]] = {}


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # schema name: INT8, INT32, FLOAT32 ...
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    quantized_dimension: int = 0
    buffer: int = 0
    is_constant: bool = False

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class Op:
    index: int
    name: str  # e.g. CONV_2D
    inputs: tuple[int, ...]  # tensor indices, -1 = optional input absent
    outputs: tuple[int, ...]
    options: object = None  # the schema's *OptionsT object, or None


@dataclass
class TfliteModel:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    buffers: list[bytes] = field(repr=False)
    size_bytes: int = 0
    raw: object = field(default=None, repr=False)  # schema.ModelT, for writers that need all of it

    def tensor(self, i: int) -> Tensor:
        return self.tensors[i]

    def constant(self, i: int) -> np.ndarray:
        """A constant tensor's values, as the dtype its schema type says."""
        t = self.tensors[i]
        dtype = {"INT8": np.int8, "INT32": np.int32, "INT64": np.int64, "FLOAT32": np.float32,
                 "UINT8": np.uint8, "INT16": np.int16}[t.dtype]
        return np.frombuffer(self.buffers[t.buffer], dtype=dtype).reshape(t.shape)

    def op_macs(self, op: Op) -> int:
        """Multiply-accumulates of one op; 0 for ops without a weight product."""
        if not MAC_RULES:
            raise RuntimeError("no MAC rules registered: import autotiny.blob (its op table registers them)")
        rule = MAC_RULES.get(op.name)
        return int(rule(self, op)) if rule is not None else 0

    def macs(self) -> int:
        return sum(self.op_macs(op) for op in self.ops)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts


def _name(b) -> str:
    return b.decode() if isinstance(b, bytes) else str(b or "")


def read_tflite(data: bytes | str | Path) -> TfliteModel:
    """Parse .tflite bytes (or a path); ModelError when it is not a TFLite model."""
    where = ""
    if isinstance(data, (str, Path)):
        where = f" ({data})"
        try:
            data = Path(data).read_bytes()
        except OSError as e:
            raise ModelError(f"cannot read model{where}: {e.strerror}") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"not a TFLite flatbuffer{where}: missing 'TFL3' identifier")
    try:
        m = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as e:  # flatbuffers raises assorted errors on corrupt input
        raise ModelError(f"corrupt TFLite flatbuffer{where}: {e}") from None
    if not m.subgraphs or len(m.subgraphs) != 1:
        raise ModelError(f"expected exactly one subgraph{where}, found {len(m.subgraphs or [])}")
    g = m.subgraphs[0]
    buffers = [bytes(bytearray(b.data)) if b.data is not None else b"" for b in (m.buffers or [])]
    tensors = []
    for i, t in enumerate(g.tensors):
        q = t.quantization
        scale = tuple(float(x) for x in (q.scale if q is not None and q.scale is not None else ()))
        zp = tuple(int(x) for x in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
        shape = tuple(int(x) for x in (t.shape if t.shape is not None else ()))
        tensors.append(Tensor(
            index=i, name=_name(t.name), shape=shape, dtype=TYPE_NAMES.get(t.type, str(t.type)),
            scale=scale, zero_point=zp, quantized_dimension=int(q.quantizedDimension) if q is not None else 0,
            buffer=int(t.buffer), is_constant=bool(t.buffer and len(buffers[t.buffer]) > 0)))
    ops = []
    for i, op in enumerate(g.operators or []):
        code = m.operatorCodes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{_name(code.customCode)}"
        ops.append(Op(index=i, name=name,
                      inputs=tuple(int(x) for x in (op.inputs if op.inputs is not None else ())),
                      outputs=tuple(int(x) for x in (op.outputs if op.outputs is not None else ())),
                      options=op.builtinOptions))
    return TfliteModel(tensors=tensors, ops=ops, inputs=tuple(int(x) for x in g.inputs),
                       outputs=tuple(int(x) for x in g.outputs), buffers=buffers,
                       size_bytes=len(data), raw=m)
