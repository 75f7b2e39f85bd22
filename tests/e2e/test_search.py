"""End to end: the CLI runs a study on a small synthetic dataset, records everything, resumes."""

import json

import optuna
import pytest

from autotiny import trial as trial_mod
from autotiny.cli import main
from autotiny.config import compose
from autotiny.search import Search

pytestmark = pytest.mark.needs_arm_gcc  # the default emulator=builtin builds the firmware


def _mlflow_runs(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("autotiny-kws")
    return client, client.search_runs([exp.experiment_id], max_results=100)


def test_cli_search_end_to_end_then_resume(tmp_path, run_overrides, capsys):
    assert main(["search", *run_overrides, "search.n_trials=2"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "MLflow UI: autotiny ui tracking.uri=sqlite:///" in out
    assert "training noise: 80% of clips at SNR " in out  # what the augmentation trains at, said at the start
    best = tmp_path / "out" / "best"
    tflite = (best / "model.tflite").read_bytes()
    assert tflite[4:8] == b"TFL3" and f"_len = {len(tflite)}u" in (best / "model.h").read_text()
    rows = (tmp_path / "out" / "pareto.csv").read_text().splitlines()
    assert rows[0].startswith("trial,val_accuracy") and len(rows) >= 2
    assert "model.channels" in rows[0] and "frontend.n_mfcc" in rows[0] and "training.epochs" in rows[0]
    assert all("assumption: stm32f746 active power" in row for row in rows[1:])
    assert "*energy: emulated (assumption: stm32f746 active power" in out
    record = json.loads((best / "trial.json").read_text())
    assert record["candidate"]["model"]["family"] == "ds_cnn" and record["state"] == "complete"
    assert record["candidate"]["frontend"]["params"]["n_mfcc"] == 10 and record["study"]["board"] == "stm32f746"
    assert record["figures"]["ram_bytes"]["source"] == "emulated"
    # the decision rule was tuned on validation data under the task's costs (default: error count)
    assert len(record["decision"]["weights"]) == 12 and "stop" in record["decision"]["weights"]
    # field noise (task.noise defaults): scored clean and at each SNR, selected at 10 dB
    assert {"val_accuracy_20db", "test_accuracy_0db", "val_accuracy_field"} <= set(record["metrics"])
    assert record["metrics"]["val_accuracy_field"] == record["metrics"]["val_accuracy_10db"]
    assert 0 <= record["metrics"]["test_cost_per_1000"] <= 1000
    # default costs count errors: the rule is the argmax unless cross-validation showed tuned weights pay,
    # and descended weights never cost more on the data they were tuned on (the field-SNR validation rows)
    m = record["metrics"]
    assert m["val_cost_per_1000"] == pytest.approx(1000 * (1 - m["val_decision_accuracy"]))
    if record["decision"]["tuned"]:
        assert m["val_cost_per_1000"] <= 1000 * (1 - m["val_accuracy_field"]) + 1e-9
    else:
        assert m["val_cost_per_1000"] == pytest.approx(1000 * (1 - m["val_accuracy_field"]))

    client, runs = _mlflow_runs(tmp_path)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and len(children) == 2
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    for c in children:
        assert {"val_accuracy", "flash_bytes", "ram_bytes", "feasible", "val_cost_per_1000", "test_macro_f1",
                "test_recall.stop", "test_false_alarm.stop", "test_accuracy_5db", "test_accuracy_field"} <= set(
            c.data.metrics)
        assert c.data.params["model.family"] == "ds_cnn"
        assert c.data.tags["source.ram_bytes"] == "emulated" and c.data.tags["source.latency_ms"] == "emulated"
        # the F746's power is an assumption in its board config: every output that uses it says so
        assert c.data.tags["source.energy_uj"].startswith("emulated (assumption: stm32f746 active power")
        assert "cycles" in c.data.metrics and "peak_stack_bytes" in c.data.metrics
        names = {a.path for a in client.list_artifacts(c.info.run_id)}
        assert {"model.tflite", "confusion_matrix.png", "measurement.json", "layers.csv", "trial.json"} <= names
    table_run_ids = {line.split()[-1] for line in out.splitlines() if line.strip()[:1].isdigit()}
    assert table_run_ids <= {c.info.run_id for c in children}

    # Same command, more trials: the study resumes (2 old + 1 new), the parent run is reused.
    assert main(["search", *run_overrides, "search.n_trials=3"]) == 0
    assert "2/3 trials done, running 1" in capsys.readouterr().out
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")
    assert len(study.trials) == 3
    _, runs = _mlflow_runs(tmp_path)
    assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1
    assert len(runs) == 4


def test_over_budget_candidates_are_never_trained(tmp_path, run_overrides, monkeypatch):
    trained = []
    real = trial_mod.train_and_measure
    monkeypatch.setattr(trial_mod, "train_and_measure", lambda *a, **k: trained.append(1) or real(*a, **k))
    cfg = compose([*run_overrides, "search.n_trials=2", "budget.ram_kb=1", "search.runner=inline"])
    outcome = Search(cfg, log=lambda s: None).run()
    assert trained == [] and outcome.n_infeasible == 2 and outcome.pareto == []
    study = optuna.load_study(study_name="t", storage=cfg.search.storage_url())
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert t.user_attrs["feasible"] is False and t.user_attrs["trained"] is False
        assert "ram" in t.user_attrs["reason"] and t.user_attrs["ram_bytes"] > 1024
        assert t.constraints["ram_bytes"] > 0 and t.constraints["flash_bytes"] <= 0
        assert "train" not in t.user_attrs["timings"]


def test_a_crashing_trial_is_recorded_and_the_study_goes_on(tmp_path, run_overrides, monkeypatch):
    calls = []
    real = trial_mod.train_and_measure

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated out of memory")
        return real(*a, **k)

    monkeypatch.setattr(trial_mod, "train_and_measure", flaky)
    cfg = compose([*run_overrides, "search.n_trials=2", "search.runner=inline"])
    outcome = Search(cfg, log=lambda s: None).run()
    assert outcome.n_failed == 1 and outcome.n_complete == 1 and outcome.exit_code == 0
    study = optuna.load_study(study_name="t", storage=cfg.search.storage_url())
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed[0].user_attrs["error"] == "RuntimeError: simulated out of memory"
    # the last stage it entered (the patched training never enters "data")
    assert failed[0].user_attrs["record"]["stage"] == "emulate"
    _, runs = _mlflow_runs(tmp_path)
    assert sorted(r.info.status for r in runs if r.data.tags.get("mlflow.parentRunId")) == ["FAILED", "FINISHED"]

    # The next run retries the failed candidate (same parameters) instead of counting it as done.
    outcome = Search(cfg, log=lambda s: None).run()
    study = optuna.load_study(study_name="t", storage=cfg.search.storage_url())
    retry = study.trials[-1]
    assert retry.user_attrs["retry_of"] == failed[0].number and retry.params == failed[0].params
    assert retry.state == optuna.trial.TrialState.COMPLETE and outcome.n_complete == 2


def test_a_run_in_which_every_trial_fails_exits_1_and_retries_stop_at_the_limit(tmp_path, run_overrides,
                                                                                 monkeypatch, capsys):
    def broken(*a, **k):
        raise RuntimeError("always broken")

    monkeypatch.setattr(trial_mod, "train_and_measure", broken)
    args = ["search", *run_overrides, "search.n_trials=1", "search.runner=inline", "search.max_retries=1"]
    assert main(args) == 1
    assert "all 1 trials of this run failed" in capsys.readouterr().err
    assert main(args) == 1  # attempt 2: the retry of trial 0
    assert main(args) == 0  # retries used up: the study is done, nothing runs
    assert "1/1 trials done, running 0" in capsys.readouterr().out
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'studies' / 't.db'}")
    assert [t.user_attrs.get("attempt") for t in study.trials] == [1, 2]


def test_interrupt_stops_cleanly_and_resume_reruns_the_lost_trial(tmp_path, run_overrides, monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(trial_mod, "train_and_measure", interrupt)
    cfg = compose([*run_overrides, "search.n_trials=1", "search.runner=inline"])
    outcome = Search(cfg, log=lambda s: None).run()
    assert outcome.interrupted and outcome.exit_code == 130
    monkeypatch.undo()
    outcome = Search(cfg, log=lambda s: None).run()
    assert not outcome.interrupted and outcome.n_complete == 1  # the interrupted trial is not counted as done
    study = optuna.load_study(study_name="t", storage=cfg.search.storage_url())
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert study.trials[1].params == study.trials[0].params and study.trials[1].user_attrs["retry_of"] == 0


def test_changed_budget_cannot_silently_reuse_a_study(tmp_path, run_overrides):
    from autotiny.errors import ConfigError

    Search(compose([*run_overrides, "search.n_trials=1", "budget.ram_kb=1"]), log=lambda s: None).run()
    with pytest.raises(ConfigError, match="different budget"):
        Search(compose([*run_overrides, "search.n_trials=2"]), log=lambda s: None).run()


def test_real_speech_slice_end_to_end(data_root, tmp_path, run_overrides, capsys):
    """Two trials on a small slice of the real clips (skips without ../shared/data)."""
    overrides = [o for o in run_overrides if not o.startswith("data.root=")]
    assert main(["search", *overrides, "search.n_trials=2", "data.max_per_class=25"]) == 0
    out = capsys.readouterr().out
    assert "layout=twelve" in out and "Pareto front" in out
    best = json.loads((tmp_path / "out" / "best" / "trial.json").read_text())
    assert 0.0 <= best["metrics"]["test_accuracy"] <= 1.0 and best["figures"]["ram_bytes"]["value"] > 0


def test_measure_command(data_root, capsys):
    rc = main(["measure", f"model={data_root / 'mlperf_tiny' / 'kws_ref_model_int8.tflite'}", "board=stm32l4r5"])
    out = capsys.readouterr().out
    assert rc == 0 and "macs" in out and "(emulated)" in out and "per layer" in out


def test_measure_command_bad_input(tmp_path, capsys):
    assert main(["measure", f"model={tmp_path / 'none.tflite'}"]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.tflite").write_bytes(b"junk" * 10)
    assert main(["measure", f"model={tmp_path / 'junk.tflite'}"]) == 2
    assert "not a TFLite flatbuffer" in capsys.readouterr().err


def test_latency_budget_rejects_before_training_with_emulated_cycles(tmp_path, run_overrides, monkeypatch):
    trained = []
    monkeypatch.setattr(trial_mod, "train_and_measure", lambda *a, **k: trained.append(1))
    cfg = compose([*run_overrides, "search.n_trials=1", "budget.latency_ms=0.05", "search.runner=inline"])
    outcome = Search(cfg, log=lambda s: None).run()
    assert trained == [] and outcome.n_infeasible == 1
    t = optuna.load_study(study_name="t", storage=cfg.search.storage_url()).trials[0]
    # the instruction cap (from the latency budget) stops the emulation: it cannot meet the budget
    assert t.user_attrs["reason"].startswith("does not run on stm32f746: instruction cap")
    assert t.constraints["runs"] > 0 and t.user_attrs["latency_ms_source"] == "emulated"


def test_estimate_backend_labels_its_figures(tmp_path, run_overrides):
    cfg = compose([*run_overrides, "search.n_trials=1", "emulator=estimate"])
    outcome = Search(cfg, log=lambda s: None).run()
    assert outcome.n_complete == 1
    figs = outcome.best.figures
    assert figs["ram_bytes"].source == "tflm" and figs["latency_ms"].source == "estimated"


def test_an_error_after_the_study_started_leaves_no_mlflow_run_running(tmp_path, run_overrides, monkeypatch):
    from autotiny import results

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "write_outputs", disk_full)
    cfg = compose([*run_overrides, "search.n_trials=1", "budget.ram_kb=1", "search.runner=inline"])
    with pytest.raises(OSError):
        Search(cfg, log=lambda s: None).run()
    _, runs = _mlflow_runs(tmp_path)
    assert runs and all(r.info.status != "RUNNING" for r in runs)
    assert [r.info.status for r in runs if "mlflow.parentRunId" not in r.data.tags] == ["FAILED"]
