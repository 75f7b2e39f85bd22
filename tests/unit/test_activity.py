"""IMU activity pieces: the subject split, windows inside recordings, the three IMU front-ends on
signals with known answers, and the cnn1d family on the int8 runtime."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny.data.folder import group_split
from autotiny.data.imu import Recordings, Windows, watch
from autotiny.errors import DataError
from autotiny.frontends import get_frontend
from autotiny.frontends.imu import STATS, SpectralParams, WindowParams, spectral, stats

RATE = 50


def test_watch_is_split_by_subject():
    ds = watch(val_pct=10, test_pct=10, seed=0)
    sides = [ds.groups(s) for s in ("train", "val", "test")]
    assert [len(s) for s in sides] == [8, 1, 1]  # 10 subjects
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert ds.channels == 6 and len(ds.files()) == 1
    other = watch(val_pct=10, test_pct=10, seed=1)
    assert [other.groups(s) for s in ("train", "val", "test")] != sides  # the seed picks the subjects
    x, y = ds.windows("test", 128, 64)
    assert x.shape[1:] == (128, 6) and len(x) == len(y) and set(y) == set(range(7))  # each subject did all 7


@pytest.mark.parametrize("n, val, test, expect", [(10, 10, 10, (8, 1, 1)), (20, 25, 10, (13, 5, 2)),
                                                  (3, 1, 1, (1, 1, 1))])
def test_group_split_takes_whole_groups(n, val, test, expect):
    groups = [f"g{i % n}" for i in range(5 * n)]  # five files per group
    split = group_split(groups, val, test, seed=0)
    counts = tuple(sum(v == s for v in split.values()) for s in ("train", "val", "test"))
    assert counts == expect and set(split) == set(groups)
    assert split == group_split(list(reversed(groups)), val, test, seed=0)  # order of files does not matter


def test_group_split_refuses_too_few_groups():
    with pytest.raises(DataError, match="2 subjects cannot make train, val and test splits"):
        group_split(["a", "b", "a"], 10, 10, 0, what="subjects")


def _recordings(lengths: list[int], channels: int = 2, max_per_class=None) -> Recordings:
    # value = recording index * 1000 + sample index: a window shows where it was cut from
    signals = [np.repeat((i * 1000 + np.arange(n))[:, None], channels, axis=1) for i, n in enumerate(lengths)]
    groups = [f"s{i}" for i in range(len(lengths))]
    return Recordings("t", signals, [i % 2 for i in range(len(lengths))], groups, None, [], 0.1, 0.1, 0,
                      max_per_class)


def test_windows_stay_inside_one_recording():
    lengths = [100, 37, 64, 250, 80]
    rec = _recordings(lengths)
    for split in ("train", "val", "test"):
        idx = [int(g[1:]) for g in rec.groups(split)]
        x, y = Windows(rec, 32, 16).load(split)
        assert len(x) == sum((lengths[i] - 32) // 16 + 1 for i in idx)
        source = x[:, :, 0] // 1000
        assert (source == source[:, :1]).all()  # never across two recordings
        assert (np.diff(x[:, :, 0], axis=1) == 1).all()  # contiguous samples
        assert (y == source[:, 0] % 2).all()  # the recording's label


def test_max_per_class_takes_evenly_spaced_windows():
    rec = _recordings([400] * 10, max_per_class=3)
    x, y = rec.windows("train", 16, 8)
    assert np.bincount(y).tolist() == [3, 3]


def _sines(freqs_hz: list[float], n: int, amplitude: float = 2.0, offset: float = 0.5) -> np.ndarray:
    t = np.arange(n) / RATE
    return np.stack([offset + amplitude * np.sin(2 * np.pi * f * t) for f in freqs_hz], axis=1)[None]


def test_stats_of_sines():
    # whole periods: mean = offset, std = A/√2, min/max = offset ∓ A, crossings = 2 per period
    x = _sines([2.5, 1.25], 200)  # 20 and 40 samples per period: the peaks are sampled
    f = stats(x, WindowParams(window=200))[0]
    assert f.shape == (len(STATS), 2)
    np.testing.assert_allclose(f[0], 0.5, atol=1e-5)
    np.testing.assert_allclose(f[1], 2 / np.sqrt(2), rtol=1e-3)
    np.testing.assert_allclose(f[2], 0.5 - 2, atol=1e-6)
    np.testing.assert_allclose(f[3], 0.5 + 2, atol=1e-6)
    np.testing.assert_allclose(f[4], [2 * 2.5 / RATE, 2 * 1.25 / RATE], atol=1 / 199)


def test_spectral_band_holds_the_tone():
    p = SpectralParams(window=128, n_bands=8)  # 64 bins above DC, 8 per band, 25 Hz / 8 per band
    x = _sines([3.0, 10.0, 20.0], 128)
    f = spectral(x, p)[0]
    assert f.shape == (8, 3)
    assert f.argmax(axis=0).tolist() == [int(3.0 / 3.125), int(10.0 / 3.125), int(20.0 / 3.125)]
    flat = spectral(np.full((1, 128, 1), 3.0), p)[0]  # a constant axis: no power anywhere
    np.testing.assert_allclose(flat, -9, atol=1e-6)


@pytest.mark.parametrize("name, rows", [("imu_raw", 64), ("imu_stats", 5), ("imu_spectral", 16)])
def test_imu_frontend_shapes(name, rows):
    fe = get_frontend(name)
    p = fe.params_type(window=64, overlap=0.75, **({"n_bands": 16} if name == "imu_spectral" else {}))
    x = np.random.default_rng(0).normal(size=(3, 64, 6))
    assert fe.output_shape(p) == (rows,) and fe.compute(x, p).shape == (3, rows, 6) and p.hop == 16
    if name == "imu_raw":
        np.testing.assert_array_equal(fe.compute(x, p), x.astype(np.float32))


@pytest.mark.parametrize("bad, message", [(dict(window=4), "window=4"), (dict(overlap=0.95), "overlap=0.95"),
                                          (dict(n_bands=40, window=64), "n_bands=40")])
def test_imu_params_are_checked(bad, message):
    with pytest.raises(ValueError, match=message):
        SpectralParams(**bad)


@pytest.mark.parametrize("shape", [(64, 6), (5, 6)])  # a raw window; per-axis statistics (fewer rows than the kernel)
def test_cnn1d_runs_bit_exact_on_the_int8_runtime(shape):
    from tflite_micro.python.tflite_micro import runtime as tflm

    from autotiny import blob, runtime
    from autotiny.compress import to_int8_tflite
    from autotiny.models import FAMILIES
    from autotiny.models.cnn1d import Cnn1dParams

    model = FAMILIES["cnn1d"].build(shape, 7, Cnn1dParams(n_layers=3, channels=8, kernel=5), seed=0)
    tfl = to_int8_tflite(model, np.random.default_rng(0).normal(size=(16, *shape)).astype(np.float32))
    b = blob.from_tflite(tfl)
    assert {"CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} <= set(b.op_names)
    ours, ref = runtime.HostModel(b), tflm.Interpreter.from_bytes(tfl, arena_size=1 << 20)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x = rng.integers(-128, 128, size=b.input_shape, dtype=np.int8)
        ref.set_input(x, 0)
        ref.invoke()
        assert np.array_equal(ours.run(x).view(np.uint8), ref.get_output(0).view(np.uint8))
