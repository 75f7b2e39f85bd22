"""The study: Optuna asks for candidates, the pipeline answers, MLflow remembers.

Infeasible candidates are COMPLETE trials whose constraints are violated (not pruned):
NSGA-II and constrained TPE learn only from complete trials, and this is how they learn
where the budget boundary lies.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autotiny.config import RunConfig
from autotiny.errors import ConfigError
from autotiny.pipeline import Timings, TaskData, precheck, train_and_measure, write_c_header
from autotiny.space import CandidateSpec, SearchSpace, load_space, suggest
from autotiny.tracking import Tracker

# objective name → (direction, user attribute holding its value)
OBJECTIVES = {
    "accuracy": ("maximize", "val_accuracy"),
    "flash": ("minimize", "flash_bytes"),
    "ram": ("minimize", "ram_bytes"),
    "latency": ("minimize", "latency_ms"),
    "energy": ("minimize", "energy_uj"),
}
FIGURES = ("flash_bytes", "ram_bytes", "macs", "latency_ms", "energy_uj")
COUNTERS = ("cycles", "instructions", "peak_stack_bytes")  # emulated runs only


@dataclass
class ParetoRow:
    trial: int
    val_accuracy: float
    test_accuracy: float
    flash_bytes: int
    ram_bytes: int
    latency_ms: float
    energy_uj: float
    run_id: str
    sources: dict[str, str] = field(default_factory=dict)
    tflite_path: str = ""


@dataclass
class SearchOutcome:
    study_name: str
    storage: str
    tracking_uri: str | None
    n_complete: int
    n_infeasible: int
    n_failed: int
    pareto: list[ParetoRow]
    best: ParetoRow | None
    output_dir: Path
    interrupted: bool = False


def _sampler(cfg: RunConfig, n_existing: int):
    import optuna

    s = cfg.search
    seed = s.seed + n_existing  # a resumed study must not replay the first trials' random draws
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
    # Heartbeats fail a trial whose worker died (SIGKILL, lost node) so a resume retries it.
    return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=120)


def _study_identity(cfg: RunConfig, space: SearchSpace) -> dict:
    return {"objectives": list(cfg.search.objectives), "board": cfg.board.name, "task": cfg.task.name,
            "budget": cfg.budget.model_dump(), "space": space.source, "emulator": cfg.emulator.name}


def _describe(spec: CandidateSpec) -> str:
    m, f, t = spec.model_params, spec.frontend_params, spec.training
    arch = (f"{spec.family} b{m.n_blocks} c{m.channels} k{'x'.join(map(str, m.first_kernel))} "
            f"s{'x'.join(map(str, m.first_stride))}") if spec.family == "ds_cnn" else spec.family
    fe = f"{spec.frontend} w{f.window_ms} m{f.n_mels} c{f.n_mfcc}" if spec.frontend == "mfcc" else spec.frontend
    return f"{arch} | {fe} | ep{t.epochs} lr{t.learning_rate:.2g} bs{t.batch_size}"


def _write_layers(m, clock_hz: int, path: Path) -> None:
    """Per-layer cycles of the emulated run: where a candidate's latency goes."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["op_index", "op", "cycles", "instructions", "ms"])
        for idx, op, cycles, instructions in m.layers:
            w.writerow([idx, op, cycles, instructions, f"{cycles / clock_hz * 1e3:.4f}"])


def _kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


class Search:
    def __init__(self, cfg: RunConfig, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.log = log
        self.space = load_space(cfg.search.space or cfg.task.space)
        self.output_dir = Path(cfg.search.output_dir)
        self.tracker = Tracker(cfg.tracking)
        self.data: TaskData | None = None
        self._latency_source = "emulated" if cfg.emulator.name == "builtin" else "estimated"

    # ---- one trial --------------------------------------------------------------------------
    def objective(self, trial) -> tuple[float, ...]:
        cfg, timings, t0 = self.cfg, Timings(), time.perf_counter()
        trial_dir = self.output_dir / "trials" / f"{trial.number:04d}"
        state, reason, metrics, artifacts, spec = "failed", "", {}, [], None
        header = f"[trial {trial.number} ({self._done() + 1}/{cfg.search.n_trials})]"
        try:
            spec = suggest(self.space, trial)
            self.log(f"{header} {_describe(spec)}")
            pre = precheck(spec, cfg, timings, seed=cfg.search.seed + trial.number)
            m, check = pre.measurement, pre.check
            trained = check.feasible  # budget first: only a candidate that fits is trained
            trial.set_user_attr("precheck_s", round(timings.seconds.get("precheck", 0), 2))
            if trained:
                result = train_and_measure(pre, spec, cfg, self.data, timings)
                m, check = result.measurement, result.check
                trial_dir.mkdir(parents=True, exist_ok=True)
                (trial_dir / "model.tflite").write_bytes(result.tflite)
                from autotiny.evaluate import confusion_png

                confusion_png(result.test, cfg.task.classes, trial_dir / "confusion_matrix.png",
                              f"trial {trial.number}: int8 test accuracy {result.test.accuracy:.3f} "
                              f"(n={result.test.n})")
                artifacts += [trial_dir / "model.tflite", trial_dir / "confusion_matrix.png"]
                trial.set_user_attr("val_accuracy", result.val.accuracy)
                trial.set_user_attr("test_accuracy", result.test.accuracy)
                trial.set_user_attr("tflite_path", str((trial_dir / "model.tflite").resolve()))
                trial.set_user_attr("epochs_run", result.epochs_run)
                metrics.update(val_accuracy=result.val.accuracy, test_accuracy=result.test.accuracy,
                               final_loss=result.final_loss)
            else:
                trial.set_user_attr("val_accuracy", 0.0)  # never trained: nothing learnt
            trial.set_user_attr("trained", trained)
            for name in FIGURES + COUNTERS:
                fig = getattr(m, name)
                if fig is None:
                    continue
                trial.set_user_attr(name, fig.value)
                trial.set_user_attr(f"{name}_source", fig.source)
                metrics[name] = fig.value
            trial_dir.mkdir(parents=True, exist_ok=True)
            if m.layers:
                _write_layers(m, cfg.board.clock_hz, trial_dir / "layers.csv")
                artifacts.append(trial_dir / "layers.csv")
            for key, over in check.violations.items():
                trial.set_constraint(key, over)
            trial.set_user_attr("feasible", check.feasible)
            state, reason = ("complete", "") if check.feasible else ("infeasible", check.reason)
            if reason:
                trial.set_user_attr("reason", reason)
            (trial_dir / "measurement.json").write_text(json.dumps(m.to_dict(), indent=2))
            artifacts.append(trial_dir / "measurement.json")
            return tuple(float(trial.user_attrs[OBJECTIVES[o][1]]) for o in cfg.search.objectives)
        except KeyboardInterrupt:
            state, reason = "interrupted", "interrupted by the user"
            trial.set_user_attr("interrupted", True)
            raise
        except Exception as e:
            reason = f"{type(e).__name__}: {e}".splitlines()[0][:500]
            trial.set_user_attr("error", reason)
            raise
        finally:
            elapsed = time.perf_counter() - t0
            metrics["feasible"] = 1.0 if state == "complete" else 0.0
            metrics["trial_seconds"] = elapsed
            for stage, secs in timings.seconds.items():
                metrics[f"time_{stage}_s"] = secs
            trial.set_user_attr("state", state)
            trial.set_user_attr("timings", {k: round(v, 3) for k, v in timings.seconds.items()})
            params = spec.flat() if spec else dict(trial.params)
            sources = {f"source.{k}": str(trial.user_attrs.get(f"{k}_source", "")) for k in FIGURES
                       if f"{k}_source" in trial.user_attrs}
            tags = {**sources, **({"autotiny.reason": reason} if reason else {})}
            try:
                run_id = self.tracker.log_trial(trial.number, params, metrics, tags, artifacts, state)
                if run_id:
                    trial.set_user_attr("mlflow_run_id", run_id)
            except Exception as e:  # tracking trouble must not lose the trial itself
                self.log(f"{header} warning: MLflow logging failed: {e}")
            self._report(header, state, reason, metrics, elapsed)
            if "tf_keras" in sys.modules:  # not mid-import after a Ctrl-C: that would re-import TF here
                sys.modules["tf_keras"].backend.clear_session()  # memory stays flat over many trials

    def _report(self, header: str, state: str, reason: str, metrics: dict, elapsed: float) -> None:
        if state == "complete":
            self.log(f"{header} ok  val {metrics['val_accuracy']:.3f} test {metrics['test_accuracy']:.3f} | "
                     f"flash {_kb(metrics['flash_bytes'])} RAM {_kb(metrics['ram_bytes'])} "
                     f"{metrics['latency_ms']:.1f} ms ({self._latency_source}) | {elapsed:.0f} s")
        elif state == "infeasible":
            self.log(f"{header} over budget, not trained: {reason} | {elapsed:.0f} s")
        else:
            self.log(f"{header} {state}: {reason} | {elapsed:.0f} s")

    # ---- the study --------------------------------------------------------------------------
    def _done(self) -> int:
        from optuna.trial import TrialState

        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.state == TrialState.COMPLETE
                   or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")))

    def _open_study(self):
        import optuna

        cfg = self.cfg
        storage = _storage(cfg)
        directions = [OBJECTIVES[o][0] for o in cfg.search.objectives]
        identity = _study_identity(cfg, self.space)
        try:
            existing = optuna.load_study(study_name=cfg.search.study_name, storage=storage)
        except KeyError:
            existing = None
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
        study = optuna.create_study(study_name=cfg.search.study_name, storage=storage,
                                    directions=directions, sampler=_sampler(cfg, n), load_if_exists=True)
        if existing is None:
            study.set_user_attr("identity", identity)
        optuna.storages.fail_stale_trials(study)
        return study

    def run(self) -> SearchOutcome:
        import warnings

        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        # heartbeats and grouped TPE are marked experimental; the warning is noise to our users
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        cfg = self.cfg
        from autotiny.measure.backend import ensure_available

        ensure_available(cfg)
        self.data = TaskData(cfg)  # a missing dataset fails here, before any study exists
        self.study = self._open_study()
        self.tracker.setup()
        parent = self.tracker.start_study(cfg.search.study_name, self.study.user_attrs.get("mlflow_parent_run_id"),
                                          {"task": cfg.task.name, "board": cfg.board.name,
                                           "sampler": cfg.search.sampler, "n_trials": cfg.search.n_trials,
                                           "objectives": ",".join(cfg.search.objectives),
                                           **{f"budget.{k}": v for k, v in cfg.budget.model_dump().items()},
                                           "budget.ram_bytes": cfg.budget.ram_bytes(cfg.board),
                                           "budget.flash_bytes": cfg.budget.flash_bytes(cfg.board)})
        if parent:
            self.study.set_user_attr("mlflow_parent_run_id", parent)
        done = self._done()
        remaining = cfg.search.n_trials - done
        self.log(f"study {cfg.search.study_name}: {done}/{cfg.search.n_trials} trials done, running {max(remaining, 0)}"
                 f" | board {cfg.board.name}: budget RAM {_kb(cfg.budget.ram_bytes(cfg.board))}, "
                 f"flash {_kb(cfg.budget.flash_bytes(cfg.board))}"
                 + (f", latency {cfg.budget.latency_ms:g} ms" if cfg.budget.latency_ms else "")
                 + (f", energy {cfg.budget.energy_uj:g} uJ" if cfg.budget.energy_uj else ""))
        self.log(f"data: {self.data.dataset}")
        self.log(f"storage: {cfg.search.storage_url()}")
        interrupted = False
        if remaining > 0:
            try:
                self.study.optimize(self.objective, n_trials=remaining, timeout=cfg.search.timeout_s,
                                    catch=(Exception,), gc_after_trial=True)
            except KeyboardInterrupt:
                interrupted = True
        outcome = self._outcome(interrupted)
        self._write_outputs(outcome)
        self.tracker.end_study(
            {"n_complete": outcome.n_complete, "n_infeasible": outcome.n_infeasible, "n_failed": outcome.n_failed,
             "best_val_accuracy": outcome.best.val_accuracy if outcome.best else None,
             "best_test_accuracy": outcome.best.test_accuracy if outcome.best else None},
            [self.output_dir / "pareto.csv"], interrupted)
        return outcome

    def _outcome(self, interrupted: bool) -> SearchOutcome:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        feasible = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("feasible")]
        rows = [ParetoRow(
            trial=t.number, val_accuracy=t.user_attrs["val_accuracy"], test_accuracy=t.user_attrs["test_accuracy"],
            flash_bytes=int(t.user_attrs["flash_bytes"]), ram_bytes=int(t.user_attrs["ram_bytes"]),
            latency_ms=t.user_attrs["latency_ms"], energy_uj=t.user_attrs["energy_uj"],
            run_id=t.user_attrs.get("mlflow_run_id", "-"),
            sources={k: t.user_attrs.get(f"{k}_source", "") for k in FIGURES},
            tflite_path=t.user_attrs.get("tflite_path", "")) for t in feasible]
        pareto = pareto_front(rows, list(self.cfg.search.objectives))
        best = max(pareto, key=lambda r: (r.val_accuracy, -r.flash_bytes, -r.ram_bytes), default=None)
        return SearchOutcome(
            study_name=self.cfg.search.study_name, storage=self.cfg.search.storage_url(),
            tracking_uri=self.tracker.uri if self.tracker.enabled else None,
            n_complete=len(feasible),
            n_infeasible=sum(1 for t in trials if t.state == TrialState.COMPLETE and not t.user_attrs.get("feasible")),
            n_failed=sum(1 for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")),
            pareto=sorted(pareto, key=lambda r: -r.val_accuracy), best=best,
            output_dir=self.output_dir, interrupted=interrupted)

    def _write_outputs(self, outcome: SearchOutcome) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output_dir / "pareto.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["trial", "val_accuracy", "test_accuracy", "flash_bytes", "ram_bytes", "latency_ms",
                        "energy_uj", "mlflow_run_id", "sources"])
            for r in outcome.pareto:
                w.writerow([r.trial, f"{r.val_accuracy:.4f}", f"{r.test_accuracy:.4f}", r.flash_bytes,
                            r.ram_bytes, f"{r.latency_ms:.3f}", f"{r.energy_uj:.1f}", r.run_id,
                            json.dumps(r.sources)])
        best = outcome.best
        if best and best.tflite_path and Path(best.tflite_path).exists():
            d = self.output_dir / "best"
            d.mkdir(exist_ok=True)
            model = Path(best.tflite_path).read_bytes()
            (d / "model.tflite").write_bytes(model)
            write_c_header(model, d / "model.h")
            (d / "trial.json").write_text(json.dumps(best.__dict__, indent=2, default=str))


def dominates(a: ParetoRow, b: ParetoRow, objectives: list[str]) -> bool:
    better_or_equal, strictly = True, False
    for o in objectives:
        direction, attr = OBJECTIVES[o]
        va, vb = getattr(a, attr), getattr(b, attr)
        if direction == "maximize":
            va, vb = -va, -vb
        if va > vb:
            better_or_equal = False
        elif va < vb:
            strictly = True
    return better_or_equal and strictly


def pareto_front(rows: list[ParetoRow], objectives: list[str]) -> list[ParetoRow]:
    return [r for r in rows if not any(dominates(o, r, objectives) for o in rows if o is not r)]


def format_table(outcome: SearchOutcome) -> str:
    head = ["trial", "val acc", "test acc", "flash", "RAM", "latency*", "energy*", "MLflow run"]
    body = [[str(r.trial), f"{r.val_accuracy:.3f}", f"{r.test_accuracy:.3f}", _kb(r.flash_bytes),
             _kb(r.ram_bytes), f"{r.latency_ms:.1f} ms", f"{r.energy_uj:.0f} uJ", r.run_id]
            for r in outcome.pareto]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    src = outcome.pareto[0].sources if outcome.pareto else {}
    ram = {"tflm": "tflm (TFLM arena, 64-bit host)",
           "emulated": "emulated (static + arena + painted peak stack)"}.get(src.get("ram_bytes"), "?")
    flash = {"file": "file (.tflite size)", "emulated": "emulated (firmware + model blob)"}.get(
        src.get("flash_bytes"), "?")
    notes = f"flash: {flash}, RAM: {ram}, *latency/energy: {src.get('latency_ms', '?')}"
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body), f"sources: {notes}"])
