"""The study loop: Optuna asks for candidates, a runner does the work, results records it.

Infeasible candidates are COMPLETE trials whose constraints are violated (not pruned):
NSGA-II and constrained TPE learn only from complete trials, and this is how they learn
where the budget boundary lies.

What counts toward `search.n_trials` (the study's cap, across processes): complete trials
(feasible or not) and failed trials that used up `search.max_retries`. A trial that was
interrupted, or whose process died (kill -9, a lost node), does not count: the next run
re-runs the same candidate. So does a failed trial with retries left.

A dead process's trial is found two ways and re-queued in one place (`requeue_lost`): a process of
this host seen gone (`_reap_lost`, at once), and Optuna's heartbeat for any host (after
search.grace_s). Whoever moves the trial RUNNING → FAIL re-queues it, so it is queued once.

The phases — `prepare` (create or reopen the study, re-queue what earlier runs left), `work` (trials
inside `study.optimize`) and `finish` (outputs, the study's MLflow run) — run in one process by
default; autotiny.cluster runs `prepare`/`finish` in a controller and `join`/`work` in each worker.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autotiny import results
from autotiny.config import RunConfig
from autotiny.errors import ConfigError
from autotiny.pipeline import TaskData
from autotiny.progress import Quiet
from autotiny.results import OBJECTIVES
from autotiny.runner import StopSignals, TrialFailed, make_runner
from autotiny.space import SearchSpace, load_space, suggest
from autotiny.tasks import get_task
from autotiny.tracking import Tracker
from autotiny.trial import TrialRecord


@dataclass
class SearchOutcome:
    study_name: str
    storage: str
    tracking_uri: str | None
    n_complete: int
    n_infeasible: int
    n_failed: int
    pareto: list[TrialRecord]
    best: TrialRecord | None
    output_dir: Path
    interrupted: bool = False
    exit_code: int = 0  # 130 Ctrl-C, 143 SIGTERM, 1 when every trial of this run failed
    run_states: list[str] = field(default_factory=list)  # states of the trials this run ran
    n_pruned: int = 0  # stopped between epochs (search.pruner): answered, counted, not candidates


def _sampler(cfg: RunConfig, n_existing: int):
    import numpy as np
    import optuna

    s = cfg.search
    seed = s.seed + n_existing  # a resumed study must not replay the first trials' random draws
    if s.worker is not None:  # workers joining at once must not draw the same candidates
        seed = int(np.random.SeedSequence([s.seed, n_existing, s.worker]).generate_state(1)[0])
    if s.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(50, s.n_trials // 4)))
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, s.n_trials // 3)),
                                      multivariate=True, group=True, constant_liar=True)


def _storage(cfg: RunConfig):
    import optuna

    url = cfg.search.storage_url()
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    # Heartbeats fail a trial whose worker died on another machine; same-host deaths are found at once.
    return optuna.storages.RDBStorage(url, heartbeat_interval=cfg.search.heartbeat_s,
                                      grace_period=cfg.search.grace_s, heartbeat_stale_trial_callback=requeue_lost)


def requeue_lost(study, trial) -> None:
    """Queue again (same parameters) a trial whose process died; called only by whoever moved it
    RUNNING → FAIL: Optuna's heartbeat (any host) or `Search._reap_lost` (this host).

    Optuna's RetryHeartbeatStaleTrialCallback queues the copy; it would copy every user attribute of
    the dead trial too (its owner, its MLflow run, its own retry_of), so it gets only the retry's."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    retry = copy.copy(trial)
    retry.user_attrs = {"retry_of": trial.number, "attempt": trial.user_attrs.get("attempt", 1)}
    RetryHeartbeatStaleTrialCallback()(study, retry)


def _study_identity(cfg: RunConfig, space: SearchSpace) -> dict:
    return {"objectives": list(cfg.search.objectives), "board": cfg.board.name, "task": cfg.task.name,
            "budget": cfg.budget.model_dump(), "space": space.source, "emulator": cfg.emulator.name}


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a live process: with the pid, it names one process (pids are reused).
    None for a zombie: a killed worker whose parent died too stays one where nothing reaps orphans."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except (OSError, IndexError):
        return None


def _owner() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}


def _owner_dead(owner: dict | None) -> bool:
    """Only a process on this host can be seen to be gone; other hosts' trials wait for the heartbeat."""
    if not owner or owner.get("host") != socket.gethostname():
        return False
    return _process_start(int(owner["pid"])) != owner.get("start")


def _older_than(start, seconds: float) -> bool:
    """Optuna stamps datetime_start with the creating host's local time (naive), as datetime.now() reads."""
    import datetime

    return start is not None and (datetime.datetime.now() - start).total_seconds() > seconds


class Search:
    def __init__(self, cfg: RunConfig, log: Callable[[str], None] = print, progress: Quiet | None = None):
        self.cfg = cfg
        self.log = log
        self.progress = progress or Quiet()  # told when each trial starts and ends (autotiny.progress)
        self.space = load_space(cfg.search.space or cfg.task.space)
        self.output_dir = Path(cfg.search.output_dir)
        self.tracker = Tracker(cfg.tracking)
        self.signals = StopSignals()
        self.data: TaskData | None = None
        self.runner = None
        self.run_states: list[str] = []

    # ---- counting -------------------------------------------------------------------------------
    def _states(self, trials) -> list[str]:
        """Per trial: complete | infeasible | pruned (stopped between epochs) | failed (retries left) |
        exhausted | retried (superseded by its retry) | interrupted | lost (its process died) | running |
        queued | surplus (started past the study's cap)"""
        from optuna.trial import TrialState

        retried = {t.user_attrs.get("retry_of") for t in trials} - {None}
        out = []
        for t in trials:
            if t.state == TrialState.COMPLETE:
                out.append("complete" if t.user_attrs.get("feasible") else "infeasible")
            elif t.state == TrialState.RUNNING:
                out.append("running")
            elif t.state == TrialState.WAITING:
                out.append("queued")
            elif t.state == TrialState.PRUNED:
                out.append("pruned" if t.user_attrs.get("state") == "pruned" else "surplus")
            elif t.number in retried:
                out.append("retried")
            else:
                state = t.user_attrs.get("state") or "lost"  # no state: its process died before it could say
                if state == "failed" and t.user_attrs.get("attempt", 1) > self.cfg.search.max_retries:
                    state = "exhausted"
                out.append(state)
        return out

    def _done(self, trials=None) -> int:
        trials = self.study.get_trials(deepcopy=False) if trials is None else trials
        return sum(1 for s in self._states(trials) if s in ("complete", "infeasible", "pruned", "exhausted"))

    def _cap_reached(self, number: int, trials) -> bool:
        """n_trials is the study's cap: count what is done and what other processes started before us."""
        running = sum(1 for t, s in zip(trials, self._states(trials)) if s == "running" and t.number < number)
        return self._done(trials) + running >= self.cfg.search.n_trials

    # ---- one trial --------------------------------------------------------------------------------
    def objective(self, trial) -> tuple[float, ...]:
        import optuna

        from autotiny.pruning import Judge

        cfg, t0 = self.cfg, time.perf_counter()
        trial.set_user_attr("owner", _owner())  # first: a trial without an owner is taken for orphaned later
        trials = self.study.get_trials(deepcopy=False)
        if self._reap_lost(trials, stale=False):  # a worker of this host died mid-trial: re-queued at once
            trials = self.study.get_trials(deepcopy=False)
        if self._cap_reached(trial.number, trials):
            trial.set_user_attr("surplus", True)
            self.study.stop()
            raise optuna.TrialPruned("the study reached search.n_trials (trials of other processes)")
        trial_dir = self.output_dir / "trials" / f"{trial.number:04d}"
        retry_of = trial.user_attrs.get("retry_of")
        rec = TrialRecord(number=trial.number, attempt=trial.user_attrs.get("attempt", 1), retry_of=retry_of)
        try:
            rec.mlflow_run_id = self.tracker.start_trial(trial.number, cfg.search.study_name) or ""
        except Exception as e:  # tracking trouble must not lose the trial itself
            self.log(f"[trial {trial.number}] warning: MLflow: {e}")
        if rec.mlflow_run_id:
            trial.set_user_attr("mlflow_run_id", rec.mlflow_run_id)
        header = f"[trial {trial.number} ({self._done(trials) + 1}/{cfg.search.n_trials})]"
        self.progress.trial_started(trial.number, self._done(trials) + 1, trials)
        outcome: BaseException | None = None
        try:
            if self.signals.requested:
                raise KeyboardInterrupt
            spec = suggest(self.space, trial)
            rec.candidate, rec.description = spec.to_dict(), get_task(cfg.task).describe(spec)
            again = f" (retry of trial {retry_of}, attempt {rec.attempt})" if retry_of is not None else ""
            self.log(f"{header} {rec.description}{again}")
            earlier = self._earlier_answer(trial)
            if earlier is not None:  # TPE in a small space proposes a candidate twice: do not train it again
                done = dataclasses.replace(earlier, number=trial.number, reused_from=earlier.number, timings={},
                                           stage="")
            else:
                judge = self.runner.judge = Judge(self.study, trial, cfg.search)  # asked after each epoch
                done = self.runner.run(spec, trial.number, trial_dir, seed=cfg.search.seed + trial.number)
                if done.state == "pruned" and judge.reason:
                    done.reason = judge.reason
            done.mlflow_run_id, done.attempt, done.retry_of = rec.mlflow_run_id, rec.attempt, rec.retry_of
            rec = done
        except TrialFailed as e:
            rec.state, rec.reason, rec.stage, rec.timings = "failed", e.reason, e.stage, e.timings
            outcome = e
        except KeyboardInterrupt as e:
            rec.state, rec.stage = "interrupted", getattr(self.runner, "stage", "")
            rec.reason = f"interrupted by {self.signals.name}"
            outcome = e
        except Exception as e:  # suggest() or the runner's plumbing
            rec.state, rec.reason = "failed", f"{type(e).__name__}: {e}".splitlines()[0][:500]
            outcome = e
        rec.study = {"name": cfg.search.study_name, "task": cfg.task.name, "board": cfg.board.name,
                     "emulator": cfg.emulator.name, "storage": cfg.search.storage_url()}
        results.to_optuna(trial, rec)
        try:
            trial_json = results.write_trial_json(rec, trial_dir)
        except OSError as e:  # the record itself is safe in the study; only its file copy is missing
            self.log(f"{header} warning: cannot write {trial_dir / 'trial.json'}: {e}")
            trial_json = None
        try:
            results.to_mlflow(self.tracker, rec, trial_json)
        except Exception as e:
            self.log(f"{header} warning: MLflow logging failed: {e}")
        self.run_states.append(rec.state)
        self.log(results.console_line(rec, header, time.perf_counter() - t0))
        self.progress.trial_done(rec)
        if outcome is not None:
            raise outcome
        if rec.state == "pruned":  # Optuna's state PRUNED; the record says why and at which epoch
            raise optuna.TrialPruned(rec.reason)
        return results.objective_values(rec, list(cfg.search.objectives))

    def _earlier_answer(self, trial) -> TrialRecord | None:
        """The record of a finished trial with exactly these parameters, unless repeats are asked for."""
        from optuna.trial import TrialState

        if self.cfg.search.repeat_candidates or trial.user_attrs.get("retry_of") is not None:
            return None
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.number != trial.number and t.params == trial.params:
                rec = results.record_of(t)
                if rec is not None and rec.reused_from is None:
                    return rec
        return None

    def _after_trial(self, study, frozen) -> None:
        if self.signals.requested or self._done() >= self.cfg.search.n_trials:
            study.stop()

    # ---- the study --------------------------------------------------------------------------------
    def _open_study(self, create: bool = True):
        import optuna

        cfg = self.cfg
        storage = _storage(cfg)
        directions = [OBJECTIVES[o][0] for o in cfg.search.objectives]
        identity = _study_identity(cfg, self.space)
        try:
            existing = optuna.load_study(study_name=cfg.search.study_name, storage=storage)
        except KeyError:
            existing = None
        if existing is None and not create:
            raise ConfigError(f"search.worker={cfg.search.worker}: no study named {cfg.search.study_name} in "
                              f"{cfg.search.storage_url()}; a worker joins a study its controller created "
                              f"(run the sweep with search.workers=N)")
        if existing is not None:
            old = existing.user_attrs.get("identity")
            if old and old != identity:
                changed = [k for k in identity if old.get(k) != identity[k]]
                raise ConfigError(
                    f"search.study_name={cfg.search.study_name} already holds a study with a different "
                    f"{', '.join(changed)}; choose a new search.study_name to start another study")
            n = len(existing.trials)
        else:
            n = 0
        from autotiny.pruning import optuna_pruner

        study = optuna.create_study(study_name=cfg.search.study_name, storage=storage,
                                    directions=directions, sampler=_sampler(cfg, n), load_if_exists=True,
                                    pruner=optuna_pruner(cfg.search, len(directions)))
        if existing is None:
            study.set_user_attr("identity", identity)
        return study

    def _reap_lost(self, trials=None, stale: bool = True) -> list[int]:
        """Trials left RUNNING by a process of this host that died: fail and re-queue them now (a resume
        must not wait for the heartbeat's grace period); `stale`: also those whose heartbeat stopped, and
        those without an owner started more than search.grace_s ago — their process died between Optuna
        creating the trial and the objective's first line, before any heartbeat, where Optuna's stale
        check never looks."""
        import optuna
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        storage = self.study._storage
        if trials is None:
            trials = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        lost = []
        for t in trials:
            owner = t.user_attrs.get("owner")
            if t.state != TrialState.RUNNING or not (_owner_dead(owner) or stale and owner is None and _older_than(
                    t.datetime_start, self.cfg.search.grace_s)):
                continue
            try:
                storage.set_trial_user_attr(t._trial_id, "state", "lost")
                storage.set_trial_user_attr(t._trial_id, "reason", "its search process died mid-trial")
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # another worker (or the heartbeat) failed it first, and re-queued it
            requeue_lost(self.study, t)
            lost.append(t.number)
        if stale:
            optuna.storages.fail_stale_trials(self.study)  # calls requeue_lost for each it fails
        return lost

    def done(self) -> int:
        """Trials that count toward search.n_trials, across every process of the study."""
        return self._done()

    def reap_lost(self) -> list[int]:
        """Fail and re-queue what dead processes left running, close their MLflow runs (autotiny.cluster
        calls it when its workers have exited); the trial numbers found."""
        lost = self._reap_lost()
        self._close_lost_runs()
        return lost

    def _close_lost_runs(self) -> None:
        """Every MLflow run of a trial that died ends KILLED, never stays RUNNING."""
        from optuna.trial import TrialState

        if not self.tracker.client:
            return
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
            # a dead trial: failed by the reaper (state lost) or by the heartbeat (no state of its own)
            if t.user_attrs.get("state") in (None, "lost") and t.user_attrs.get("mlflow_run_id"):
                try:
                    if self.tracker.client.get_run(t.user_attrs["mlflow_run_id"]).info.status == "RUNNING":
                        self.tracker.end_lost_trial(t.user_attrs["mlflow_run_id"], "its search process died")
                except Exception:
                    pass

    def _enqueue_retries(self, remaining: int) -> int:
        """Re-run, with the same parameters, trials that were interrupted or lost, and failed ones with
        retries left; once each (a retry that fails again is retried through its own record)."""
        trials = self.study.get_trials(deepcopy=False)
        n = 0
        for t, state in zip(trials, self._states(trials)):
            if n >= remaining:
                break
            if state in ("failed", "interrupted", "lost") and t.params:
                attempt = t.user_attrs.get("attempt", 1) + (1 if state == "failed" else 0)
                self.study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "attempt": attempt},
                                         skip_if_exists=False)
                n += 1
        return n

    def run(self) -> SearchOutcome:
        """One process: prepare the study, run its trials, finish. A worker (search.worker set) joins
        the study instead of preparing it and leaves the study's MLflow run to its controller."""
        self.signals.install()
        try:
            if self.cfg.search.worker is not None:
                self.join()
            else:
                self.prepare()
            interrupted = self.work()
            if self.cfg.search.worker is not None:  # repeats run once, in the controller (autotiny.cluster)
                return self.finish(interrupted)
            return self.finish(interrupted or self.repeat())
        except BaseException:  # whatever stops the study, its MLflow run must not stay RUNNING
            if self.owns_study_run:
                self.tracker.abandon_study()
            raise
        finally:
            if self.runner is not None:
                self.runner.close()
            self.signals.restore()

    owns_study_run = False  # this process opened the study's MLflow parent run, and closes it

    def _check(self) -> None:
        import warnings

        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        # heartbeats and grouped TPE are marked experimental; the warning is noise to our users
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        from autotiny.measure.backend import ensure_available
        from autotiny.preflight import check_run

        with self.signals.interruptible():
            # stores, folders, every data file and the toolchain: before TensorFlow and the first trial
            dataset = check_run(self.cfg)
            ensure_available(self.cfg)
            self.data = TaskData(self.cfg, dataset=dataset)

    def prepare(self) -> None:
        """Create or reopen the study, its MLflow experiment and parent run; fail and re-queue what an
        earlier run left. Runs once per study run, before any worker (first-time creation races)."""
        cfg = self.cfg
        self._check()
        self.study = self._open_study()
        lost = self._reap_lost()
        self.tracker.setup()
        self._close_lost_runs()
        parent = self.tracker.start_study(cfg.search.study_name, self.study.user_attrs.get("mlflow_parent_run_id"),
                                          {"task": cfg.task.name, "board": cfg.board.name,
                                           "sampler": cfg.search.sampler, "n_trials": cfg.search.n_trials,
                                           "objectives": ",".join(cfg.search.objectives),
                                           **{f"budget.{k}": v for k, v in cfg.budget.model_dump().items()},
                                           "budget.ram_bytes": cfg.budget.ram_bytes(cfg.board),
                                           "budget.flash_bytes": cfg.budget.flash_bytes(cfg.board)})
        self.owns_study_run = bool(parent)
        if parent:  # where the workers log: they read these from the study, never create their own
            self.study.set_user_attr("mlflow_parent_run_id", parent)
            self.study.set_user_attr("mlflow_experiment_id", self.tracker.experiment_id)
        trials = self.study.get_trials(deepcopy=False)
        done = self._done(trials)
        self.progress.resumed(trials, done)
        remaining = max(cfg.search.n_trials - done, 0)
        retries = self._enqueue_retries(remaining)
        ram, flash = cfg.budget.ram_bytes(cfg.board), cfg.budget.flash_bytes(cfg.board)
        self.log(f"study {cfg.search.study_name}: {done}/{cfg.search.n_trials} trials done, running {remaining}"
                 + (f" ({retries} of them re-run interrupted, lost or failed trials)" if retries else "")
                 + f" | board {cfg.board.name}: budget RAM {ram / 1024:.1f} KB, flash {flash / 1024:.1f} KB"
                 + (f", latency {cfg.budget.latency_ms:g} ms" if cfg.budget.latency_ms else "")
                 + (f", energy {cfg.budget.energy_uj:g} uJ" if cfg.budget.energy_uj else ""))
        if lost:
            self.log(f"trials {', '.join(map(str, lost))} were left running by a search that died: marked lost "
                     f"and queued again")
        self.log(f"data: {self.data.dataset}")
        if (heard := self.data.task.training_noise(self.data.dataset)) is not None:
            self.log(heard)
        self.log(f"storage: {cfg.search.storage_url()}")

    def join(self) -> None:
        """A worker: open the study its controller prepared and log under its MLflow run."""
        cfg = self.cfg
        self._check()
        self.study = self._open_study(create=False)
        self.tracker.join(self.study.user_attrs.get("mlflow_experiment_id"),
                          self.study.user_attrs.get("mlflow_parent_run_id"))
        self.log(f"worker {cfg.search.worker} joined study {cfg.search.study_name}: "
                 f"{self._done()}/{cfg.search.n_trials} trials done")

    def work(self) -> bool:
        """Run trials in this process inside `study.optimize` (where Optuna's heartbeat runs) until the
        study holds search.n_trials, the timeout passes or a signal arrives; True when interrupted."""
        cfg = self.cfg
        remaining = max(cfg.search.n_trials - self._done(), 0)
        interrupted = self.signals.requested
        if remaining > 0 and not interrupted:
            self.runner = make_runner(cfg, self.signals, self.data, self.log)
            try:
                self.runner.start()
                self.study.optimize(self.objective, n_trials=remaining, timeout=cfg.search.timeout_s,
                                    catch=(Exception,), callbacks=[self._after_trial],
                                    gc_after_trial=cfg.search.runner == "inline")  # the worker holds the models
            except KeyboardInterrupt:
                interrupted = True
            except TrialFailed as e:  # the worker could not start (TensorFlow import, firmware build)
                raise ConfigError(f"the trial worker could not start: {e.reason}") from None
        return interrupted or self.signals.requested

    def repeat(self) -> bool:
        """search.repeats: train the top search.repeat_top feasible Pareto candidates again with other seeds
        (autotiny.repeats), those the study does not hold yet; True when a signal stopped it."""
        from autotiny import repeats
        from autotiny.runner import _no_judge
        from autotiny.space import CandidateSpec

        s = self.cfg.search
        if s.repeats == 0 or self.signals.requested:
            return self.signals.requested
        top = results.ranked(self._outcome(False).pareto, list(s.objectives))[:s.repeat_top]
        if not repeats.missing(self.study, top, s.repeats):
            return False
        if self.runner is None:
            self.runner = make_runner(self.cfg, self.signals, self.data, self.log)
            self.runner.start()
        self.runner.judge = _no_judge  # a repeat answers about a seed: it always trains to the end

        def train(rec: TrialRecord, seed: int, folder: Path) -> TrialRecord:
            return self.runner.run(CandidateSpec.from_dict(rec.candidate), rec.number, folder, seed=seed)

        numbers = ", ".join(str(r.number) for r in top)
        self.progress.phase(f"repeats: trials {numbers} with {s.repeats} other seeds each")
        try:
            n = repeats.run(self.study, top, s.repeats, train, self.output_dir, self.log)
        except KeyboardInterrupt:
            return True
        finally:
            self.progress.phase("")
        if n:
            self.log(f"repeats: {n} runs with other seeds of trials {numbers}")
        return self.signals.requested

    def finish(self, interrupted: bool) -> SearchOutcome:
        """The study's outputs (pareto.csv, best/: views of the whole study) and, where this process
        opened it, the end of the study's MLflow run."""
        outcome = self._outcome(interrupted)
        results.write_outputs(self.output_dir, outcome.pareto, outcome.best)
        importances = self._write_importances()
        if self.owns_study_run:
            self.tracker.end_study(
                {"n_complete": outcome.n_complete, "n_infeasible": outcome.n_infeasible,
                 "n_failed": outcome.n_failed, "n_pruned": outcome.n_pruned,
                 "best_val_accuracy": outcome.best.metrics.get("val_accuracy") if outcome.best else None,
                 "best_test_accuracy": outcome.best.metrics.get("test_accuracy") if outcome.best else None,
                 **{f"best_{k}": v for k, v in (outcome.best.metrics if outcome.best else {}).items()
                    if k.endswith(("_mean", "_std")) or k == "n_seeds"}},
                [self.output_dir / "pareto.csv", importances], interrupted)
        for rec in outcome.pareto:  # each repeated candidate's own run gets its mean and spread
            seeds = {k: v for k, v in rec.metrics.items() if k.endswith(("_mean", "_std")) or k == "n_seeds"}
            if seeds and rec.mlflow_run_id:
                try:
                    self.tracker.log_metrics(rec.mlflow_run_id, seeds)
                except Exception as e:
                    self.log(f"warning: MLflow: trial {rec.number}'s mean over seeds: {e}")
        return outcome

    def _write_importances(self) -> Path:
        """param_importances.json: Optuna's parameter importances per objective (autotiny.importance)."""
        import json

        from autotiny.importance import SOURCE, param_importances

        try:
            found, note = param_importances(self.study, list(self.cfg.search.objectives))
        except Exception as e:  # a figure about the study, never a reason to lose its outputs
            found, note = {}, f"not computed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        path = self.output_dir / "param_importances.json"
        results.atomic_write(path, json.dumps({"importances": found, "note": note, "source": SOURCE}, indent=2))
        return path

    def _outcome(self, interrupted: bool) -> SearchOutcome:
        trials = self.study.get_trials(deepcopy=False)
        states = self._states(trials)
        from autotiny import repeats

        feasible = [r for t, s in zip(trials, states)
                    if s == "complete" and (r := results.record_of(t)) and r.reused_from is None]
        repeats.summarise(feasible, self.study.user_attrs.get(repeats.ATTR))
        pareto = results.pareto_front(feasible, list(self.cfg.search.objectives))
        ran = self.run_states
        if interrupted:
            code = self.signals.exit_code
        elif ran and all(s == "failed" for s in ran):
            code = 1
        else:
            code = 0
        return SearchOutcome(
            study_name=self.cfg.search.study_name, storage=self.cfg.search.storage_url(),
            tracking_uri=self.tracker.uri if self.tracker.enabled else None,
            n_complete=len(feasible), n_infeasible=states.count("infeasible"),
            n_failed=states.count("failed") + states.count("exhausted"), n_pruned=states.count("pruned"),
            pareto=pareto, best=results.best_of(pareto, list(self.cfg.search.objectives)),
            output_dir=self.output_dir,
            interrupted=interrupted, exit_code=code, run_states=list(ran))
