"""Shared fixtures. Real-data tests take their folder from AUTOTINY_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (AUTOTINY_DATA), or skip when it is unset/missing."""
    env = os.environ.get("AUTOTINY_DATA")
    if not env or not Path(env).is_dir():
        pytest.skip("real data not available: set AUTOTINY_DATA=DIR")
    return Path(env)


@pytest.fixture(scope="session")
def fake_speech(tmp_path_factory) -> Path:
    """A small synthetic Speech Commands tree (12-folder layout): always available."""
    from tests.fakes import make_fake_speech_commands

    return make_fake_speech_commands(tmp_path_factory.mktemp("speech") / "speech_commands_v0.02",
                                     per_class=12, layout="twelve", n_speakers=20)


TINY_SPACE = """
frontend:
  type: mfcc
  params: {window_ms: 30, hop_ms: 20, n_mels: 40, n_mfcc: 10}
model:
  type: ds_cnn
  params:
    n_blocks: {low: 1, high: 2}
    channels: {choices: [8, 16]}
    first_kernel: [10, 4]
    first_stride: [2, 2]
training:
  epochs: 2
  learning_rate: 0.005
  batch_size: 32
"""


@pytest.fixture()
def tiny_space(tmp_path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_SPACE)
    return p


@pytest.fixture()
def run_overrides(tmp_path, fake_speech, tiny_space) -> list[str]:
    """Overrides that keep every output of a search inside tmp_path."""
    return [f"data.root={fake_speech}", f"data.cache_dir={tmp_path / 'cache'}",
            f"search.space={tiny_space}", f"search.studies_dir={tmp_path / 'studies'}",
            f"search.output_dir={tmp_path / 'out'}", f"tracking.uri=sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
            f"tracking.artifact_dir={tmp_path / 'mlruns' / 'artifacts'}", "search.study_name=t"]
