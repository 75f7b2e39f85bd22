"""Run one `autotiny search` as a user would, for the bench scripts: a subprocess with the
overrides given, its studies and outputs in one folder per task x board, MLflow off, a wall-clock
limit.  Returns the search's own choice (best/trial.json) and the wall time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def best_record(out: Path) -> Path:
    """Where a search with output folder `out` writes the candidate it chose."""
    return out / "best" / "trial.json"


def trained_trials(out: Path):
    """A finished search's trained trials (output folder `out`): (record, CandidateSpec, int8 model bytes)."""
    from autotiny.space import CandidateSpec

    for rec_file in sorted((out / "trials").glob("*/trial.json")):
        rec = json.loads(rec_file.read_text())
        model_file = rec_file.parent / "model.tflite"
        if rec.get("state") == "complete" and model_file.exists():
            yield rec, CandidateSpec.from_dict(rec["candidate"]), model_file.read_bytes()


def run_search(task: str, board: str, trials: int, work: Path, overrides: list[str], timeout_s: int,
               cache_dir: Path, log=None) -> tuple[dict, float]:
    """`autotiny search task=<task> board=<board>` with its outputs under work/<task>-<board>.
    timeout_s: search.timeout_s (no new trial after it); the subprocess itself is killed at twice
    that plus 10 minutes (a trial under way finishes; a hung one does not hold the bench)."""
    name = f"{task}-{board}"
    out = work / name
    args = [f"task={task}", f"board={board}", f"search.n_trials={trials}", f"search.timeout_s={timeout_s}",
            f"data.cache_dir={cache_dir}", f"search.studies_dir={work / 'studies'}", f"search.output_dir={out}",
            f"search.study_name={name}", "tracking.enabled=false", *overrides]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "autotiny.cli", "search", *args], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=2 * timeout_s + 600)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{name}: search killed after {e.timeout:.0f} s") from None
    wall = time.perf_counter() - t0
    if log is not None:
        log.write(f"$ autotiny search {' '.join(args)}\n{r.stdout}{r.stderr}\n")
        log.flush()
    if r.returncode != 0 or not best_record(out).exists():
        raise RuntimeError(f"{name}: search exit {r.returncode}, no best/trial.json\n{(r.stdout + r.stderr)[-3000:]}")
    (out / "search_wall_s").write_text(f"{wall:.1f}\n")  # a resumed bench reads it back
    return json.loads(best_record(out).read_text()), wall
