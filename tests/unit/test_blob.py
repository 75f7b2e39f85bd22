"""Blob format, arena planner and bad-input handling (host loader and C loader)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autotiny import blob, runtime
from autotiny.errors import ModelError
from tests.tflite_builder import ModelBuilder, options


def small_model(op: str = "CONV_2D") -> bytes:
    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.tensor((1, 6, 6, 2), scale=0.05, zero_point=-3)
    w = b.tensor((3, 3, 3, 2), scale=[0.01, 0.02, 0.03], zero_point=[0, 0, 0],
                 data=rng.integers(-127, 128, (3, 3, 3, 2)))
    bias = b.tensor((3,), "INT32", scale=[0.0005, 0.001, 0.0015], zero_point=[0] * 3,
                    data=rng.integers(-500, 500, 3))
    y = b.tensor((1, 6, 6, 3), scale=0.1, zero_point=1)
    r = b.tensor((1, 108), scale=0.1, zero_point=1)
    s = b.tensor((1, 108), scale=1 / 256, zero_point=-128)
    shape = b.tensor((2,), "INT32", data=np.array([1, 108], dtype=np.int32))
    b.op(op, [x, w, bias], [y], options("Conv2DOptionsT", padding=0, strideH=1, strideW=1,
                                         dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1))
    b.op("RESHAPE", [y, shape], [r], options("ReshapeOptionsT", newShape=[1, 108]))
    b.op("SOFTMAX", [r], [s], options("SoftmaxOptionsT", beta=1.0))
    return b.build([x], [s])


def test_header_round_trip():
    b = blob.from_tflite(small_model())
    h = blob.parse_header(b.data)
    assert b.data[:4] == b"ATNY" and h.version == blob.VERSION and h.total_size == len(b.data)
    assert h.crc32 == zlib.crc32(b.data[16:]) & 0xFFFFFFFF
    assert h.input_shape == (1, 6, 6, 2) and h.output_shape == (1, 108)
    assert h.input_dtype == "INT8" and h.input_zero_point == -3 and h.output_zero_point == -128
    assert abs(h.input_scale - 0.05) < 1e-7 and h.output_scale == 1 / 256
    assert h.n_ops == 3 and b.op_names == ["CONV_2D", "RESHAPE", "SOFTMAX"]
    assert blob.load_blob(b.data).op_names == b.op_names
    assert runtime.validate(b.data) == 0


def test_constants_are_aligned_and_reshape_aliases():
    b = blob.from_tflite(small_model())
    for t in b.tensors:
        if t.storage == blob.STORE_BLOB:
            assert t.offset % blob.DATA_ALIGN == 0
        else:
            assert t.offset % blob.ARENA_ALIGN == 0
    arena = [t for t in b.tensors if t.storage == blob.STORE_ARENA]
    assert arena[0].offset == 0  # the input, at a fixed address for the firmware
    conv_out = next(t for t in arena if t.shape == (1, 6, 6, 3))
    flat = next(t for t in arena if t.shape == (1, 108) and t.zero_point == 1)
    assert conv_out.offset == flat.offset  # RESHAPE costs no memory


def corrupt(data: bytes, at: int, value: bytes) -> bytes:
    d = bytearray(data)
    d[at:at + len(value)] = value
    return bytes(d)


def refix_crc(data: bytes) -> bytes:
    d = bytearray(data)
    struct.pack_into("<I", d, 12, zlib.crc32(bytes(d[16:])) & 0xFFFFFFFF)
    return bytes(d)


@pytest.mark.parametrize("case, match, status", [
    ("magic", "bad magic", 1),
    ("version", "format version", 2),
    ("truncated", "truncated", 3),
    ("size", "truncated", 3),
    ("crc", "CRC-32", 4),
    ("payload", "CRC-32", 4),
])
def test_bad_blobs_rejected(case, match, status):
    good = blob.from_tflite(small_model()).data
    bad = {
        "magic": lambda: corrupt(good, 0, b"XXXX"),
        "version": lambda: refix_crc(corrupt(good, 4, struct.pack("<H", 9))),
        "truncated": lambda: good[:len(good) // 2],
        "size": lambda: refix_crc(corrupt(good, 8, struct.pack("<I", len(good) + 64))),
        "crc": lambda: corrupt(good, 12, b"\0\0\0\0"),
        "payload": lambda: corrupt(good, len(good) - 8, b"\x55"),
    }[case]()
    with pytest.raises(ModelError, match=match):
        blob.load_blob(bad)
    assert runtime.validate(bad) == status  # the C loader (firmware) agrees
    with pytest.raises(ModelError):
        runtime.HostModel(bad)


def test_c_loader_rejects_bad_tables_even_with_a_good_crc():
    good = blob.from_tflite(small_model()).data
    h = blob.parse_header(good)
    # a tensor offset beyond the blob
    t0 = h.tensors_offset + 32
    assert runtime.validate(refix_crc(corrupt(good, t0, struct.pack("<I", 1 << 30)))) == 5
    # an unknown op code
    assert runtime.validate(refix_crc(corrupt(good, h.ops_offset, struct.pack("<H", 999)))) == 6
    # too short an arena
    assert runtime.validate(refix_crc(corrupt(good, 16, struct.pack("<I", 4)))) == 5


def test_unsupported_op_names_op_and_model(tmp_path):
    b = ModelBuilder()
    x = b.tensor((1, 4), scale=0.1, zero_point=0)
    y = b.tensor((1, 4), scale=0.1, zero_point=0)
    b.op("TANH", [x], [y])
    path = tmp_path / "tanh_model.tflite"
    path.write_bytes(b.build([x], [y]))
    with pytest.raises(ModelError, match=r"unsupported op TANH .*tanh_model\.tflite"):
        blob.from_tflite(path)


def test_quantize_multiplier_matches_tflm_examples():
    assert blob.quantize_multiplier(0.0) == (0, 0)
    assert blob.quantize_multiplier(0.5) == (1 << 30, 0)
    assert blob.quantize_multiplier(1.0) == (1 << 30, 1)
    assert blob.quantize_multiplier(0.75) == (3 << 29, 0)
    assert blob.quantize_multiplier(1e-12) == (0, 0)  # shift < -31 flushes to zero
    # rounding up to 2^31 renormalises
    m, s = blob.quantize_multiplier(1.0 - 2.0 ** -40)
    assert (m, s) == (1 << 30, 1)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(-1, 12), st.integers(0, 6)), min_size=1, max_size=14),
       st.integers(0, 13))
def test_arena_plan_never_overlaps_live_buffers(items, pin):
    sizes = [s for s, _, _ in items]
    lifetimes = [(a, a + d) for _, a, d in items]
    pinned = pin % len(sizes)
    offsets, total = blob.plan_arena(sizes, lifetimes, pinned=pinned)
    assert offsets[pinned] == 0 and total % 16 == 0
    for i in range(len(sizes)):
        assert offsets[i] % 16 == 0 and offsets[i] + sizes[i] <= total
        for j in range(i):
            if lifetimes[i][1] < lifetimes[j][0] or lifetimes[j][1] < lifetimes[i][0]:
                continue
            assert offsets[i] + sizes[i] <= offsets[j] or offsets[j] + sizes[j] <= offsets[i]
    # never worse than simply stacking everything
    assert total <= sum((s + 15) // 16 * 16 for s in sizes)
