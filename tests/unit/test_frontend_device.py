"""The KWS MFCC on the device (firmware/frontends/, CMSIS-DSP) against the same C code through the
cmsisdsp wheel and against the numpy MLPerf-style front-end; its cost figures."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny.errors import AutotinyError
from autotiny.frontends import cmsis_mfcc
from autotiny.evaluate import quantize_input
from autotiny.frontends.mfcc import MfccParams, mfcc, quantize

# numpy front-end (float64) vs CMSIS-DSP's arm_mfcc_f32 (float32, libm logf): max |diff| 3.4e-5 on 40
# Speech Commands clips (bench/frontend_cost.py --match 40), 1.9e-4 on every 12th of the 3,581; bound with margin.
NUMPY_TOLERANCE = 2e-3
SCALE, ZP = 0.5847, 83  # the MLPerf Tiny int8 KWS model's input quantisation


def clip(seed: int, n: int = 16000) -> np.ndarray:
    """A generated int16 clip: two chirps and noise at a random level (never the same twice per seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0, f1 = rng.uniform(100, 1500, 2)
    x = np.sin(2 * np.pi * (f0 + 900 * t) * t) + 0.5 * np.sin(2 * np.pi * (f1 + 300 * t) * t)
    x = rng.uniform(0.05, 0.6) * x / 1.5 + rng.uniform(0.001, 0.05) * rng.standard_normal(n)
    return np.clip(x * 32767, -32768, 32767).astype(np.int16)


def test_tables_come_from_the_params():
    p = MfccParams(window_ms=40, n_mels=32, n_mfcc=13)
    t = cmsis_mfcc.tables(p)
    assert t["fft_len"] == 1024 and t["dct"].size == 13 * 32 and t["filter_len"].size == 32
    assert np.count_nonzero(t["window"]) == p.window_samples - 1  # periodic Hann: w[0] = 0, zeros after the window
    h = cmsis_mfcc.header(p)
    assert "#define FE_FRAMES 49u" in h and "#define FE_N_MFCC 13u" in h and "arm_rfft_fast_init_1024_f32" in h
    # the device takes magnitudes only where the filters read: 20 Hz .. 4 kHz of 8 kHz, about a quarter of 1,024 bins
    lo, hi = cmsis_mfcc.bin_range(t)
    assert 1 <= lo <= 2 and 256 <= hi <= 260 and f"#define FE_BIN_HI {hi}u" in h
    with pytest.raises(AutotinyError, match="fft_size 640"):
        cmsis_mfcc.tables(MfccParams(window_ms=40, fft_size=640))


def test_cmsis_mfcc_close_to_the_numpy_front_end():
    p = MfccParams()
    x = np.stack([clip(s) for s in range(3)]).astype(np.float32) / 32768
    a, b = cmsis_mfcc.mfcc(x, p), mfcc(x, p)
    assert a.shape == b.shape == (3, 49, 10)
    assert np.abs(a - b).max() < NUMPY_TOLERANCE
    assert np.abs(quantize(a, SCALE, ZP).astype(int) - quantize(b, SCALE, ZP)).max() <= 1


def test_map_sizes_split_by_object():
    from autotiny.frontends.device import map_sizes

    text = ("Linker script and memory map\n\n.text           0x08000000      0x300\n"
            " .text.main    0x08000000       0x40 /b/fe-fe_main.o\n"
            " .text.arm_mfcc_f32\n                0x08000040      0x1a0 /b/dsp-arm_mfcc_f32.o\n"
            " *fill*         0x080001e0        0x4 \n"
            ".bss            0x20004000       0x10\n"
            " .bss.x         0x20004000       0x10 /usr/lib/libc_nano.a(lib_a-impure.o)\n")
    assert map_sizes(text) == {(".text", "/b/fe-fe_main.o"): 0x40, (".text", "/b/dsp-arm_mfcc_f32.o"): 0x1a0,
                               (".bss", "/usr/lib/libc_nano.a(lib_a-impure.o)"): 0x10}


def _check_device(board, p, audio_int16):
    from autotiny.frontends import device

    run = device.run_clip(board, p, audio_int16, scale=SCALE, zero_point=ZP, want_float=True)
    ref = cmsis_mfcc.mfcc(audio_int16.astype(np.float32) / 32768, p)[0]
    assert run.float_features.shape == ref.shape
    assert np.abs(run.float_features - ref).max() < cmsis_mfcc.TOLERANCE
    # the device's int8 is the host's rule (quantize_input) on its own floats (float32 division: 1 step at most)
    q = quantize_input(run.float_features, SCALE, ZP).astype(int)
    assert np.abs(run.features.astype(int) - q).max() <= 1 and (run.features == q).mean() > 0.99
    assert np.abs(run.features.astype(int) - quantize_input(ref, SCALE, ZP)).max() <= 1
    assert np.abs(run.float_features - mfcc(audio_int16.astype(np.float32) / 32768, p)[0]).max() < NUMPY_TOLERANCE
    return run


@pytest.mark.needs_arm_gcc
def test_device_front_end_matches_and_is_measured():
    from autotiny.config import compose
    from autotiny.firmware import stack_reservation
    from autotiny.frontends import device

    board = compose(["board=stm32l4r5"]).board
    small = MfccParams()
    for seed in (1, 2):
        _check_device(board, small, clip(seed))
    # silence: log(1e-6) in every band, c0 saturates, the others are float32 noise around 0 — on the
    # quantisation edge of round(x / scale) + zp, which the device must take as the host's float32 does
    silent = device.run_clip(board, small, np.zeros(16000, np.int16), scale=SCALE, zero_point=ZP, want_float=True)
    assert (silent.features[:, 0] == -128).all()
    assert (silent.features == quantize_input(silent.float_features, SCALE, ZP)).all()
    _check_device(board, MfccParams(fmax_hz=8000.0), clip(5))  # filters up to Nyquist: every magnitude read
    half = clip(4, 8000)  # half a second: the rest is padded with zeros, as the loader does
    run = _check_device(board, small, half)
    assert (run.features[30:] == quantize_input(run.float_features[30:], SCALE, ZP)).all()

    cost = device.measure(board, small)
    assert cost.cycles > 0 and cost.latency_ms == pytest.approx(cost.cycles / board.clock_hz * 1e3)
    assert cost.energy_uj == pytest.approx(cost.latency_ms * board.active_power_mw)
    assert cost.ram_bytes == cost.audio_bytes + cost.static_ram + stack_reservation(cost.peak_stack)
    # the stack holds the frame (the magnitudes after the FFT), the FFT output and the mel energies
    assert cost.peak_stack >= 2 * 512 * 4 + small.n_mels * 4
    tables = sum(v.nbytes for k, v in cmsis_mfcc.tables(small).items() if k != "fft_len")
    assert cost.flash_bytes > tables

    # a 40 ms window needs a 1,024-point FFT: more work, more stack, bigger twiddle tables
    big = MfccParams(window_ms=40, n_mels=32, n_mfcc=13)
    _check_device(board, big, clip(3))
    big_cost = device.measure(board, big)
    assert big_cost.cycles > cost.cycles and big_cost.peak_stack > cost.peak_stack
    assert big_cost.flash_bytes > cost.flash_bytes


@pytest.mark.needs_arm_gcc
def test_device_front_end_on_real_clips(data_root):
    from autotiny.config import compose
    from autotiny.data.speech_commands import read_wav

    board = compose(["board=stm32f746"]).board
    wavs = sorted((data_root / "speech_commands_v0.02").glob("[a-z]*/*.wav"))[::400][:4]
    assert wavs
    for w in wavs:
        audio = np.round(read_wav(w) * 32768).astype(np.int16)
        _check_device(board, MfccParams(), audio)


@pytest.mark.needs_arm_gcc
def test_budgets_and_report_count_the_front_end():
    """A candidate whose front-end runs on the device: its figures are front-end + network, the budget
    check judges the sum, and the report splits them."""
    from types import SimpleNamespace

    from autotiny import report
    from autotiny.config import compose
    from autotiny.frontends import device
    from autotiny.measure.backend import check_budget, measure
    from tests.tflite_builder import pad_pool_model

    cfg = compose(["board=stm32l4r5"])
    model = pad_pool_model(8)
    net = measure(model, cfg)
    both = measure(model, cfg, spec=SimpleNamespace(frontend="mfcc", frontend_params=MfccParams(), sparsity=0.0))
    fe = device.cost(cfg.board, MfccParams())
    assert net.frontend_latency_ms is None and both.frontend_cycles.value == fe.cycles
    assert both.latency_ms.value == pytest.approx(net.latency_ms.value + fe.latency_ms)
    assert both.energy_uj.value == pytest.approx(net.energy_uj.value + fe.energy_uj)
    assert both.flash_bytes.value == net.flash_bytes.value + fe.flash_bytes
    # one stack: the front-end runs first, so only its reservation beyond the network's is added
    added = fe.audio_bytes + fe.static_ram + max(0, fe.stack_reserved - net.ram["stack_reserved"])
    assert both.ram_bytes.value == net.ram_bytes.value + added == net.ram_bytes.value + both.frontend_ram_bytes.value
    assert both.cycles == net.cycles and both.layers == net.layers  # the network's own
    host_only = measure(model, cfg, spec=SimpleNamespace(frontend="host_only", frontend_params=None, sparsity=0.0))
    assert host_only.figures() == net.figures() and host_only.frontend_latency_ms is None

    between = (net.latency_ms.value + both.latency_ms.value) / 2
    budget = compose(["board=stm32l4r5", f"budget.latency_ms={between}"]).budget
    assert check_budget(net, budget, cfg.board).feasible
    over = check_budget(both, budget, cfg.board)
    assert not over.feasible and over.violations["latency_ms"] > 0 and "latency" in over.reason

    figs = {k: getattr(both, k) for k in ("latency_ms", "energy_uj", "ram_bytes", "flash_bytes",
                                          "frontend_latency_ms", "frontend_energy_uj", "frontend_ram_bytes",
                                          "frontend_flash_bytes")}
    html = report._frontend_split(figs)
    assert f"{fe.flash_bytes:,}" in html and f"{net.flash_bytes.value:,.6g}" in html
    assert "not recorded" in report._frontend_split({k: v for k, v in figs.items() if "frontend" not in k})
