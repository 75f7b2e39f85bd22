"""task=activity on WATCH (inside the seglearn wheel: always runs) and task=object_present on a
folder of images this test draws, end to end the way a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autotiny.cli import main

ACTIVITY_SPACE = """
frontend:
  families:
    imu_stats: {window: 64, overlap: 0.5}
    imu_spectral: {window: 64, overlap: 0.5, n_bands: 8}
model:
  type: cnn1d
  params: {n_layers: 2, channels: 16, kernel: 3}
training: {epochs: 15, learning_rate: 0.01, batch_size: 32}
"""

OBJECT_SPACE = """
frontend:
  type: image
  params: {size: 12}
model:
  type: cnn
  params: {n_layers: 2, channels: 8}
training: {epochs: 30, learning_rate: 0.01, batch_size: 16}  # BatchNorm statistics need several hundred steps
"""


def _overrides(tmp_path: Path, space: str, *more: str) -> list[str]:
    path = tmp_path / "space.yaml"
    path.write_text(space)
    return [f"search.space={path}", f"data.cache_dir={tmp_path / 'cache'}",
            f"search.studies_dir={tmp_path / 'studies'}", f"search.output_dir={tmp_path / 'out'}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
            f"tracking.artifact_dir={tmp_path / 'mlruns' / 'artifacts'}", "search.study_name=t", *more]


def _best(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "best" / "trial.json").read_text())


def test_activity_search_on_watch(tmp_path, capsys):
    args = _overrides(tmp_path, ACTIVITY_SPACE, "task=activity", "data.max_per_class=150", "search.n_trials=2")
    assert main(["search", *args]) == 0
    assert "Pareto front" in capsys.readouterr().out
    record = _best(tmp_path)
    assert record["state"] == "complete" and record["study"]["task"] == "activity"
    assert record["candidate"]["frontend"]["type"] in ("imu_stats", "imu_spectral")
    assert record["candidate"]["model"]["family"] == "cnn1d"
    # seven exercises, chance 1/7; the test split is a subject the model never saw
    assert record["metrics"]["test_accuracy"] > 0.3
    assert record["figures"]["flash_bytes"]["source"] == "emulated"


def draw_objects(root: Path, n: int = 200, size: int = 16, seed: int = 0) -> None:
    """absent/: noise; present/: noise with a bright disc somewhere.  One photographer per five
    pictures (metadata.csv), so pictures of one session never sit on both sides of a split."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = ["file,group"]
    yy, xx = np.mgrid[:size, :size]
    for cls in ("absent", "present"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            img = rng.normal(90, 30, (size, size))
            if cls == "present":
                cy, cx, r = rng.uniform(4, size - 4, 2).tolist() + [rng.uniform(2.5, 4)]
                img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] += 120
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / cls / f"{i:03d}.png")
            rows.append(f"{cls}/{i:03d}.png,session{i // 5}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")


def test_object_present_from_a_folder(tmp_path, capsys):
    draw_objects(tmp_path / "pictures")
    args = _overrides(tmp_path, OBJECT_SPACE, "task=object_present", f"data.root={tmp_path / 'pictures'}",
                      "data.val_pct=20", "data.test_pct=20", "search.n_trials=1")
    assert main(["search", *args]) == 0
    record = _best(tmp_path)
    assert record["state"] == "complete" and record["study"]["task"] == "object_present"
    assert record["metrics"]["test_accuracy"] > 0.8  # two classes: chance is 0.5
