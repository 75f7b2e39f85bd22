"""task=fault and task=anomaly end to end on a small slice of the real CWRU bearing recordings
(needs_data: skipped without AUTOTINY_DATA/cwru_bearing), and their one-line input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotiny.cli import main

FAULT_SPACE = """
frontend:
  families:
    fft_bands: {window: 1024, n_bands: 32}
model:
  type: mlp
  params: {n_layers: 1, units: 32}
training: {epochs: 30, learning_rate: 0.005, batch_size: 16}
"""

ANOMALY_SPACE = """
frontend:
  type: fft_bands
  params: {window: 1024, n_bands: 32}
model:
  type: fc_autoencoder
  params: {n_layers: 1, units: 32, bottleneck: 8}
training: {epochs: 30, learning_rate: 0.005, batch_size: 16}
"""


def _overrides(tmp_path: Path, task: str, space: str, *more: str) -> list[str]:
    path = tmp_path / f"{task}.yaml"
    path.write_text(space)
    return [f"task={task}", f"search.space={path}", f"data.cache_dir={tmp_path / 'cache'}",
            f"search.studies_dir={tmp_path / 'studies'}", f"search.output_dir={tmp_path / 'out'}",
            "tracking.enabled=false", f"search.study_name={task}", "search.n_trials=1", "data.max_per_class=40",
            *more]


@pytest.fixture
def cwru(data_root):
    if not (data_root / "cwru_bearing").is_dir():
        pytest.skip("AUTOTINY_DATA has no cwru_bearing/")
    return data_root / "cwru_bearing"


def test_fault_search_end_to_end(tmp_path, cwru, capsys):
    assert main(["search", *_overrides(tmp_path, "fault", FAULT_SPACE)]) == 0
    record = json.loads((tmp_path / "out" / "best" / "trial.json").read_text())
    assert record["state"] == "complete" and record["study"]["task"] == "fault"
    assert record["candidate"]["frontend"] == {"type": "fft_bands", "params": {"window": 1024, "n_bands": 32}}
    # the test split holds only 21-mil faults, a size training never saw; four classes: chance is 0.25
    assert record["metrics"]["test_accuracy"] > 0.45
    assert "test_recall.outer_race" in record["metrics"] and "val_auc" not in record["metrics"]
    assert record["figures"]["flash_bytes"]["source"] == "emulated"


def test_anomaly_search_end_to_end(tmp_path, cwru, capsys):
    assert main(["search", *_overrides(tmp_path, "anomaly", ANOMALY_SPACE)]) == 0
    assert "auc val" in capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "best" / "trial.json").read_text())
    assert record["state"] == "complete" and record["candidate"]["model"]["family"] == "fc_autoencoder"
    m = record["metrics"]
    assert m["test_auc"] > 0.8 and m["val_auc_field"] == m["val_auc"]  # no noise model: field = clean
    # the alarm threshold was tuned under task.costs (a missed fault costs 10): decisions on both classes
    assert set(record["decision"]["weights"]) == {"healthy", "fault"}
    assert 0 <= m["test_cost_per_1000"] <= 10_000 and "test_recall.fault" in m


@pytest.mark.parametrize("task,space,more,message", [
    ("fault", FAULT_SPACE.replace("n_bands: 32", "n_bands: 32, hop: 3"), (),
     "frontend.families.fft_bands.hop: unknown parameter of fft_bands; valid: window, n_bands"),
    ("fault", FAULT_SPACE, ("task.dataset=paderborn",), "task.dataset=paderborn: the fault task reads cwru"),
    ("fault", FAULT_SPACE, ("task.classes=[ok,a,b,c]",), "task.classes=['ok', 'a', 'b', 'c']: the fault task's labels"),
])
def test_vibration_bad_input_is_one_line(tmp_path, capsys, task, space, more, message):
    assert main(["search", *_overrides(tmp_path, task, space, *more)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_missing_data_folder_is_one_line(tmp_path, capsys):
    assert main(["search", *_overrides(tmp_path, "fault", FAULT_SPACE, f"data.root={tmp_path / 'nowhere'}")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CWRU bearing data needs 1797_RPM/1797_Normal.npz" in err[0], err
