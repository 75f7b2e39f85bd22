"""The conversion: an int8 or 16x8 (int16 activations, int8 weights) .tflite -> ModelBlob.

The Builder holds the blob being written (tensor table, op records, aliases) and the
helpers every lowering needs (tensor registration, quantization parameters, fused
activation ranges, per-channel requantization vectors).  Which TFLite ops exist and how
each becomes op records is not here: the op table (autotiny.blob.ops) maps each op to
its lowering in autotiny/blob/lower/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotiny.blob import ops
from autotiny.blob import sparse as sparse_format  # the module; `sparse` is the build's flag
from autotiny.blob.format import (DTYPES, MAX_DIMS, NP_DTYPES, STORE_ARENA, STORE_BLOB, BlobTensor, ModelBlob,
                                  parse_header, serialize)
from autotiny.blob.planner import plan_tensors
from autotiny.blob.quant import activation_range, quantize_multiplier
from autotiny.errors import ModelError
from autotiny.tflite_model import Op, TfliteModel, read_tflite


class Builder:
    def __init__(self, model: TfliteModel, where: str, sparse: bool = False):
        self.m = model
        self.where = where
        self.sparse = sparse  # store filters encoded where that saves bytes (`weights`)
        self.readers: dict[int, int] = {}  # tflite tensor index -> how many op inputs read it
        for op in model.ops:
            for i in op.inputs:
                self.readers[i] = self.readers.get(i, 0) + 1
        self.n_sparse = 0  # filters stored encoded
        self.tensors: list[BlobTensor] = []
        self.map: dict[int, int] = {}  # tflite tensor index -> blob tensor index
        self.ops: list[tuple[str, int, list[int]]] = []  # (TFLite op name, opcode, words)
        self.alias: dict[int, int] = {}  # blob tensor -> blob tensor it shares memory with

    def fail(self, op: Op | None, msg: str) -> ModelError:
        where = f" (op #{op.index} {op.name})" if op is not None else ""
        return ModelError(f"{msg}{where} in model {self.where}")

    # tensors ------------------------------------------------------------
    def tensor(self, idx: int, op: Op | None = None, dtypes=("INT8",)) -> int:
        if idx < 0:
            raise self.fail(op, "missing input tensor")
        t = self.m.tensors[idx]
        if t.dtype not in dtypes:
            raise self.fail(op, f"tensor '{t.name}' has type {t.dtype}, expected {'/'.join(dtypes)}")
        if idx in self.map:
            return self.map[idx]
        if len(t.shape) > MAX_DIMS:
            raise self.fail(op, f"tensor '{t.name}' has rank {len(t.shape)} > {MAX_DIMS}")
        if any(d <= 0 for d in t.shape):
            raise self.fail(op, f"tensor '{t.name}' has a dynamic or empty shape {t.shape}")
        dt = DTYPES[t.dtype]
        zp = t.zero_point[0] if t.zero_point else 0
        scale = t.scale[0] if t.scale else 0.0
        if t.is_constant:
            data = self.m.constant(idx).astype(NP_DTYPES[dt]).tobytes()
            bt = BlobTensor(dt, tuple(t.shape), STORE_BLOB, name=t.name, data=data, zero_point=zp, scale=scale)
        else:
            bt = BlobTensor(dt, tuple(t.shape), STORE_ARENA, name=t.name, zero_point=zp, scale=scale)
        self.tensors.append(bt)
        self.map[idx] = len(self.tensors) - 1
        return self.map[idx]

    def weights(self, idx: int, op: Op) -> int:
        """The blob tensor an op reads its constant int8 filter from.  In a sparse build, a filter
        only this op reads, whose encoding pays (autotiny.blob.sparse), is stored encoded and
        expanded into an arena copy by a decode record emitted here, just before the op's own:
        the copy lives for those two ops."""
        t = self.m.tensors[idx] if idx >= 0 else None
        if (not self.sparse or t is None or idx in self.map or not t.is_constant or t.dtype != "INT8"
                or self.readers.get(idx, 0) != 1):
            return self.tensor(idx, op)
        values = self.m.constant(idx).astype(np.int8)
        if not sparse_format.pays(values.size, int(np.count_nonzero(values))):
            return self.tensor(idx, op)
        dst = self.tensor(idx, op)
        self.tensors[dst].storage, self.tensors[dst].data = STORE_ARENA, None
        enc = sparse_format.encode(values)
        self.tensors.append(BlobTensor(DTYPES["INT8"], (len(enc),), STORE_BLOB, name=f"{t.name}/sparse", data=enc))
        decode = sparse_format.DECODE_SPARSE_INT8
        self.emit(op, decode, [len(self.tensors) - 1, dst], label=decode.name)
        self.n_sparse += 1
        return dst

    def const(self, values, dtype=np.int32, name="") -> int:
        arr = np.asarray(values, dtype=dtype).reshape(-1)
        dt = {np.dtype(np.int32): 2, np.dtype(np.int8): 1, np.dtype(np.float32): 3,
              np.dtype(np.int16): 4, np.dtype(np.int64): 5}[arr.dtype]
        self.tensors.append(BlobTensor(dt, (len(arr),), STORE_BLOB, name=name, data=arr.tobytes()))
        return len(self.tensors) - 1

    def q(self, idx: int) -> tuple[float, int]:
        t = self.m.tensors[idx]
        if not t.scale:
            raise ModelError(f"tensor '{t.name}' is not quantized in model {self.where}")
        return t.scale[0], (t.zero_point[0] if t.zero_point else 0)

    def act(self, op: Op, out_idx: int) -> tuple[int, int]:
        a = int(getattr(op.options, "fusedActivationFunction", 0) or 0)
        if a not in (0, 1, 2, 3):
            raise self.fail(op, f"fused activation {a} is not supported")
        s, zp = self.q(out_idx)
        if self.m.tensors[out_idx].dtype == "INT16":
            return activation_range(a, s, zp, -32768, 32767)
        return activation_range(a, s, zp)

    def int16(self, op: Op, *idx: int) -> bool:
        """Whether an op runs on int16 activations (TFLite's 16x8 mode): its activation tensors
        `idx` are all int16 with zero point 0, or all not int16 (else a ModelError)."""
        types = [self.m.tensors[i].dtype for i in idx]
        if "INT16" not in types:
            return False
        if any(t != "INT16" for t in types):
            raise self.fail(op, f"mixed activation types {'/'.join(types)}")
        if any(self.q(i)[1] != 0 for i in idx):
            raise self.fail(op, "int16 activations with a non-zero zero point (16x8 is symmetric)")
        return True

    def requant_vectors(self, op: Op, in_idx: int, w_idx: int, out_idx: int, n: int):
        in_s, _ = self.q(in_idx)
        out_s, _ = self.q(out_idx)
        w = self.m.tensors[w_idx]
        if not w.scale:
            raise self.fail(op, "weights are not quantized")
        if any(z != 0 for z in w.zero_point):
            raise self.fail(op, "per-channel weights with a non-zero zero point")
        scales = list(w.scale) if len(w.scale) > 1 else [w.scale[0]] * n
        if len(scales) != n:
            raise self.fail(op, f"{len(scales)} weight scales for {n} channels")
        mults, shifts = [], []
        for fs in scales:
            mq, sh = quantize_multiplier(float(in_s) * float(fs) / float(out_s))
            mults.append(mq)
            shifts.append(sh)
        if self.m.tensors[in_idx].dtype == "INT16" and max(shifts) > 7:  # TFLite's int64 rescale: shift < 8
            raise self.fail(op, "16x8 requantisation multiplier of 128 or more (input x weight scale >> output scale)")
        return self.const(mults, name="multipliers"), self.const(shifts, name="shifts")

    def bias(self, op: Op, dtype: str = "INT32") -> int:
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            return -1
        return self.tensor(op.inputs[2], op, dtypes=(dtype,))

    def emit(self, op: Op, blob_op: ops.BlobOp, words: list[int], label: str | None = None) -> None:
        """Append a record; `label` names it in op_names (default: the TFLite op's name)."""
        assert blob_op in ops.LOWERINGS[op.name].emits, f"{op.name} lowering emits undeclared {blob_op.name}"
        self.ops.append((label or op.name, blob_op.opcode, [int(w) for w in words]))

    def add_op(self, op: Op) -> None:
        lowering = ops.LOWERINGS.get(op.name)
        if lowering is None:
            raise ModelError(ops.unsupported_message(op.name, op.index, self.where))
        lowering.lower(self, op)


def from_tflite(model: TfliteModel | bytes | str | Path, source: str | None = None,
                sparse: bool = False) -> ModelBlob:
    """Convert an int8 .tflite (path, bytes or parsed model) into a ModelBlob.

    `sparse`: store each int8 conv / depthwise / fully-connected filter whose sparse encoding
    makes the blob smaller encoded (Builder.weights); the blob's `sparse_saved` says by how many
    bytes, and it then needs the firmware's decoder (autotiny.firmware.needs_sparse).
    ModelError names the op and the model when something is not supported."""
    if isinstance(model, (str, Path)):
        source = source or str(model)
    if not isinstance(model, TfliteModel):
        model = read_tflite(model)
    where = source or "<bytes>"
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"expected one input and one output, found {len(model.inputs)} and "
                         f"{len(model.outputs)} in model {where}")
    ops.check_supported(model, where)
    b = Builder(model, where, sparse)
    io_types = ("INT8", "INT16", "FLOAT32")
    in_t = b.tensor(model.inputs[0], None, io_types)
    for op in model.ops:
        b.add_op(op)
    out_t = b.tensor(model.outputs[0], None, io_types)
    if not b.ops:
        raise ModelError(f"model {where} has no ops")
    records = [(code, words) for _, code, words in b.ops]
    arena = plan_tensors(b.tensors, records, b.alias, in_t, out_t)
    data = serialize(b.tensors, records, in_t, out_t, arena)
    saved = 0
    if b.n_sparse:
        dense = from_tflite(model, where)
        saved = dense.size - len(data)
        if saved <= 0:  # the per-filter rule estimates alignment; the whole blob decides
            return dense
    return ModelBlob(data=data, header=parse_header(data, where), op_names=[n for n, _, _ in b.ops],
                     tflite_size=model.size_bytes, source=where, tensors=b.tensors, sparse_saved=saved)
