"""A search run as a user runs it, its output read as a log would keep it (not a terminal): plain progress
lines after each trial and on a timer, with the facts a person watches for, and no training chatter. Then
`autotiny report` on the study it made chooses the model the search put in best/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from autotiny.stages import STAGES

ROOT = Path(__file__).resolve().parents[2]
SPACE = """
frontend:
  type: mfcc
  params: {window_ms: 30, hop_ms: 20, n_mels: 40, n_mfcc: 10}
model:
  type: ds_cnn
  params: {n_blocks: 1, channels: {choices: [8, 16]}, first_kernel: [10, 4], first_stride: [2, 2]}
training: {epochs: 1, learning_rate: 0.005, batch_size: 32}
"""
STAGE = "|".join(["starting", *STAGES])
PROGRESS = re.compile(
    r"progress: (?P<done>\d+)/2 trials done \| \S+ elapsed, (ETA \S+|ETA after the first trial) \| "
    r"(best val \d\.\d{3} \(trial \d+\)|best: none feasible yet) \| (?P<feasible>\d+) feasible"
    rf"( \| trial \d+ \(\d/2\): ({STAGE}), \S+| \| trial worker starting: (import|firmware)"
    r"| \| preparing: checks, data, study)?")
RESULT = re.compile(r"\[trial \d+ \(\d/2\)\] (ok |over budget|failed|same candidate)")


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autotiny.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env})


def test_a_search_logs_plain_progress_lines_and_no_epochs_then_reports(tmp_path: Path, run_overrides: list[str]):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    args = [o for o in run_overrides if not o.startswith("search.space=")] + [
        f"search.space={space}", "search.n_trials=2", "emulator=estimate", "search.repeat_candidates=true"]
    r = _cli(["search", *args], tmp_path, AUTOTINY_PROGRESS_S="1")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    progress = [line for line in lines if line.startswith("progress:")]
    assert progress and all(PROGRESS.fullmatch(line) for line in progress), "\n".join(progress)
    # after each trial's result line, before the next trial starts: a line that counts it
    results = [i for i, line in enumerate(lines) if RESULT.match(line)]
    assert len(results) == 2, r.stdout
    for k, i in enumerate(results, start=1):
        until_next = lines[i + 1:results[k] if k < len(results) else len(lines)]
        assert any((m := PROGRESS.fullmatch(line)) and m["done"] == str(k) for line in until_next), until_next
    assert PROGRESS.fullmatch(progress[-1])["feasible"] == str(r.stdout.count(" ok  val "))
    # a log gets no terminal drawing, and training prints nothing (no epoch lines, no Keras progress bars)
    assert "\r" not in r.stdout and "\x1b[" not in r.stdout
    for out in (r.stdout, r.stderr):
        assert not re.search(r"Epoch \d|\d+/\d+ \[=*|ms/step|- loss:", out), out

    rep = _cli(["report", "study=t", *[o for o in args if o.startswith(("search.", "tracking."))]], tmp_path)
    assert rep.returncode == 0, rep.stderr
    best = json.loads((tmp_path / "out" / "best" / "trial.json").read_text())
    assert f"chosen: trial {best['number']})" in rep.stdout.splitlines()[0], rep.stdout
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Per layer" in page and "emulator=estimate does not" in page  # estimate measures no layers
