"""The vibration front-ends on the device (firmware/frontends/vibration.c: FFT band energies, Welch log
spectrum with CMSIS-DSP's RFFT, time statistics) against the numpy ones (autotiny/frontends/vibration.py)
on generated windows, and on CWRU windows with AUTOTINY_DATA; their cost; budgets counting them."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny.errors import AutotinyError
from autotiny.evaluate import quantize_input
from autotiny.frontends import device_tables
from autotiny.frontends import vibration as vib

# device (float32, CMSIS-DSP) vs numpy (float64), relative to 1 + |value| (log10 units but skewness):
# ≤ 6.7e-7 on this test's generated windows, ≤ 1.6e-5 on 50 CWRU test windows per setting
# (bench/frontend_cost.py --vib-match 50; 1.8e-4 absolute on a log10 spectrum); bound with margin.
TOLERANCE = 1e-4
CASES = {  # one firmware per front-end, settings search_spaces/fault.yaml offers
    "fft_bands": (vib.BandParams(window=512, n_bands=16), vib.fft_bands),
    "log_spectrum": (vib.SpectrumParams(window=512, fft_size=64), vib.log_spectrum),
    "time_stats": (vib.StatsParams(window=512, n_frames=4), vib.time_stats),
}


def signal(seed: int, n: int) -> np.ndarray:
    """A generated accelerometer window: an offset, a shaft tone, a resonance excited by periodic impacts, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 12000
    impacts = np.sin(2 * np.pi * rng.uniform(80, 200) * t) > rng.uniform(0.5, 0.95)
    x = (rng.uniform(-0.5, 0.5) + rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * rng.uniform(10, 60) * t)
         + rng.uniform(0.1, 2) * impacts * np.sin(2 * np.pi * rng.uniform(1000, 5000) * t)
         + rng.uniform(0.005, 0.1) * rng.standard_normal(n))
    return x.astype(np.float32)


def test_tables_follow_the_numpy_front_end():
    h = device_tables.vibration_header("fft_bands", vib.BandParams(window=512, n_bands=16))
    assert "#define FE_N_BANDS 16u" in h and "arm_rfft_fast_init_512_f32" in h and "fe_band_start[17]" in h
    h = device_tables.vibration_header("log_spectrum", vib.SpectrumParams(window=512, fft_size=64))
    assert "#define FE_N_SEGMENTS 15u" in h  # frames at 0, 32, ..., 448
    assert "fe_hann" not in device_tables.vibration_header("time_stats", vib.StatsParams(window=512))
    with pytest.raises(AutotinyError, match="FFT of 16"):
        device_tables.vibration_header("log_spectrum", vib.SpectrumParams(window=512, fft_size=16))


def _check(board, kind, x):
    from autotiny.frontends import device

    p, numpy_fe = CASES[kind]
    ref = numpy_fe(x[None], p)[0][:, None]
    scale = float(np.abs(ref).max()) / 120
    run = device.run_input(board, kind, p, x, scale=scale, zero_point=0, want_float=True)
    assert run.float_features.shape == ref.shape == device.REGISTRY[kind].output_shape(p, None)
    assert (np.abs(run.float_features - ref) <= TOLERANCE * (1 + np.abs(ref))).all()
    assert (run.features == quantize_input(run.float_features, scale, 0)).all()
    assert np.abs(run.features.astype(int) - quantize_input(ref, scale, 0)).max() <= 1


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("kind", list(CASES))
def test_device_vibration_front_end_matches_numpy(kind):
    from autotiny.config import compose
    from autotiny.firmware import stack_reservation
    from autotiny.frontends import device

    board = compose(["board=stm32l4r5"]).board
    p, _ = CASES[kind]
    for seed in (1, 2, 3):
        _check(board, kind, signal(seed, p.window))
    cost = device.measure(board, p, frontend=kind)
    assert cost.cycles > 0 and cost.audio_bytes == 4 * p.window and kind in device.DEVICE_FRONTENDS
    assert cost.ram_bytes == (cost.audio_bytes + cost.static_ram + stack_reservation(cost.peak_stack)
                              + cost.scratch_bytes)
    if kind == "fft_bands":  # the windowed frame, its spectrum and the power in scratch, the Hann window in flash
        assert cost.scratch_bytes == 4 * (2.5 * p.window + 1) and cost.flash_bytes > 4 * p.window


@pytest.mark.needs_arm_gcc
def test_device_vibration_front_ends_on_cwru(data_root):
    from autotiny.config import compose
    from autotiny.data.cwru import CwruBearing

    board = compose(["board=stm32f746"]).board
    x, y = CwruBearing(data_root / "cwru_bearing").windows("test", 512)
    assert len(x)
    for i in np.linspace(0, len(x) - 1, 2).astype(int):
        for kind in CASES:
            _check(board, kind, np.asarray(x[i], np.float32).reshape(-1))
