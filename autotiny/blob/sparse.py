"""Sparse int8 filters in the blob: the encoding, its decoder's op row and the size rule.

The one owner of the format (C decoder: firmware/kernels/reference/decode_sparse.c):

    mask    ceil(n / 8) bytes; bit i (LSB first) set = element i is non-zero
    values  the non-zero elements, in order

The encoding's tensor records exactly these bytes (the blob's data section pads every constant
to 16-byte alignment), so the decoder's load-time check is exact: mask popcount == values stored.

A sparse build (`autotiny.blob.from_tflite(..., sparse=True)`) stores a filter this way
where `pays` says it saves blob bytes; a DECODE_SPARSE_INT8 record, emitted just before the
op that reads the filter, expands it into an arena copy that lives for those two ops.
"""

from __future__ import annotations

import numpy as np

from autotiny.blob.format import DATA_ALIGN, TENSOR_RECORD, align
from autotiny.blob.ops import blob_op

DECODE_SPARSE_INT8 = blob_op("DECODE_SPARSE_INT8", 25, tensors=(0, 1), sparse=True, notes=(
    "no TFLite op: a sparse build's int8 filter (bitmask + non-zero values) expanded into the arena "
    "just before the op that reads it"))

# what storing one filter encoded adds besides its data: the encoding's tensor-table entry and the
# decode record (op header + its two words)
OVERHEAD = TENSOR_RECORD + 4 + 4 * 2


def encoded_size(n: int, nonzero: int) -> int:
    """Bytes of the encoding of n elements of which `nonzero` are non-zero."""
    return (n + 7) // 8 + nonzero


def pays(n: int, nonzero: int) -> bool:
    """Whether storing an n-byte int8 filter encoded makes the blob smaller: each constant starts
    DATA_ALIGN-aligned, and the added records move the data section by up to OVERHEAD rounded up
    to that alignment, so every term counts whole alignment units.  An estimate per filter (the
    last constant is only 4-aligned): from_tflite keeps the sparse blob only if it is smaller."""
    return align(encoded_size(n, nonzero), DATA_ALIGN) + align(OVERHEAD, DATA_ALIGN) < align(n, DATA_ALIGN)


def encode(values: np.ndarray) -> bytes:
    """The encoding of an int8 array (flattened in C order)."""
    v = np.ascontiguousarray(values, dtype=np.int8).reshape(-1)
    nz = v != 0
    mask = np.packbits(nz, bitorder="little")
    return mask.tobytes() + v[nz].tobytes()


def decode(data: bytes, n: int) -> np.ndarray:
    """The n int8 elements an encoding holds (ValueError when its sizes do not agree)."""
    data = bytes(data)
    k = (n + 7) // 8
    if len(data) < k:
        raise ValueError(f"sparse encoding of {len(data)} B is shorter than its {k} B mask for {n} elements")
    nz = np.unpackbits(np.frombuffer(data[:k], np.uint8), bitorder="little").astype(bool)
    if nz[n:].any():
        raise ValueError("sparse encoding has mask bits set past its last element")
    nz = nz[:n]
    count = int(nz.sum())
    if encoded_size(n, count) != len(data):
        raise ValueError(f"sparse encoding of {len(data)} B: its mask marks {count} non-zero values, "
                         f"which take {encoded_size(n, count)} B")
    out = np.zeros(n, np.int8)
    out[nz] = np.frombuffer(data, np.int8, count, offset=k)
    return out
