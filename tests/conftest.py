"""Shared fixtures and the markers that skip what this machine cannot run, declared once.

Tests live by kind: tests/unit (one module, fast), tests/contract (bit-exact against TFLite
Micro, ARM build == host build, every board field at every consumer, cycle model against its
sources), tests/e2e (the CLI as a user runs it: search, stop/resume, rebuild, the MLflow UI).
Markers: needs_arm_gcc (the cross compiler), needs_data (../shared/data through AUTOTINY_DATA;
the `data_root` fixture implies it), needs_chromium (Debian's chromium for the UI test),
needs_postgres (Debian's PostgreSQL binaries; the `postgres` fixture starts a server on 127.0.0.1).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

NEEDS = {
    "needs_arm_gcc": (lambda: shutil.which("arm-none-eabi-gcc") is not None,
                      "arm-none-eabi-gcc not installed (make setup installs it: apt-get install "
                      "--no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi)"),
    "needs_data": (lambda: bool(os.environ.get("AUTOTINY_DATA")) and Path(os.environ["AUTOTINY_DATA"]).is_dir(),
                   "real data not available: set AUTOTINY_DATA=DIR (make does, from ../shared/data)"),
    "needs_chromium": (lambda: shutil.which("chromium") is not None,
                       "Debian's chromium is not installed (make setup installs it where apt works: "
                       "apt-get install --no-install-recommends chromium)"),
    "needs_postgres": (lambda: __import__("tests.postgres").postgres.available(),
                       "PostgreSQL's initdb/pg_ctl not found (make setup installs them: apt-get install "
                       "--no-install-recommends postgresql; Debian puts them in /usr/lib/postgresql/<ver>/bin)"),
}


def pytest_configure(config):
    for name, (_, reason) in NEEDS.items():
        config.addinivalue_line("markers", f"{name}: skipped when absent — {reason}")
    for kind in ("unit", "contract", "e2e"):
        config.addinivalue_line("markers", f"{kind}: tests/{kind}/ (set from the folder)")


def pytest_collection_modifyitems(config, items):
    available = {name: check() for name, (check, _) in NEEDS.items()}
    for item in items:
        kind = Path(str(item.fspath)).parent.name
        if kind in ("unit", "contract", "e2e"):
            item.add_marker(getattr(pytest.mark, kind))
        if "data_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_data)
        for name, ok in available.items():
            if item.get_closest_marker(name) and not ok:
                item.add_marker(pytest.mark.skip(reason=NEEDS[name][1]))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (AUTOTINY_DATA), or skip when it is unset/missing."""
    env = os.environ.get("AUTOTINY_DATA")
    if not env or not Path(env).is_dir():
        pytest.skip("real data not available: set AUTOTINY_DATA=DIR")
    return Path(env)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of this test session on 127.0.0.1 (tests/postgres.py); each test makes its own
    database with `postgres.create_database(name)`. Tests using it are marked needs_postgres."""
    from tests.postgres import Server, available

    if not available():
        pytest.skip(NEEDS["needs_postgres"][1])
    server = Server().start()
    yield server
    server.stop()


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
