"""What counts toward search.n_trials: a repeated candidate is answered once, and the cap holds
across processes that share one study."""

import os
import subprocess
import sys

import optuna
import pytest

from autotiny import trial as trial_mod
from autotiny.config import compose
from autotiny.search import Search

pytestmark = pytest.mark.needs_arm_gcc  # the default emulator=builtin builds the firmware

FIXED_SPACE = """
frontend:
  type: mfcc
  params: {window_ms: 30, hop_ms: 20, n_mels: 40, n_mfcc: 10}
model:
  type: ds_cnn
  params: {n_blocks: 1, channels: 8, first_kernel: [10, 4], first_stride: [2, 2]}
training: {epochs: 1, learning_rate: 0.005, batch_size: 32}
"""


def _count_training(monkeypatch):
    calls = []
    real = trial_mod.train_and_measure
    monkeypatch.setattr(trial_mod, "train_and_measure", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_a_candidate_proposed_twice_is_trained_once(tmp_path, run_overrides, monkeypatch):
    space = tmp_path / "fixed.yaml"
    space.write_text(FIXED_SPACE)
    overrides = [o for o in run_overrides if not o.startswith("search.space=")] + [
        f"search.space={space}", "search.runner=inline", "search.n_trials=2"]
    calls = _count_training(monkeypatch)
    outcome = Search(compose(overrides), log=lambda s: None).run()
    assert calls == [1]
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")
    second = study.trials[1].user_attrs["record"]
    assert second["reused_from"] == 0 and second["metrics"] == study.trials[0].user_attrs["record"]["metrics"]
    assert len(outcome.pareto) == 1  # the repeat is not a second Pareto candidate
    # asked for: repeats are trained again
    calls.clear()
    Search(compose([*overrides, "search.study_name=t2", "search.repeat_candidates=true"]), log=lambda s: None).run()
    assert calls == [1, 1]


def test_n_trials_is_the_cap_of_the_study_across_processes(tmp_path, run_overrides):
    """Two searches on one study at once run n_trials between them, not n_trials each."""
    args = [*run_overrides, "search.runner=inline"]
    assert Search(compose([*args, "search.n_trials=1"]), log=lambda s: None).run().n_complete == 1
    cmd = [sys.executable, "-m", "autotiny.cli", "search", *args, "search.n_trials=3"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, PYTHONUNBUFFERED="1")) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3, [(t.number, t.state.name) for t in study.trials]
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials)
    # the outputs describe the whole study, whichever process wrote them last
    rows = (tmp_path / "out" / "pareto.csv").read_text().splitlines()[1:]
    front = {int(r.split(",")[0]) for r in rows}
    assert front <= {t.number for t in complete} and front
