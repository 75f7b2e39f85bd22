"""Measurement of int8 .tflite files: sizes from the file, RAM from TFLM, estimates labelled."""

import numpy as np
import pytest

from autotiny.config import compose
from autotiny.measure.backend import check_budget
from autotiny.measure.tflite import measure, tflm_arena_bytes
from autotiny.pipeline import write_c_header
from autotiny.tflite_model import read_tflite
from autotiny.errors import ModelError


@pytest.fixture(scope="module")
def small_model():
    from autotiny.compress import to_int8_tflite
    from autotiny.models.ds_cnn import DsCnnParams, build

    p = DsCnnParams(n_blocks=1, channels=8, first_kernel=(3, 3), first_stride=(2, 2))
    model = build((20, 10), 4, p)
    tflite = to_int8_tflite(model, np.random.default_rng(0).normal(size=(16, 20, 10)).astype(np.float32))
    return model, tflite


def test_macs_match_layer_arithmetic(small_model):
    _, tflite = small_model
    m = read_tflite(tflite)
    # 20x10 input, SAME padding, stride 2 → 10x5; channels 8
    conv = 10 * 5 * 8 * 3 * 3 * 1
    dw = 10 * 5 * 8 * 3 * 3
    pw = 10 * 5 * 8 * 8
    fc = 8 * 4
    assert m.macs() == conv + dw + pw + fc
    assert m.tensor(m.inputs[0]).dtype == "INT8" and m.tensor(m.outputs[0]).dtype == "INT8"


def test_measurement_figures_carry_their_source(small_model):
    _, tflite = small_model
    board = compose(["board=nrf52840"]).board
    m = measure(tflite, board)
    assert m.flash_bytes.value == len(tflite) and m.flash_bytes.source == "file"
    assert m.ram_bytes.source == "tflm" and m.ram_bytes.value > 0
    assert m.latency_ms.source == "estimated"
    expected_ms = m.macs.value * board.cycles_per_mac / board.clock_hz * 1e3
    assert m.latency_ms.value == pytest.approx(expected_ms)
    assert m.energy_uj.value == pytest.approx(expected_ms * board.active_power_mw)


def test_estimated_energy_marks_assumed_power(small_model):
    """A board whose active power is marked an assumption (stm32f746) gives an energy figure
    that says so, in its text and in measurement.json; a cited one (nrf52840) does not."""
    _, tflite = small_model
    f7 = compose(["board=stm32f746"]).board
    m = measure(tflite, f7)
    assert m.energy_uj.assumption == f7.assumption("active_power") and "330 mW" in m.energy_uj.assumption
    assert "assumption" in str(m.energy_uj) and m.to_dict()["energy_uj"]["assumption"] == m.energy_uj.assumption
    cited = measure(tflite, compose(["board=nrf52840"]).board)
    assert cited.energy_uj.assumption is None and "assumption" not in str(cited.energy_uj)
    # the mark follows the source text, so an override that cites a datasheet clears it
    sourced = compose(["board=stm32f746", "board.active_power_source='DS10916 table 27: 100 mA x 3.3 V'"]).board
    assert sourced.assumption("active_power") is None


def test_arena_is_the_smallest_that_works(small_model):
    """The parsed arena figure agrees with a binary search for the smallest arena TFLM accepts."""
    from tflite_micro import runtime

    _, tflite = small_model
    reported = tflm_arena_bytes(tflite)

    def works(size):
        try:
            interp = runtime.Interpreter.from_bytes(tflite, arena_size=size)
            interp.set_input(np.zeros(interp.get_input_details(0)["shape"], np.int8), 0)
            interp.invoke()
            return True
        except RuntimeError:
            return False

    lo, hi = 256, reported * 2
    while hi - lo > 16:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    assert reported - 16 <= hi <= reported + 16


def test_budget_check_names_the_figure(small_model):
    _, tflite = small_model
    cfg = compose(["budget.ram_kb=1", "budget.latency_ms=0.001"])
    m = measure(tflite, cfg.board)
    check = check_budget(m, cfg.budget, cfg.board)
    assert not check.feasible
    assert "ram" in check.reason and "latency" in check.reason and "flash" not in check.reason
    assert check.violations["ram_bytes"] > 0 and check.violations["flash_bytes"] < 0
    ok = check_budget(m, compose([]).budget, cfg.board)
    assert ok.feasible and ok.reason == ""


def test_bad_model_files(tmp_path):
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        read_tflite(b"\x00" * 64)
    with pytest.raises(ModelError, match="cannot read model"):
        read_tflite(tmp_path / "missing.tflite")


def test_c_header_round_trips(tmp_path, small_model):
    _, tflite = small_model
    path = tmp_path / "model.h"
    write_c_header(tflite, path)
    text = path.read_text()
    body = text.split("{", 1)[1].rsplit("}", 1)[0]
    data = bytes(int(x, 16) for x in body.replace("\n", " ").split(",") if x.strip())
    assert data == tflite and f"_len = {len(tflite)}u" in text and "aligned(16)" in text


def test_reference_kws_model_macs(data_root):
    m = read_tflite(data_root / "mlperf_tiny" / "kws_ref_model_int8.tflite")
    assert round(m.macs() / 1e6, 2) == 2.66  # NOTES §3: KWS DS-CNN 2.66 M MACs
