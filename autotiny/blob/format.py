"""The blob's on-flash format: constants, records, serialisation and the host-side loader.

Mirrors firmware/runtime/at_blob.h (layout in firmware/README.md).  Owns the bytes and
nothing else: it knows no op by name (op codes and names come from the op table,
autotiny.blob.ops) and nothing of TFLite.

    header (128 B)  magic "ATNY", version, total size, CRC-32 of bytes [16, total),
                    arena size, table offsets, input/output shape + quantization
    tensor table    44 B per tensor: dtype, rank, dims[6], storage, offset, size, zp, scale
    op records      {opcode:u16, n_words:u16} + n_words int32 parameters
    data            constant tensors (weights, biases, per-channel multipliers/shifts),
                    each 16-byte aligned
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotiny.blob.ops import OPCODE_NAMES
from autotiny.errors import ModelError

MAGIC = b"ATNY"
VERSION = 1
HEADER_SIZE = 128
CRC_START = 16
MAX_DIMS = 6
TENSOR_RECORD = 44
DATA_ALIGN = 16
ARENA_ALIGN = 16

DTYPES = {"INT8": 1, "INT32": 2, "FLOAT32": 3, "INT16": 4, "INT64": 5}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
NP_DTYPES = {1: np.int8, 2: np.int32, 3: np.float32, 4: np.int16, 5: np.int64}
ELEM_SIZE = {1: 1, 2: 4, 3: 4, 4: 2, 5: 8}
STORE_ARENA, STORE_BLOB = 0, 1

# the runtime's status codes (at_runtime.h; tests/unit/test_op_table.py checks the C names agree)
STATUS_NAMES = {
    0: "ok", 1: "bad magic", 2: "unsupported format version", 3: "truncated blob or bad total size",
    4: "CRC-32 mismatch", 5: "tensor or op table out of bounds", 6: "unsupported op code",
    7: "op parameters inconsistent with tensor shapes", 8: "arena too small",
    9: "input/output size mismatch", 10: "output larger than the output buffer",
    11: "blob or arena not aligned",
}

_HEADER = struct.Struct("<4sHHIIIHHIIIII")  # 44 bytes, then two io descriptors
_IO = struct.Struct("<HBB6iIi")  # 36 bytes
_TENSOR = struct.Struct("<BBBB6iIIiI")  # 44 bytes
assert _HEADER.size == 44 and _IO.size == 36 and _TENSOR.size == TENSOR_RECORD


def align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def float_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


# --------------------------------------------------------------------------
# records


@dataclass
class BlobTensor:
    dtype: int
    shape: tuple[int, ...]
    storage: int
    offset: int = 0
    zero_point: int = 0
    scale: float = 0.0
    name: str = ""
    data: bytes | None = None  # constants only

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * ELEM_SIZE[self.dtype] if self.shape else ELEM_SIZE[self.dtype]


@dataclass
class BlobHeader:
    version: int
    total_size: int
    crc32: int
    arena_size: int
    n_tensors: int
    n_ops: int
    tensors_offset: int
    ops_offset: int
    ops_size: int
    data_offset: int
    input_tensor: int
    input_dtype: str
    input_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_tensor: int
    output_dtype: str
    output_shape: tuple[int, ...]
    output_scale: float
    output_zero_point: int


@dataclass
class ModelBlob:
    data: bytes
    header: BlobHeader
    op_names: list[str]
    tflite_size: int = 0
    source: str = ""
    tensors: list[BlobTensor] = field(default_factory=list, repr=False)
    # blob bytes the sparse filter encoding saved against the dense blob of the same model
    # (from_tflite(sparse=True); 0 when no filter is stored encoded).  Net of the decode records,
    # not of the firmware's decoder, which only a firmware build measures.
    sparse_saved: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def arena_size(self) -> int:
        return self.header.arena_size

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.header.input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.header.output_shape

    @property
    def input_dtype(self):
        return np.dtype(NP_DTYPES[DTYPES[self.header.input_dtype]])

    @property
    def output_dtype(self):
        return np.dtype(NP_DTYPES[DTYPES[self.header.output_dtype]])

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.data)


# --------------------------------------------------------------------------
# serialisation


def _dims6(shape) -> list[int]:
    return list(shape) + [0] * (MAX_DIMS - len(shape))


def _pack_tensor(t: BlobTensor) -> bytes:
    return _TENSOR.pack(t.dtype, len(t.shape), t.storage, 0, *_dims6(t.shape), t.offset, t.nbytes,
                        t.zero_point, float_bits(t.scale))


def _pack_io(index: int, t: BlobTensor) -> bytes:
    return _IO.pack(index, t.dtype, len(t.shape), *_dims6(t.shape), float_bits(t.scale), t.zero_point)


def serialize(tensors: list[BlobTensor], ops: list[tuple[int, list[int]]], in_t: int, out_t: int,
              arena_size: int) -> bytes:
    """The blob bytes: header, tensor table, op records (opcode, words), data; CRC last.
    Sets the offsets of the constant (STORE_BLOB) tensors."""
    n_t = len(tensors)
    tensors_off = HEADER_SIZE
    ops_off = tensors_off + n_t * TENSOR_RECORD
    ops_blob = b"".join(struct.pack("<HH", code, len(w)) + struct.pack(f"<{len(w)}i", *w) for code, w in ops)
    data_off = align(ops_off + len(ops_blob), DATA_ALIGN)
    data = bytearray()
    for t in tensors:
        if t.storage == STORE_BLOB:
            pad = align(data_off + len(data), DATA_ALIGN) - (data_off + len(data))
            data += b"\0" * pad
            t.offset = data_off + len(data)
            data += t.data
    total = align(data_off + len(data), 4)
    data += b"\0" * (total - data_off - len(data))
    table = b"".join(_pack_tensor(t) for t in tensors)
    body = table + ops_blob + b"\0" * (data_off - ops_off - len(ops_blob)) + bytes(data)
    hdr = _HEADER.pack(MAGIC, VERSION, HEADER_SIZE, total, 0, arena_size, n_t, len(ops),
                       tensors_off, ops_off, len(ops_blob), data_off, 0)
    hdr += _pack_io(in_t, tensors[in_t]) + _pack_io(out_t, tensors[out_t])
    hdr += b"\0" * (HEADER_SIZE - len(hdr))
    blob = bytearray(hdr + body)
    assert len(blob) == total
    crc = zlib.crc32(bytes(blob[CRC_START:])) & 0xFFFFFFFF
    struct.pack_into("<I", blob, 12, crc)
    return bytes(blob)


# --------------------------------------------------------------------------
# host-side validation of a blob


def parse_header(data: bytes, where: str = "<blob>") -> BlobHeader:
    """Parse and validate a blob header (magic, version, size, CRC) -> BlobHeader."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise ModelError(f"blob {where} is truncated: {len(data)} bytes, the header alone is {HEADER_SIZE}")
    (magic, version, header_size, total, crc, arena, n_t, n_ops, t_off, o_off, o_size, d_off,
     _flags) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ModelError(f"blob {where} has bad magic {magic!r} (expected {MAGIC!r})")
    if version != VERSION:
        raise ModelError(f"blob {where} has format version {version}; this runtime reads version {VERSION}")
    if header_size != HEADER_SIZE:
        raise ModelError(f"blob {where} has header size {header_size} (expected {HEADER_SIZE})")
    if total > len(data):
        raise ModelError(f"blob {where} is truncated: header says {total} bytes, got {len(data)}")
    if total < HEADER_SIZE or total % 4:
        raise ModelError(f"blob {where} has a bad total size {total}")
    actual = zlib.crc32(data[CRC_START:total]) & 0xFFFFFFFF
    if actual != crc:
        raise ModelError(f"blob {where} is corrupted: CRC-32 {actual:#010x} != header {crc:#010x}")
    if not (HEADER_SIZE <= t_off and t_off + n_t * TENSOR_RECORD <= o_off and o_off + o_size <= d_off <= total):
        raise ModelError(f"blob {where} has inconsistent table offsets")
    io = []
    for k in range(2):
        tensor, dtype, ndim, *rest = _IO.unpack_from(data, _HEADER.size + k * _IO.size)
        dims, scale_bits, zp = rest[:6], rest[6], rest[7]
        if dtype not in DTYPE_NAMES or ndim > MAX_DIMS or tensor >= n_t:
            raise ModelError(f"blob {where} has a bad {'output' if k else 'input'} descriptor")
        scale = struct.unpack("<f", struct.pack("<I", scale_bits))[0]
        io.append((tensor, DTYPE_NAMES[dtype], tuple(dims[:ndim]), scale, zp))
    return BlobHeader(version, total, crc, arena, n_t, n_ops, t_off, o_off, o_size, d_off,
                      *io[0], *io[1])


def load_blob(data: bytes | str | Path) -> ModelBlob:
    """Read a blob from bytes or a file, validating it (ModelError when bad)."""
    where = "<bytes>"
    if isinstance(data, (str, Path)):
        where = str(data)
        try:
            data = Path(data).read_bytes()
        except OSError as e:
            raise ModelError(f"cannot read blob {where}: {e.strerror}") from None
    hdr = parse_header(data, where)
    names = []
    pos = hdr.ops_offset
    for _ in range(hdr.n_ops):
        if pos + 4 > hdr.ops_offset + hdr.ops_size:
            raise ModelError(f"blob {where} has a truncated op table")
        code, n = struct.unpack_from("<HH", data, pos)
        if code not in OPCODE_NAMES:
            raise ModelError(f"blob {where} contains unsupported op code {code}")
        names.append(OPCODE_NAMES[code])
        pos += 4 + 4 * n
    return ModelBlob(data=bytes(data[:hdr.total_size]), header=hdr, op_names=names, source=where)
