"""Per-layer figures a trial records: cycles from the emulated run, memory read off the model blob."""

from autotiny.measure import Figure, Measurement
from autotiny.trial import LAYER_COLUMNS, TrialRecord, _write_layers, layer_figures
from tests.unit.test_blob import small_model


def _measurement(layers) -> Measurement:
    f = Figure(1.0, "B", "emulated")
    return Measurement(flash_bytes=f, ram_bytes=f, macs=Figure(1, "MAC", "file"),
                       latency_ms=Figure(1, "ms", "emulated"), energy_uj=Figure(1, "uJ", "emulated"), layers=layers)


def test_each_op_gets_its_cycles_and_the_memory_it_touches(tmp_path):
    # conv 6x6x2 -> 6x6x3 (3x3 weights), reshape (shares its input's bytes), softmax 108 -> 108
    m = _measurement(((0, "CONV_2D", 1000, 800), (1, "RESHAPE", 10, 8), (2, "SOFTMAX", 500, 400)))
    rows = layer_figures(m, clock_hz=1_000_000, tflite=small_model())
    assert [r["op"] for r in rows] == ["CONV_2D", "RESHAPE", "SOFTMAX"]
    assert [r["latency_ms"] for r in rows] == [1.0, 0.01, 0.5]
    conv, reshape, softmax = rows
    assert conv["arena_bytes"] == 72 + 108  # input and output, both live during the op
    # weights 54 + bias 12 + per-channel requantisation multipliers and shifts 12 + 12
    assert conv["const_bytes"] == 54 + 12 + 12 + 12
    assert reshape["arena_bytes"] == 108 and reshape["const_bytes"] == 0  # an alias: one buffer, counted once
    assert softmax["arena_bytes"] == 216
    _write_layers(rows, tmp_path / "layers.csv")
    lines = (tmp_path / "layers.csv").read_text().splitlines()
    assert lines[0] == ",".join(LAYER_COLUMNS) and lines[1] == "0,CONV_2D,1000,800,1.0000,180,90"
    # the record carries them (and an old record without them still loads)
    rec = TrialRecord.from_dict(TrialRecord(number=1, layers=rows).to_dict())
    assert rec.layers == rows
    assert TrialRecord.from_dict({"number": 2}).layers == []


def test_no_model_no_memory_and_no_emulated_layers_no_rows():
    rows = layer_figures(_measurement(((0, "CONV_2D", 1000, 800),)), clock_hz=1_000_000)
    assert rows[0]["cycles"] == 1000 and rows[0]["arena_bytes"] is None and rows[0]["const_bytes"] is None
    assert layer_figures(_measurement(()), clock_hz=1_000_000) == []
