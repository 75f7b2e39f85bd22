"""`autotiny ui`: the experiment is marked for MLflow's UI, the command's errors are one line and exit 2,
and the runs page really shows the trials and their figures in a browser (headless Chromium)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from autotiny.config import TrackingSettings, cache_root
from autotiny.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, KEY_FIGURES, TRIALS_VIEW_TAG, Tracker
from tests.chromium import chromium as _chromium

ROOT = Path(__file__).resolve().parents[2]
FIGURES = [
    {"val_accuracy": 0.8125, "test_accuracy": 0.79, "flash_bytes": 51234, "ram_bytes": 20480, "latency_ms": 12.5,
     "energy_uj": 300.25, "feasible": 1.0},
    {"val_accuracy": 0.875, "test_accuracy": 0.85, "flash_bytes": 61234, "ram_bytes": 30480, "latency_ms": 17.5,
     "energy_uj": 410.75, "feasible": 0.0},
]


def _settings(tmp_path: Path) -> TrackingSettings:
    return TrackingSettings(uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
                            artifact_dir=str(tmp_path / "mlruns" / "artifacts"), experiment="autotiny-kws")


def _log_trial(tracker: Tracker, number: int, metrics: dict[str, float]) -> None:
    """As the search does; whichever trial API this Tracker has (one call, or start + finish)."""
    params = {"width": 8 * (number + 1)}
    state = "complete" if metrics["feasible"] else "infeasible"
    if hasattr(tracker, "start_trial"):
        run_id = tracker.start_trial(number, "study-ui")
        tracker.finish_trial(run_id, params, metrics, {}, [], state)
    else:
        tracker.log_trial(number, params, metrics, {}, [], state)


@pytest.fixture
def store(tmp_path: Path) -> Tracker:
    tracker = Tracker(_settings(tmp_path))
    tracker.setup()
    tracker.start_study("study-ui", None, {"seed": 0})
    for number, metrics in enumerate(FIGURES):
        _log_trial(tracker, number, metrics)
    tracker.end_study({}, [])
    return tracker


def _cli(args: list[str], cwd: Path, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "autotiny.cli", *args]
    if kw.pop("background", False):
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                **kw)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_experiment_is_marked_for_the_ui(store: Tracker):
    tags = store.client.get_experiment(store.experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"
    view = json.loads(tags[TRIALS_VIEW_TAG])
    state = json.loads(view["state"])
    assert view["name"] == "autotiny trials" and isinstance(view["createdAt"], int)
    assert state["selectedColumns"][:len(KEY_FIGURES)] == [f"metrics.`{m}`" for m in KEY_FIGURES]
    assert state["orderByKey"] == "metrics.`val_accuracy`"  # a sort lists the trials flat, not nested
    for run in store.client.search_runs([store.experiment_id], "tags.`autotiny.trial` != ''"):
        assert set(KEY_FIGURES) <= set(run.data.metrics), run.data.run_name


def test_existing_experiment_is_marked_on_setup_and_a_users_choice_stays(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    settings = _settings(tmp_path)
    tracker = Tracker(settings)
    client = MlflowClient(tracking_uri=tracker.uri)
    eid = client.create_experiment(settings.experiment)  # as an older autotiny made it: no tags
    Tracker(settings).setup()
    tags = client.get_experiment(eid).tags
    assert tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND and TRIALS_VIEW_TAG in tags
    client.set_experiment_tag(eid, EXPERIMENT_KIND_TAG, "finetuning")
    Tracker(settings).setup()
    assert client.get_experiment(eid).tags[EXPERIMENT_KIND_TAG] == "finetuning"


def test_port_in_use_is_one_line_and_exit_2(store: Tracker, tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _cli(["ui", f"port={port}", f"tracking.uri={store.uri}"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"autotiny: error: ui: port {port} on 127.0.0.1 is in use; "
                                f"pick another with port=N")
    assert r.stdout == ""


def test_bad_port_is_one_line_and_exit_2(tmp_path: Path):
    r = _cli(["ui", "port=http"], tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "autotiny: error: ui: port=http: must be a number from 1 to 65535"


def test_missing_store_is_one_line_and_exit_2(tmp_path: Path):
    db = tmp_path / "nowhere" / "mlflow.db"
    r = _cli(["ui", f"tracking.uri=sqlite:///{db}"], tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no study has been logged" in lines[0] and str(db) in lines[0], r.stderr
    assert not db.parent.exists()  # looking created nothing


def test_store_without_the_experiment_names_what_it_has(store: Tracker, tmp_path: Path):
    r = _cli(["ui", f"tracking.uri={store.uri}", "tracking.experiment=autotiny-other"], tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"autotiny: error: ui: no study has been logged to experiment 'autotiny-other' in {store.uri} yet "
        f"(it has: autotiny-kws; choose with tracking.experiment=NAME)"]


# ---- the real thing: server + browser ----------------------------------------------------------

@pytest.mark.needs_chromium
def test_runs_page_shows_trials_and_figures_in_chromium(store: Tracker, tmp_path: Path):
    port = _free_port()
    ui = _cli(["ui", f"port={port}", f"tracking.uri={store.uri}"], tmp_path, background=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(ui.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        url = None
        while url is None and time.monotonic() < deadline and ui.poll() is None:
            url = next((line.split()[1] for line in list(out) if line.startswith("open http")), None)
            time.sleep(0.5)
        assert url, f"no URL printed (exit {ui.poll()}): {''.join(out)} {ui.stderr.read() if ui.poll() else ''}"
        assert url.startswith(f"http://127.0.0.1:{port}/#/experiments/{store.experiment_id}/runs?")

        # The React app fetches the runs after load: render again, with more virtual time, until they are there.
        wanted = ["trial-0", "trial-1", "val_accuracy", "flash_bytes", "latency_ms", "51234", "61234", "0.875"]
        dom, missing = "", wanted
        for budget_ms in (15000, 30000, 60000):
            with tempfile.TemporaryDirectory(dir=tmp_path) as profile:
                dom = _chromium(url, Path(profile), "--dump-dom", budget_ms=budget_ms).stdout
            missing = [w for w in wanted if w not in dom]
            if not missing:
                break
        assert not missing, f"not in the rendered runs page: {missing}\n{dom[-3000:]}"
        assert "GenAI apps" not in dom and "Token Usage" not in dom  # not the GenAI overview

        shot = tmp_path / "runs-page.png"
        with tempfile.TemporaryDirectory(dir=tmp_path) as profile:
            _chromium(url, Path(profile), f"--screenshot={shot}", budget_ms=30000)
        assert shot.is_file() and shot.stat().st_size > 10_000
        keep = cache_root() / "ui-test" / "runs-page.png"
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep)
        print(f"screenshot of the runs page: {keep}")
    finally:
        ui.send_signal(signal.SIGTERM)  # as Ctrl-C: autotiny stops the server it started
        try:
            code = ui.wait(60)
        except subprocess.TimeoutExpired:
            ui.kill()
            raise
    assert code == 0, ui.stderr.read()
    with socket.socket() as s:  # the server is gone with it
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
