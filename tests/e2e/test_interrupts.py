"""Ctrl-C, SIGTERM and kill -9 of a running search: the CLI as a user runs it, real signals.

The signal is sent at a named stage by the AUTOTINY_INTERRUPT_AT hook (autotiny.stages), so
each test hits the stage it names whatever the machine's load: no sleeps, no timing luck.
Each stop must exit 130 (SIGINT) or 143 (SIGTERM), leave no trial RUNNING in the study and no
MLflow run RUNNING, and the same command must resume with every trial accounted for.
"""

import os
import subprocess
import sys

import optuna
import pytest

from autotiny.stages import STAGES

pytestmark = pytest.mark.needs_arm_gcc  # the default emulator=builtin builds the firmware


def _cli(run_overrides, n_trials, env_extra=None, timeout=600):
    cmd = [sys.executable, "-m", "autotiny.cli", "search", *run_overrides, f"search.n_trials={n_trials}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("AUTOTINY_INTERRUPT_AT", None)
    env.update(env_extra or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def _study(tmp_path):
    return optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")


def _mlflow_statuses(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("autotiny-kws")
    if exp is None:
        return []
    return [r.info.status for r in client.search_runs([exp.experiment_id], max_results=200)
            if r.data.tags.get("mlflow.parentRunId")]


def _assert_nothing_running(tmp_path):
    try:
        study = _study(tmp_path)
    except KeyError:  # stopped before the study existed
        return
    assert not [t.number for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert "RUNNING" not in _mlflow_statuses(tmp_path)


def test_ctrl_c_at_every_stage_exits_130_and_the_same_command_resumes(tmp_path, run_overrides):
    """One study, stopped once at each stage in turn; every run resumes the last one's lost trial."""
    for stage in STAGES:
        p = _cli(run_overrides, 1, {"AUTOTINY_INTERRUPT_AT": stage})
        out = p.stdout + p.stderr
        assert p.returncode == 130, f"stage {stage}:\n{out}"
        assert f"SIGINT at stage {stage}" in p.stderr and "Traceback" not in out, out
        assert "run the same command again to resume" in p.stderr
        _assert_nothing_running(tmp_path)
    p = _cli(run_overrides, 1)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0/1 trials done, running 1" in p.stdout and "1 feasible" in p.stdout
    study = _study(tmp_path)
    states = [t.state.name for t in study.trials]
    assert states[-1] == "COMPLETE" and set(states[:-1]) == {"FAIL"}
    assert all(t.user_attrs["state"] == "interrupted" for t in study.trials[:-1])
    # the stage each trial was stopped in is recorded with it
    stopped_in = [t.user_attrs["record"]["stage"] for t in study.trials[:-1]]
    assert stopped_in == [s for s in STAGES if s not in ("import", "firmware")]
    # every interrupted candidate was re-run, not replaced: one candidate throughout
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 1
    assert _mlflow_statuses(tmp_path).count("KILLED") == len(study.trials) - 1
    _assert_nothing_running(tmp_path)


def test_sigterm_mid_training_stops_like_ctrl_c(tmp_path, run_overrides):
    p = _cli(run_overrides, 2, {"AUTOTINY_INTERRUPT_AT": "train", "AUTOTINY_INTERRUPT_SIGNAL": "TERM"})
    assert p.returncode == 143, p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    _assert_nothing_running(tmp_path)
    p = _cli(run_overrides, 2)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0/2 trials done, running 2 (1 of them re-run" in p.stdout
    study = _study(tmp_path)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert study.trials[1].user_attrs["retry_of"] == 0


def test_kill_9_mid_trial_loses_nothing(tmp_path, run_overrides):
    """The search dies with SIGKILL mid-training: its worker dies with it; the next run marks the trial
    lost (not done), closes its MLflow run as KILLED and re-runs the same candidate."""
    p = _cli(run_overrides, 2, {"AUTOTINY_INTERRUPT_AT": "train", "AUTOTINY_INTERRUPT_SIGNAL": "KILL"})
    assert p.returncode == -9
    study = _study(tmp_path)
    assert [t.state.name for t in study.trials] == ["RUNNING"]
    assert _mlflow_statuses(tmp_path) == ["RUNNING"]  # the trial's run exists from its start
    p = _cli(run_overrides, 2)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "trials 0 were left running by a search that died" in p.stdout
    assert "0/2 trials done, running 2" in p.stdout and "2 feasible" in p.stdout
    study = _study(tmp_path)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert study.trials[0].user_attrs["state"] == "lost" and study.trials[1].user_attrs["retry_of"] == 0
    assert sorted(_mlflow_statuses(tmp_path)) == ["FINISHED", "FINISHED", "KILLED"]
