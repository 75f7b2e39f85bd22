"""`autotiny report study=<name>`: the page renders in a real browser with every image loaded and no console
message, its charts reach the study's MLflow run, what a record lacks is said, and bad input is one line, exit 2.

The study is written the way the search writes one (results.to_optuna on Optuna trials, a Tracker parent run),
from made-up records: seconds, no training. tests/e2e/test_progress.py reports on a study a real search made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from autotiny import results
from autotiny.config import TrackingSettings, cache_root
from autotiny.evaluate import Scores, confusion_png
from autotiny.measure import Figure
from autotiny.tracking import Tracker
from autotiny.trial import TrialRecord
from tests.chromium import console_messages, in_fresh_profile

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVES = ["accuracy", "flash", "ram"]
BUDGET = {"ram_kb": 64.0, "flash_kb": 128.0, "ram_fraction": 1.0, "flash_fraction": 1.0, "latency_ms": 50.0,
          "energy_uj": None}
CHARTS = ["pareto_front", "budget", "layers", "confusion_matrix", "metric_vs_snr", "search_history", "param_importances"]


def _record(val: float | None, flash: float, ram: float, latency: float, state: str = "complete") -> TrialRecord:
    rec = TrialRecord(number=-1, state=state, trained=state == "complete", feasible=state == "complete",
                      description=f"ds_cnn flash {flash:.0f}", seed=3)
    rec.figures = {"flash_bytes": Figure(flash, "B", "emulated"), "ram_bytes": Figure(ram, "B", "emulated"),
                   "macs": Figure(250_000.0, "MAC", "file"), "latency_ms": Figure(latency, "ms", "emulated"),
                   "energy_uj": Figure(latency * 330, "uJ", "emulated", assumption="active power 330 mW")}
    if val is not None:
        # and the value the accuracy objective reads (at the field SNR where the task has noise)
        rec.metrics = {"val_accuracy": val, "test_accuracy": val - 0.02, results.OBJECTIVES["accuracy"][1]: val}
    if state == "infeasible":
        rec.violations, rec.reason = {"flash_bytes": flash - BUDGET["flash_kb"] * 1024}, "flash over budget"
    if state == "failed":
        rec.reason, rec.stage = "TrainingError: diverged", "train"
    return rec


def _with_everything(rec: TrialRecord, folder: Path) -> TrialRecord:
    """The chosen model as a trained trial records it: layers, a confusion matrix, metrics against noise."""
    rec.layers = [{"index": i, "op": op, "cycles": c, "instructions": c // 2, "latency_ms": c / 216e3,
                   "arena_bytes": a, "const_bytes": k}
                  for i, (op, c, a, k) in enumerate([("CONV_2D", 900_000, 12_000, 1_400), ("DEPTHWISE_CONV_2D", 300_000,
                                                      9_000, 500), ("CONV_2D", 600_000, 9_000, 2_300),
                                                     ("MEAN", 40_000, 4_500, 0), ("FULLY_CONNECTED", 9_000, 80, 1_000),
                                                     ("SOFTMAX", 3_000, 24, 0)])]
    folder.mkdir(parents=True, exist_ok=True)
    confusion = np.diag([8, 7, 9]) + 1
    confusion_png(Scores(accuracy=float(np.trace(confusion) / confusion.sum()), n=int(confusion.sum()),
                         confusion=confusion), ["yes", "no", "_unknown_"], folder / "confusion_matrix.png")
    rec.artifacts["confusion_matrix.png"] = str(folder / "confusion_matrix.png")
    rec.metrics.update({"test_accuracy_clean": 0.88, "test_accuracy_20db": 0.85, "test_accuracy_10db": 0.71,
                        "test_accuracy_0db": 0.33, "test_accuracy_m5db": 0.12, "val_accuracy_10db": 0.69})
    return rec


def make_study(tmp_path: Path, records: list[TrialRecord], name: str = "r", tracking: bool = False) -> list[str]:
    """Write `records` as a search would; the overrides that find the study, its outputs and its MLflow store
    (tracking=False: as a search with tracking.enabled=false)."""
    settings = TrackingSettings(uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
                                artifact_dir=str(tmp_path / "mlruns" / "artifacts"), experiment="autotiny-kws",
                                enabled=tracking)
    tracker = Tracker(settings)
    tracker.setup()
    parent = tracker.start_study(name, None, {"board": "stm32f746"})
    (tmp_path / "studies").mkdir(exist_ok=True)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'studies' / (name + '.db')}",
                                directions=[results.OBJECTIVES[o][0] for o in OBJECTIVES],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("identity", {"objectives": OBJECTIVES, "board": "stm32f746", "task": "kws",
                                     "budget": BUDGET, "space": "test", "emulator": "builtin"})
    if parent:
        study.set_user_attr("mlflow_parent_run_id", parent)
    for rec in records:
        trial = study.ask()
        trial.suggest_int("model.channels", 8, 64)  # searched parameters, for the importances
        trial.suggest_float("training.learning_rate", 1e-3, 1e-1, log=True)
        rec.number, rec.study = trial.number, {"name": name, "task": "kws", "board": "stm32f746"}
        results.to_optuna(trial, rec)
        if rec.state == "failed":
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, results.objective_values(rec, OBJECTIVES))
    tracker.end_study({}, [])
    return [f"study={name}", f"search.studies_dir={tmp_path / 'studies'}", f"search.output_dir={tmp_path / 'out'}",
            f"tracking.uri={settings.uri}", f"tracking.artifact_dir={settings.artifact_dir}",
            f"tracking.enabled={str(tracking).lower()}"]


def report(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The command as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "autotiny.cli", "report", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _full_study(tmp_path: Path, tracking: bool) -> list[str]:
    records = [_record(0.61, 40_000, 30_000, 20.0), _record(None, 150_000, 50_000, 70.0, "infeasible"),
               _record(0.72, 60_000, 36_000, 28.0), _record(None, 0, 0, 0, "failed"),
               _record(0.70, 52_000, 40_000, 25.0), _record(0.66, 70_000, 45_000, 31.0),
               *(_record(0.5 + k / 100, 80_000 + k * 1_000, 46_000, 33.0) for k in range(6))]  # 10 feasible
    _with_everything(records[2], tmp_path / "trials" / "0002")
    return make_study(tmp_path, records, tracking=tracking)


# ---- the page in a browser ------------------------------------------------------------------------------

HARNESS = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="{page}" style="width:1200px;height:900px"></iframe>
<script>
document.getElementById("page").addEventListener("load", () => {{
  const d = document.getElementById("page").contentDocument;
  const images = Array.from(d.images).map(i => ({{alt: i.alt, complete: i.complete, width: i.naturalWidth}}));
  document.getElementById("result").textContent = JSON.stringify({{title: d.title, images: images}});
}});
</script></body></html>"""


@pytest.mark.needs_chromium
def test_report_renders_in_chromium_with_every_image_and_reaches_mlflow(tmp_path: Path):
    full_study = _full_study(tmp_path, tracking=True)
    r = report(full_study, tmp_path)
    assert r.returncode == 0, r.stderr
    page = tmp_path / "out" / "report.html"
    assert r.stdout.splitlines()[0] == f"report: {page} (7 charts, chosen: trial 2)", r.stdout
    text = page.read_text()
    # self-contained: nothing fetched from anywhere, no script
    assert not re.search(r"(src|href)\s*=\s*['\"](?!data:)", text) and "<script" not in text.lower()
    for words in ("Pareto front", "Budget: trial 2", "Per layer", "Confusion matrix (trial 2)", "Metric against noise",
                  "Search history", "emulated (assumption: active power 330 mW)", "file (model blob: arena plan)",
                  "Parameter importances (per objective)", "PedAnovaImportanceEvaluator"):
        assert words in text, words
    assert text.count("Source: ") == 7

    # a harness page loads the report in a frame (file pages may read each other with the flag below) and
    # writes what the browser made of its images into its own DOM
    harness = tmp_path / "harness.html"
    harness.write_text(HARNESS.format(page=page.as_uri()))
    run = in_fresh_profile(harness.as_uri(), tmp_path, "--allow-file-access-from-files", "--enable-logging=stderr",
                           "--v=0", "--dump-dom", budget_ms=10_000)
    found = re.search(r'<pre id="result">([^<]*)</pre>', run.stdout)
    assert found, run.stdout[-2000:] + run.stderr[-2000:]
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&#39;", "'"))
    assert seen["title"] == "autotiny report: r"
    assert len(seen["images"]) == 7 and all(i["complete"] and i["width"] > 0 for i in seen["images"]), seen
    assert console_messages(run.stderr) == []  # no error, no refused load, nothing

    shot = tmp_path / "report.png"
    in_fresh_profile(page.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1200,4000", budget_ms=5_000)
    assert shot.is_file() and shot.stat().st_size > 20_000
    keep = cache_root() / "report-test" / "report.png"
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep)
    print(f"screenshot of the report: {keep}")

    # the same charts, and the page, on the study's MLflow run
    from mlflow.tracking import MlflowClient

    store = next(a.split("=", 1)[1] for a in full_study if a.startswith("tracking.uri="))
    parent = optuna.load_study(study_name="r", storage=f"sqlite:///{tmp_path / 'studies' / 'r.db'}").user_attrs[
        "mlflow_parent_run_id"]
    logged = {Path(a.path).name for a in MlflowClient(store).list_artifacts(parent, "report")}
    assert logged == {f"{c}.png" for c in CHARTS} | {"report.html"}
    assert f"logged to the study's run {parent}" in r.stdout


def test_what_a_record_lacks_is_said_not_drawn(tmp_path: Path):
    """A chosen model without per-layer figures, confusion matrix or noise metrics (emulator=estimate, older
    records): the page says 'not recorded' for each, and draws the rest."""
    args = make_study(tmp_path, [_record(0.6, 40_000, 30_000, 20.0), _record(0.7, 50_000, 30_000, 22.0)])
    # the chosen model is the one the search put in best/ (here not the more accurate one)
    best = tmp_path / "out" / "best" / "trial.json"
    best.parent.mkdir(parents=True)
    best.write_text(json.dumps({"number": 0, "study": {"name": "r"}}))
    r = report(args, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(3 charts, chosen: trial 0)" in r.stdout and "MLflow" not in r.stdout
    text = (tmp_path / "out" / "report.html").read_text()
    assert text.count("not recorded") == 4  # layers, confusion matrix, metric vs SNR, front-end vs network
    assert text.count("<img ") == 3
    assert "needs ≥ 10 completed feasible trials with parameters; the study has 2" in text  # no importances


# ---- bad input: one line, exit 2 ---------------------------------------------------------------------------

def _one_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autotiny: error: report"), r.stderr
    return lines[0]


def test_unknown_study_names_the_studies_there_and_creates_nothing(tmp_path: Path):
    args = [a for a in _full_study(tmp_path, tracking=False) if not a.startswith("study=")]
    line = _one_error(report(["study=nope", *args], tmp_path))
    assert f"unknown study=nope: no {tmp_path / 'studies' / 'nope.db'}; studies in {tmp_path / 'studies'}: r" in line
    assert sorted(p.name for p in (tmp_path / "studies").iterdir()) == ["r.db"]
    # a storage URL that holds other studies
    url = f"sqlite:///{tmp_path / 'studies' / 'r.db'}"
    line = _one_error(report(["study=nope", f"search.storage={url}", *args], tmp_path))
    assert line.endswith(f"unknown study=nope in {url}; it holds: r")


def test_a_study_without_a_completed_trial_has_nothing_to_report(tmp_path: Path):
    args = make_study(tmp_path, [_record(None, 0, 0, 0, "failed")], name="empty")
    line = _one_error(report(args, tmp_path))
    assert "study=empty has no completed trial yet (1 trials, none complete)" in line
    assert not (tmp_path / "out" / "report.html").exists()


def test_an_existing_report_is_kept_unless_overwrite(tmp_path: Path):
    args = make_study(tmp_path, [_record(0.6, 40_000, 30_000, 20.0)])
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text("mine")
    line = _one_error(report(args, tmp_path))
    assert line == f"autotiny: error: report: out={page} already exists; pass overwrite=true to replace it, or " \
                   f"another out="
    assert page.read_text() == "mine"
    assert report([*args, "overwrite=true"], tmp_path).returncode == 0 and page.read_text().startswith("<!DOCTYPE")
    assert "overwrite=yes: must be true or false" in _one_error(report([*args, "overwrite=yes"], tmp_path))
    assert "report needs study=<name>" in _one_error(report(args[1:], tmp_path))
