"""Intermediate-epoch stopping through a real search: the trial worker (a separate process, the default
runner) asks the search after each epoch, the search says stop, and the stopped trial is a `pruned`
answer everywhere it is counted — the study, the progress line, the outcome, MLflow, pareto.csv, the
report's count and a resume. The rule is forced (every trial after the first is stopped after epoch 1)
so the test does not depend on which candidate learns faster; the rules themselves: tests/unit/test_pruning.py."""

import io

import mlflow
import optuna

from autotiny import pruning
from autotiny.config import compose
from autotiny.progress import SearchProgress
from autotiny.search import Search

SPACE = """
frontend:
  type: mfcc
  params: {window_ms: 30, hop_ms: 20, n_mels: 40, n_mfcc: 10}
model:
  type: ds_cnn
  params: {n_blocks: 1, channels: 8, first_kernel: [10, 4], first_stride: [2, 2]}
training: {epochs: 2, learning_rate: 0.005, batch_size: 32}
"""


def test_a_pruned_trial_stops_between_epochs_and_counts_as_answered(tmp_path, run_overrides, monkeypatch):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    overrides = [o for o in run_overrides if not o.startswith("search.space=")] + [
        f"search.space={space}", "search.n_trials=3", "emulator=estimate", "search.repeat_candidates=true",
        "search.objectives=[accuracy,flash]", "search.pruner=median", "search.prune_startup=1",
        "search.prune_warmup_epochs=0"]
    asked = []
    monkeypatch.setattr(pruning, "same_epoch_verdict",
                        lambda value, epoch, curves, s: asked.append((epoch, len(curves))) or (
                            f"forced after epoch {epoch}" if curves else None))
    out = io.StringIO()
    progress = SearchProgress(3, ["accuracy", "flash"], stream=out, interactive=False)
    outcome = Search(compose(overrides), log=lambda s: None, progress=progress).run()

    assert asked == [(1, 0), (2, 0), (1, 1), (1, 1)]  # trial 0 ran both epochs; 1 and 2 were stopped after one
    assert (outcome.n_complete, outcome.n_pruned, outcome.n_failed) == (1, 2, 0) and outcome.exit_code == 0
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] + [optuna.trial.TrialState.PRUNED] * 2
    assert len(study.trials[0].user_attrs[pruning.CURVE]) == 2
    for t in study.trials[1:]:
        rec = t.user_attrs["record"]
        assert rec["state"] == "pruned" and rec["reason"] == "forced after epoch 1" and not rec["trained"]
        assert rec["metrics"]["epochs_run"] == 1 and len(t.user_attrs[pruning.CURVE]) == 1
        assert rec["figures"]["flash_bytes"]["value"] > 0  # the pre-check's figures stay in the record
    assert out.getvalue().splitlines()[-1].startswith("progress: 3/3 trials done")
    rows = (tmp_path / "out" / "pareto.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0]

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = {r.data.tags.get("autotiny.trial"): r for r in mlflow.search_runs(search_all_experiments=True,
                                                                             output_format="list")}
    assert runs["1"].data.tags["autotiny.state"] == "pruned" and runs["1"].info.status == "FINISHED"

    from autotiny.report import find_study, render

    view = find_study("t", overrides, compose(overrides))
    assert "1 feasible" in render(view, []) and "2 pruned between epochs" in render(view, [])

    again = Search(compose(overrides), log=lambda s: None).run()  # resume: the study is answered
    assert again.run_states == [] and len(optuna.load_study(study_name="t", storage=study._storage).trials) == 3


def test_a_first_fidelity_run_stops_a_trial_before_full_training(tmp_path, run_overrides, monkeypatch):
    """search.first_fidelity: a short run on a share of the training data is asked as epoch 0; the rule
    is forced (stop every trial after the first); the stopped trial never trains fully and counts as pruned."""
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    overrides = [o for o in run_overrides if not o.startswith("search.space=")] + [
        f"search.space={space}", "search.n_trials=2", "emulator=estimate", "search.repeat_candidates=true",
        "search.objectives=[accuracy,flash]", "search.first_fidelity=0.5", "search.prune_startup=1"]
    asked = []
    monkeypatch.setattr(pruning, "first_fidelity_verdict",
                        lambda value, earlier, s: asked.append((value, list(earlier))) or (
                            "forced at first fidelity" if earlier else None))
    outcome = Search(compose(overrides), log=lambda s: None).run()

    assert (outcome.n_complete, outcome.n_pruned) == (1, 1)
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")
    first = [t.user_attrs[pruning.FIRST_FIDELITY] for t in study.trials]
    assert [a[1] for a in asked] == [[], first[:1]] and [a[0] for a in asked] == first
    assert all(0 <= v <= 1 for v in first)
    done, stopped = study.trials[0].user_attrs["record"], study.trials[1].user_attrs["record"]
    assert done["state"] == "complete" and done["metrics"]["epochs_run"] == 2  # full training unchanged
    assert "first_fidelity" in done["timings"] and pruning.CURVE not in study.trials[0].user_attrs  # no pruner
    assert stopped["state"] == "pruned" and stopped["reason"] == "forced at first fidelity"
    assert stopped["metrics"]["epochs_run"] == 0 and not stopped["trained"]
