"""task=vision end to end, the way a user runs it: the 8×8 digits bundled with scikit-learn
(always), MNIST from the shared data (when AUTOTINY_DATA has it), and one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autotiny.cli import main

SPACE = """
frontend:
  type: image
  params: {size: 12}
model:
  families:
    cnn: {n_layers: 2, channels: {choices: [8, 12]}}
    ds_cnn: {n_blocks: 1, channels: 16, first_kernel: [3, 3], first_stride: [1, 1]}
training: {epochs: 15, learning_rate: 0.01, batch_size: 16}  # BatchNorm statistics need ~1,000 steps
"""


def _overrides(tmp_path: Path, *more: str) -> list[str]:
    space = tmp_path / "vision.yaml"
    space.write_text(SPACE)
    return ["task=vision", f"search.space={space}", f"data.cache_dir={tmp_path / 'cache'}",
            f"search.studies_dir={tmp_path / 'studies'}", f"search.output_dir={tmp_path / 'out'}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
            f"tracking.artifact_dir={tmp_path / 'mlruns' / 'artifacts'}", "search.study_name=v", *more]


def test_digits_search_end_to_end(tmp_path, capsys):
    assert main(["search", *_overrides(tmp_path, "task.dataset=digits", "search.n_trials=2")]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out
    record = json.loads((tmp_path / "out" / "best" / "trial.json").read_text())
    assert record["state"] == "complete" and record["study"]["task"] == "vision"
    assert record["candidate"]["frontend"] == {"type": "image", "params": {"size": 12}}
    assert record["candidate"]["model"]["family"] in ("cnn", "ds_cnn")
    assert record["metrics"]["test_accuracy"] > 0.6  # ten classes: chance is 0.1
    assert not any(k.endswith("db") for k in record["metrics"])  # no noise model for images
    assert record["figures"]["flash_bytes"]["source"] == "emulated"
    assert record["figures"]["frontend_latency_ms"]["value"] > 0  # the 8×8 -> 12×12 resize on the device
    assert (tmp_path / "out" / "best" / "model.tflite").read_bytes()[4:8] == b"TFL3"


@pytest.mark.needs_data
def test_mnist_from_the_shared_data(tmp_path, capsys):
    if not (Path(os.environ.get("AUTOTINY_DATA", "")) / "mnist").is_dir():
        pytest.skip("AUTOTINY_DATA has no mnist/ folder")
    assert main(["search", *_overrides(tmp_path, "data.max_per_class=60", "search.n_trials=1")]) == 0
    record = json.loads((tmp_path / "out" / "best" / "trial.json").read_text())
    assert record["metrics"]["test_accuracy"] > 0.5


def test_vision_bad_input_is_one_line(tmp_path, capsys):
    assert main(["search", *_overrides(tmp_path, "task.dataset=cifar")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task.dataset=cifar: the vision task reads mnist, digits" in err[0]
    assert main(["search", *_overrides(tmp_path, f"data.root={tmp_path}")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MNIST needs t10k-images-idx3-ubyte.gz" in err[0]
