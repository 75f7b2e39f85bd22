"""The sparse filter encoding (autotiny.blob.sparse): round trip, size rule, and the builder's
choice of which filters to store encoded."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny import blob
from autotiny.blob import sparse
from autotiny.blob.format import DATA_ALIGN, TENSOR_RECORD
from tests.tflite_builder import ModelBuilder, options


def _pruned(rng, n: int, zero_fraction: float) -> np.ndarray:
    v = rng.integers(-128, 128, size=n).astype(np.int8)
    v[rng.permutation(n)[:int(round(zero_fraction * n))]] = 0
    return v


@pytest.mark.parametrize("n", [1, 7, 8, 9, 63, 64, 100, 1001, 4096])
@pytest.mark.parametrize("zero_fraction", [0.0, 0.25, 0.75, 0.97, 1.0])
def test_round_trip(n, zero_fraction):
    rng = np.random.default_rng(n * 1000 + int(zero_fraction * 100))
    v = _pruned(rng, n, zero_fraction)
    enc = sparse.encode(v)
    nonzero = int(np.count_nonzero(v))
    assert len(enc) == sparse.encoded_size(n, nonzero) == (n + 7) // 8 + nonzero
    assert np.array_equal(sparse.decode(enc, n), v)


def test_layout_mask_lsb_first_then_values():
    v = np.array([0, 5, 0, 0, 0, 0, 0, 0, -3, 0], np.int8)
    assert sparse.encode(v) == bytes([0b00000010, 0b00000001, 5, 0xFD])
    assert sparse.encode(v.reshape(2, 5)) == sparse.encode(v)  # C order


def test_decode_refuses_inconsistent_sizes():
    enc = sparse.encode(np.array([1, 0, 2, 0, 0, 0, 0, 0, 0, 3], np.int8))
    with pytest.raises(ValueError, match="marks 3 non-zero values"):
        sparse.decode(enc[:-1], 10)  # a value short
    with pytest.raises(ValueError, match="marks 3 non-zero values"):
        sparse.decode(enc + b"\0", 10)  # a byte too many
    with pytest.raises(ValueError, match="past its last element"):
        sparse.decode(bytes([enc[0], enc[1] | 0x80]) + enc[2:], 10)
    with pytest.raises(ValueError, match="shorter than its 2 B mask"):
        sparse.decode(b"\x00", 10)


def test_size_rule_counts_alignment_and_the_added_records():
    assert sparse.OVERHEAD == TENSOR_RECORD + 4 + 8  # tensor entry + decode record (header, two words)
    for n in (16, 100, 1000, 4096):
        for nonzero in range(0, n + 1, max(1, n // 64)):
            enc = -(-sparse.encoded_size(n, nonzero) // DATA_ALIGN) * DATA_ALIGN
            assert sparse.pays(n, nonzero) == (enc + 64 < -(-n // DATA_ALIGN) * DATA_ALIGN)
    assert not sparse.pays(16, 0)  # a tiny filter never pays for its records
    assert sparse.pays(4096, 1024) and not sparse.pays(4096, 3900)


def _fc_model(w: np.ndarray) -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, w.shape[1]), scale=0.1, zero_point=0)
    wt = b.tensor(w.shape, scale=0.01, zero_point=0, data=w)
    y = b.tensor((1, w.shape[0]), scale=0.2, zero_point=3)
    b.op("FULLY_CONNECTED", [x, wt, -1], [y], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    return b.build([x], [y])


def test_a_dense_model_whose_filters_do_not_pay_is_byte_identical():
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(16, 40), dtype=np.int8)
    w[w == 0] = 1  # dense: the mask alone would add bytes
    model = _fc_model(w)
    dense, sp = blob.from_tflite(model), blob.from_tflite(model, sparse=True)
    assert sp.data == dense.data and sp.sparse_saved == 0
    assert "DECODE_SPARSE_INT8" not in sp.op_names


def test_a_pruned_filter_is_stored_encoded_and_decoded_right_before_its_op():
    rng = np.random.default_rng(4)
    w = _pruned(rng, 16 * 40, 0.8).reshape(16, 40)
    sp = blob.from_tflite(_fc_model(w), sparse=True)
    dense = blob.from_tflite(_fc_model(w))
    assert sp.op_names == ["DECODE_SPARSE_INT8", "FULLY_CONNECTED"]
    assert sp.sparse_saved == dense.size - sp.size > 0
    filt = next(t for t in sp.tensors if t.shape == (16, 40))
    enc = next(t for t in sp.tensors if t.name.endswith("/sparse"))
    assert filt.storage == blob.STORE_ARENA and enc.storage == blob.STORE_BLOB
    assert np.array_equal(sparse.decode(enc.data, w.size), w.reshape(-1))


def test_a_filter_read_by_two_ops_stays_dense():
    rng = np.random.default_rng(5)
    w = _pruned(rng, 32 * 32, 0.9).reshape(32, 32)
    b = ModelBuilder()
    x = b.tensor((1, 32), scale=0.1, zero_point=0)
    wt = b.tensor(w.shape, scale=0.01, zero_point=0, data=w)
    y = b.tensor((1, 32), scale=0.1, zero_point=0)
    z = b.tensor((1, 32), scale=0.1, zero_point=0)
    fc = options("FullyConnectedOptionsT", fusedActivationFunction=0)
    b.op("FULLY_CONNECTED", [x, wt, -1], [y], fc)
    b.op("FULLY_CONNECTED", [y, wt, -1], [z], fc)
    model = b.build([x], [z])
    assert blob.from_tflite(model, sparse=True).data == blob.from_tflite(model).data


@pytest.mark.parametrize("units, depth", [(1, 65), (3, 40), (8, 77), (16, 40)])
def test_a_sparse_build_is_never_larger_near_the_break_even(units, depth):
    rng = np.random.default_rng(units * depth)
    n = units * depth
    for nonzero in range(0, n + 1, max(1, n // 40)):
        w = np.zeros(n, np.int8)
        w[rng.permutation(n)[:nonzero]] = rng.choice([-3, 2, 7], nonzero)
        model = _fc_model(w.reshape(units, depth))
        dense, sp = blob.from_tflite(model), blob.from_tflite(model, sparse=True)
        assert sp.data == dense.data or sp.sparse_saved == dense.size - sp.size > 0, nonzero


def test_a_blob_the_encoding_does_not_shrink_is_the_dense_one(monkeypatch):
    w = np.ones((4, 20), np.int8)  # no zeros: encoded, it only grows
    monkeypatch.setattr(sparse, "pays", lambda n, nonzero: True)
    model = _fc_model(w)
    sp = blob.from_tflite(model, sparse=True)
    assert sp.data == blob.from_tflite(model).data and sp.sparse_saved == 0
