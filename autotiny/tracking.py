"""MLflow: one experiment per task, a parent run per study, a nested run per trial.

A trial's run is created when the trial starts (RUNNING) and ended with its state (FINISHED,
FAILED, KILLED); a run whose search process died is closed as KILLED by the next run.

Uses MlflowClient (explicit run ids) rather than the fluent API's global active run, so a
crashing trial can never leave the next trial logging into the wrong run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from autotiny.config import TrackingSettings

RUN_STATUS = {"complete": "FINISHED", "infeasible": "FINISHED", "pruned": "FINISHED", "failed": "FAILED", "interrupted": "KILLED",
              "lost": "KILLED"}


# How the MLflow UI shows an experiment (see README, "MLflow"):
# - `mlflow.experimentKind` marks a classical training experiment ("Machine learning" rather than GenAI).
#   MLflow 3.17's UI reads its GenAI / Model training switch instead (`?workflowType=machine_learning`,
#   which `autotiny ui` puts in the link); earlier 3.x UIs pick the landing tab from this tag.
# - `mlflow.sharedViewState.<id>` is a saved view of the runs table (the "Views" menu, or
#   `?viewStateShareKey=<id>`): sorted by validation accuracy, which also lists the trials flat instead of
#   folded under their study's run, with the key figures as columns.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
TRIALS_VIEW = "autotiny-trials"
TRIALS_VIEW_TAG = "mlflow.sharedViewState." + TRIALS_VIEW
KEY_FIGURES = ("val_accuracy", "test_accuracy", "flash_bytes", "ram_bytes", "latency_ms", "energy_uj", "feasible")


def trials_view() -> str:
    """The saved view's tag value: MLflow's envelope {name, createdAt, updatedAt, state: JSON text}."""
    import json

    columns = [f"metrics.`{m}`" for m in KEY_FIGURES] + ["tags.`autotiny.state`", "tags.`autotiny.study`"]
    state = {"searchFilter": "", "orderByKey": "metrics.`val_accuracy`", "orderByAsc": False, "startTime": "ALL",
             "lifecycleFilter": "Active", "modelVersionFilter": "All Runs", "datasetsFilter": [],
             "selectedColumns": columns, "columnOrder": columns}
    now = int(time.time() * 1000)
    return json.dumps({"name": "autotiny trials", "createdAt": now, "updatedAt": now, "state": json.dumps(state)})


def experiment_tags() -> dict[str, str]:
    return {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, TRIALS_VIEW_TAG: trials_view()}


def mark_experiment(client: Any, experiment: Any) -> None:
    """Add the kind and the trials view where missing; a user's own choice (another kind, an edited
    view) stays."""
    for key, value in experiment_tags().items():
        if key not in (experiment.tags or {}):
            client.set_experiment_tag(experiment.experiment_id, key, value)


def _absolute_uri(uri: str) -> str:
    """sqlite:///relative.db → absolute path, so the URI printed for `mlflow ui` works anywhere."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(uri[len(prefix):]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return uri


class Tracker:
    def __init__(self, settings: TrackingSettings):
        self.settings = settings
        self.enabled = settings.enabled
        self.uri = _absolute_uri(settings.uri)
        self.client = None
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None

    def _connect(self) -> None:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        import logging

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)

    def setup(self) -> None:
        """Create database and experiment once, before any trial (concurrent creation races)."""
        if not self.enabled:
            return
        self._connect()
        exp = self.client.get_experiment_by_name(self.settings.experiment)
        if exp is None:
            artifacts = Path(self.settings.artifact_dir).resolve() / self.settings.experiment
            artifacts.mkdir(parents=True, exist_ok=True)
            try:
                self.experiment_id = self.client.create_experiment(
                    self.settings.experiment, artifact_location=artifacts.as_uri(), tags=experiment_tags())
            except Exception:  # another worker created it first
                exp = self.client.get_experiment_by_name(self.settings.experiment)
                self.experiment_id = exp.experiment_id
        else:
            self.experiment_id = exp.experiment_id
        if exp is not None:  # made by an older autotiny or by hand: give it what the UI needs
            mark_experiment(self.client, exp)

    def join(self, experiment_id: str | None, parent_run_id: str | None) -> None:
        """A worker of a study (autotiny.cluster): log into the experiment and under the parent run its
        controller created; a worker never creates them (many creating at once race)."""
        if not self.enabled:
            return
        if not experiment_id:
            from autotiny.errors import ConfigError

            raise ConfigError("the study has no MLflow experiment recorded by its controller; run the sweep "
                              "with the same tracking.* settings as the controller (or tracking.enabled=false)")
        self._connect()
        self.experiment_id, self.parent_run_id = experiment_id, parent_run_id

    def start_study(self, study_name: str, existing_run_id: str | None, params: dict[str, Any]) -> str | None:
        """Reopen the study's parent run when resuming, else create it."""
        if not self.enabled:
            return None
        if existing_run_id:
            try:
                run = self.client.get_run(existing_run_id)
                if run.info.experiment_id == self.experiment_id:
                    self.client.update_run(existing_run_id, status="RUNNING")
                    self.parent_run_id = existing_run_id
                    return existing_run_id
            except Exception:
                pass  # deleted or another tracking store: start a fresh parent run
        run = self.client.create_run(self.experiment_id, run_name=study_name,
                                     tags={"autotiny.study": study_name})
        self.parent_run_id = run.info.run_id
        self._log_params(self.parent_run_id, params)
        return self.parent_run_id

    def start_trial(self, number: int, study_name: str) -> str | None:
        """A trial's run exists from its start (RUNNING), so a trial whose process dies still has one."""
        if not self.enabled:
            return None
        run = self.client.create_run(
            self.experiment_id, run_name=f"trial-{number}",
            tags={"mlflow.parentRunId": self.parent_run_id or "", "autotiny.trial": str(number),
                  "autotiny.study": study_name, "autotiny.state": "running"})
        return run.info.run_id

    def finish_trial(self, run_id: str, params: dict[str, Any], metrics: dict[str, float],
                     tags: dict[str, str], artifacts: list[Path], state: str) -> None:
        if not self.enabled or not run_id:
            return
        from mlflow.entities import Metric, Param, RunTag

        # one batch, not a write per tag: this runs while a Ctrl-C waits for the search to stop
        now = int(time.time() * 1000)
        ts = [RunTag(k, str(v)[:5000]) for k, v in {"autotiny.state": state, **tags}.items()]
        ps = [Param(k, str(v)[:500]) for k, v in params.items()]
        ms = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
        if len(ps) <= 100 and len(ts) <= 100:
            self.client.log_batch(run_id, metrics=ms, params=ps, tags=ts)
        else:
            self.client.log_batch(run_id, tags=ts[:100])
            self._log_params(run_id, params)
            self.client.log_batch(run_id, metrics=ms)
        self._log_results(run_id, {}, artifacts)
        self.client.set_terminated(run_id, status=RUN_STATUS.get(state, "FINISHED"))

    def end_lost_trial(self, run_id: str, reason: str) -> None:
        """Close the run of a trial whose process died (found on resume): KILLED, never RUNNING."""
        if not self.enabled or not run_id:
            return
        try:
            self.client.set_tag(run_id, "autotiny.state", "lost")
            self.client.set_tag(run_id, "autotiny.reason", reason)
            self.client.set_terminated(run_id, status="KILLED")
        except Exception:  # the run is gone (deleted, another store): nothing to close
            pass

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        """More figures for a finished run (a trial's mean over seeds, autotiny.repeats)."""
        if self.enabled and run_id and self.client is not None:
            self._log_results(run_id, metrics, [])

    def end_study(self, metrics: dict[str, float], artifacts: list[Path], interrupted: bool = False) -> None:
        if not self.enabled or not self.parent_run_id:
            return
        self._log_results(self.parent_run_id, metrics, artifacts)
        self.client.set_terminated(self.parent_run_id, status="KILLED" if interrupted else "FINISHED")

    def abandon_study(self) -> None:
        """The study stopped on an error: its run ends FAILED (never left RUNNING)."""
        if not self.enabled or not self.parent_run_id or self.client is None:
            return
        try:
            if self.client.get_run(self.parent_run_id).info.status == "RUNNING":
                self.client.set_terminated(self.parent_run_id, status="FAILED")
        except Exception:
            pass

    def _log_results(self, run_id: str, metrics: dict[str, float | None], artifacts: list[Path]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
        if ms:
            self.client.log_batch(run_id, metrics=ms)
        for path in artifacts:
            if path.exists():
                self.client.log_artifact(run_id, str(path))

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        ps = [Param(k, str(v)[:500]) for k, v in params.items()]
        for i in range(0, len(ps), 100):  # log_batch takes at most 100 params per call
            self.client.log_batch(run_id, params=ps[i:i + 100])
