"""The IMU front-ends on the device (firmware/frontends/imu.c: raw window, per-axis statistics,
spectral band powers with CMSIS-DSP's RFFT) against the numpy ones (autotiny/frontends/imu.py) on
generated and WATCH windows; their cost figures; budgets counting them."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny.errors import AutotinyError
from autotiny.evaluate import quantize_input
from autotiny.frontends import device_tables, imu

# device (float32, CMSIS-DSP) vs numpy (float64), as bench/frontend_cost.py --imu-match measured on every
# WATCH test window: mean/std/min/max |Δ| ≤ 4.1e-7 (1 + |x|); log10 band powers |Δ| ≤ 7.2e-5; bound with margin.
STATS_TOLERANCE = 1e-5  # relative to 1 + |value|, in the signal's units (g, rad/s)
SPECTRAL_TOLERANCE = 1e-3  # log10 units (0.01 dB)
# The crossing rate counts pairs on two sides of the mean: a sample within float32 rounding of it (WATCH's
# readings repeat) may count on the other side: up to 2 of the window's pairs differed on WATCH (w256).
CROSSING_PAIRS = 2
CASES = {  # one firmware per front-end: a window and band count search_spaces/activity.yaml offers
    "imu_raw": (imu.WindowParams(window=64), imu.raw, 0.0),
    "imu_stats": (imu.WindowParams(window=128), imu.stats, STATS_TOLERANCE),
    "imu_spectral": (imu.SpectralParams(window=128, n_bands=16), imu.spectral, SPECTRAL_TOLERANCE),
}


def window(seed: int, n: int, axes: int = 6) -> np.ndarray:
    """A generated window: per axis a sine at its own frequency, level and offset, in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / 50.0
    x = (rng.uniform(-1, 1, axes) + rng.uniform(0.05, 2.0, axes) * np.sin(2 * np.pi * rng.uniform(0.2, 20, axes) * t)
         + rng.uniform(0.001, 0.1) * rng.standard_normal((n, axes)))
    return x.astype(np.float32)


def test_tables_follow_the_numpy_front_end():
    p = imu.SpectralParams(window=64, n_bands=5)  # 32 bins in 5 bands: array_split's 7,7,6,6,6
    assert device_tables.band_edges(p).tolist() == [1, 8, 15, 21, 27, 33]
    h = device_tables.imu_header("imu_spectral", p, 3)
    assert "#define FE_AXES 3u" in h and "arm_rfft_fast_init_64_f32" in h and "fe_band_start[6]" in h
    assert "fe_hann" not in device_tables.imu_header("imu_stats", p, 3)
    with pytest.raises(AutotinyError, match="window=100"):
        device_tables.imu_header("imu_spectral", imu.SpectralParams(window=100, n_bands=8), 6)


def _watch_window(n: int) -> np.ndarray:
    from autotiny.data.imu import watch

    rec = watch(val_pct=20, test_pct=20, seed=0)
    return rec.windows("test", n, n)[0][3]


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("kind", list(CASES))
def test_device_imu_front_end_matches_numpy(kind):
    from autotiny.config import compose
    from autotiny.firmware import stack_reservation
    from autotiny.frontends import device

    board = compose(["board=stm32l4r5"]).board
    p, numpy_fe, tol = CASES[kind]
    for x in (window(1, p.window), window(2, p.window), _watch_window(p.window)):
        ref = numpy_fe(x[None], p)[0]
        scale, zp = float(np.abs(ref).max()) / 100, -7
        run = device.run_input(board, kind, p, x, hint=6, scale=scale, zero_point=zp, want_float=True)
        assert run.float_features.shape == ref.shape == (*device.REGISTRY[kind].output_shape(p, 6),)
        d = np.abs(run.float_features - ref)
        if kind == "imu_stats":
            assert (d[4] <= CROSSING_PAIRS / (p.window - 1) + 1e-7).all()
            d = d[:4]
        assert (d <= tol * (1 + np.abs(ref[:len(d)]))).all()
        # the int8 the network reads: the host's rule on the device's own floats, and ≤ 1 step from numpy's
        assert (run.features == quantize_input(run.float_features, scale, zp)).all()
        assert np.abs(run.features.astype(int) - quantize_input(ref, scale, zp)).max() <= (0 if tol == 0 else 1)
    with pytest.raises(ValueError, match="float32"):
        device.run_input(board, kind, p, x.astype(np.float64), hint=6)
    cost = device.measure(board, p, frontend=kind, hint=6)
    assert cost.cycles > 0 and cost.audio_bytes == 4 * p.window * 6 and cost.frontend == kind
    assert cost.ram_bytes == cost.audio_bytes + cost.static_ram + stack_reservation(cost.peak_stack)
    if kind == "imu_spectral":  # one axis and its spectrum on the stack, the Hann window in flash
        assert cost.peak_stack >= 2 * 4 * p.window and cost.flash_bytes > 4 * p.window


@pytest.mark.needs_arm_gcc
def test_budgets_count_the_imu_front_end():
    """An activity candidate's measurement is IMU front-end + network, the axes read from the model's input."""
    from types import SimpleNamespace

    from autotiny.config import compose
    from autotiny.frontends import device
    from autotiny.measure.backend import measure
    from tests.tflite_builder import ModelBuilder, options

    def pool(shape):  # an int8 input of `shape` -> its average; the converter gives 1-D models [1, rows, axes, 1]
        b = ModelBuilder()
        x = b.tensor(shape, scale=0.1, zero_point=0)
        y = b.tensor((1, 1, 1, 1), scale=0.1, zero_point=0)
        b.op("AVERAGE_POOL_2D", [x], [y], options("Pool2DOptionsT", padding=1, strideH=1, strideW=1,
                                                  filterHeight=shape[1], filterWidth=shape[2]))
        return b.build([x], [y])

    model = pool((1, 5, 6, 1))
    cfg = compose(["board=stm32l4r5"])
    p = imu.WindowParams(window=128)
    net = measure(model, cfg)
    both = measure(model, cfg, spec=SimpleNamespace(frontend="imu_stats", frontend_params=p, sparsity=0.0))
    fe = device.cost(cfg.board, p, "imu_stats", 6)
    assert both.frontend["frontend"] == "imu_stats" and both.frontend_cycles.value == fe.cycles
    assert both.latency_ms.value == pytest.approx(net.latency_ms.value + fe.latency_ms)
    assert both.flash_bytes.value == net.flash_bytes.value + fe.flash_bytes
    added = fe.audio_bytes + fe.static_ram + max(0, fe.stack_reserved - net.ram["stack_reserved"])
    assert both.ram_bytes.value == net.ram_bytes.value + added
    with pytest.raises(AutotinyError, match="needs the model"):
        device.with_frontend(net, cfg.board, "imu_stats", p)
    with pytest.raises(AutotinyError, match="writes 5x3 features"):  # the axes come from the model
        device.with_frontend(net, cfg.board, "imu_stats", p, model=pool((1, 5, 3, 2)))
