"""bench/vs_reference.py's arithmetic and table (the bench itself runs searches: see its docstring)."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("vs_reference", Path(__file__).parents[2] / "bench" / "vs_reference.py")
vs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vs)


def test_wilson_interval():
    lo, hi = vs.wilson(0.5, 100)
    assert (lo, hi) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    lo, hi = vs.wilson(1.0, 20)  # never beyond [0, 1], and not zero-width at the edge
    assert hi == 1.0 and 0.8 < lo < 0.9


def test_table_rows_and_missing_models():
    fig = {k: {"value": v, "source": "emulated", "assumption": None}
           for k, v in (("latency_ms", 20.0), ("energy_uj", 6600.0), ("ram_bytes", 60000.0), ("flash_bytes", 1e5))}
    ref = {"part": "reference", "trials": 1, "trained": 1, "n_test": 100, "trials_per_hour": 30.0,
           "best": {"trial": 0, "description": "ds_cnn | mfcc", "figures": fig,
                    "metrics": {"test_accuracy": 0.5, "test_accuracy_10db": 0.4, "test_cost_per_1000": 500.0}}}
    none = {"part": "search_tpe", "trials": 7, "trained": 0, "n_test": 100, "trials_per_hour": 70.0, "best": None}
    text = vs.table([ref, none])
    lines = text.splitlines()
    assert lines[2].count("|") == lines[0].count("|")  # a description's '|' does not split a cell
    assert "0.500 [0.404, 0.596]" in lines[2] and "| - |" in lines[2]  # no 0 dB figure: '-'
    assert "search_tpe: no feasible model (7 trials)" in lines[3] and "n = 100 clips" in text


def test_settings_are_written_whole_and_once(tmp_path):
    """--parallel's two parts start together: a file already holding the text is left alone (never
    truncated under a reader), another text replaces it in one rename, and no temporary file is left."""
    p = tmp_path / "settings.json"
    vs._write_whole(p, '{"minutes": 60}')
    assert p.read_text() == '{"minutes": 60}'
    before = p.stat().st_ino, p.stat().st_mtime_ns
    vs._write_whole(p, '{"minutes": 60}')
    assert (p.stat().st_ino, p.stat().st_mtime_ns) == before
    vs._write_whole(p, '{"minutes": 30}')
    assert p.read_text() == '{"minutes": 30}' and p.stat().st_ino != before[0]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["settings.json"]
