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
