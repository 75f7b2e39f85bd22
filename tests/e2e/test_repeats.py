"""search.repeats on a tiny real search: the top candidates are trained again with other seeds, the
mean and spread reach the records, pareto.csv, best/, MLflow and the report, and a resumed study does
not train them again. Ranking by the mean (a lucky seed does not win): tests/unit/test_repeats.py."""

import json
import statistics

import mlflow
import optuna
import pytest

from autotiny import repeats
from autotiny import trial as trial_mod
from autotiny.config import compose
from autotiny.results import ranked
from autotiny.search import Search


def test_top_candidates_are_retrained_with_other_seeds(tmp_path, run_overrides, monkeypatch):
    overrides = [*run_overrides, "search.n_trials=1", "emulator=estimate", "search.runner=inline",
                 "search.repeats=1", "search.repeat_top=1", "search.objectives=[accuracy]"]
    calls = []
    real = trial_mod.train_and_measure
    monkeypatch.setattr(trial_mod, "train_and_measure", lambda *a, **k: calls.append(k["seed"]) or real(*a, **k))
    outcome = Search(compose(overrides), log=lambda s: None).run()

    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")
    stored = study.user_attrs[repeats.ATTR]
    [top] = [r for r in outcome.pareto if "n_seeds" in r.metrics]  # the front's best, repeated once
    assert list(stored) == [str(top.number)] and len(calls) == 2  # the trial, then its repeat
    seed, again = next(iter(stored[str(top.number)].items()))
    assert int(seed) == top.seed + repeats.SEED_STRIDE == calls[-1]
    first = study.trials[top.number].user_attrs["record"]["metrics"]["val_accuracy_field"]
    values = [first, again["val_accuracy_field"]]
    assert top.metrics["n_seeds"] == 2
    assert top.metrics["val_accuracy_field_mean"] == statistics.fmean(values)
    assert top.metrics["val_accuracy_field_std"] == statistics.stdev(values)
    assert (tmp_path / "out" / "trials" / f"{top.number:04d}" / f"seed-{seed}" / "model.tflite").is_file()

    head = (tmp_path / "out" / "pareto.csv").read_text().splitlines()[0].split(",")
    assert {"n_seeds", "val_accuracy_field_mean", "test_accuracy_field_std"} <= set(head)
    best = json.loads((tmp_path / "out" / "best" / "trial.json").read_text())
    assert best["number"] == outcome.best.number == ranked(outcome.pareto, ["accuracy"])[0].number
    if best["number"] == top.number:  # (a tied front member can overtake a repeated one whose mean fell)
        assert best["metrics"]["val_accuracy_field_mean"] == pytest.approx(statistics.fmean(values))

    importances = json.loads((tmp_path / "out" / "param_importances.json").read_text())
    assert importances["importances"] == {} and importances["note"].startswith("needs ≥ 10 completed feasible")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    run = mlflow.get_run(top.mlflow_run_id)
    assert run.data.metrics["n_seeds"] == 2 and "val_accuracy_field_mean" in run.data.metrics

    from autotiny.report import find_study, render

    view = find_study("t", overrides, compose(overrides))
    page = render(view, [])
    assert "<h2>Seeds</h2>" in page and f"{top.metrics['val_accuracy_field_mean']:.3f} ± " in page
    assert ranked(view.front, view.objectives)[0].number == outcome.best.number

    calls.clear()
    Search(compose(overrides), log=lambda s: None).run()  # resume: trials and repeats are all there
    assert calls == []
