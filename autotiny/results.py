"""Every output of a study is a view of its TrialRecords: Optuna attributes, MLflow runs,
`trials/NNNN/trial.json`, `pareto.csv`, `best/`, the console lines and the Pareto table.

The record lives in the Optuna study (user attribute `record`), the one store every worker
shares; pareto.csv and best/ are rebuilt from the whole study and written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from autotiny.trial import TrialRecord

# objective name → (direction, record value)
OBJECTIVES = {
    "accuracy": ("maximize", "val_accuracy_field"),  # at the task's field SNR (task.noise), else clean
    "auc": ("maximize", "val_auc_field"),  # a one-class task's ROC AUC (task=anomaly), as accuracy above
    "cost": ("minimize", "val_cost_per_1000"),  # expected cost of the tuned decision rule (task.costs)
    "flash": ("minimize", "flash_bytes"),
    "ram": ("minimize", "ram_bytes"),
    "latency": ("minimize", "latency_ms"),
    "energy": ("minimize", "energy_uj"),
}
MAIN_FIGURES = ("flash_bytes", "ram_bytes", "macs", "latency_ms", "energy_uj")


def objective_values(rec: TrialRecord, objectives: list[str]) -> tuple[float, ...]:
    out = []
    for o in objectives:
        v = rec.value(OBJECTIVES[o][1])
        out.append(0.0 if v is None and o in ("accuracy", "auc") else float("inf") if v is None else float(v))
    return tuple(out)


def source_label(fig) -> str:
    """'emulated', or 'emulated (assumption: ...)' where a figure rests on an assumed constant."""
    assumption = getattr(fig, "assumption", None)
    return f"{fig.source} (assumption: {assumption})" if assumption else fig.source


# ---- Optuna -----------------------------------------------------------------------------------

def to_optuna(trial, rec: TrialRecord) -> None:
    """The record and the flat attributes people filter on (optuna-dashboard, scripts)."""
    trial.set_user_attr("record", rec.to_dict())
    flat: dict[str, Any] = {"state": rec.state, "trained": rec.trained, "feasible": rec.feasible,
                            "timings": rec.timings, "attempt": rec.attempt}
    flat["val_accuracy"] = rec.metrics.get("val_accuracy", 0.0)  # never trained: nothing learnt
    if "test_accuracy" in rec.metrics:
        flat["test_accuracy"] = rec.metrics["test_accuracy"]
    for name, fig in rec.figures.items():
        flat[name], flat[f"{name}_source"] = fig.value, source_label(fig)
    if rec.reason:
        flat["reason"] = rec.reason
    if rec.state == "failed":
        flat["error"] = rec.reason
    if rec.state == "interrupted":
        flat["interrupted"] = True
    if "model.tflite" in rec.artifacts:
        flat["tflite_path"] = rec.artifacts["model.tflite"]
    for k, v in flat.items():
        trial.set_user_attr(k, v)
    for key, over in rec.violations.items():
        trial.set_constraint(key, over)


def record_of(frozen) -> TrialRecord | None:
    d = frozen.user_attrs.get("record")
    return TrialRecord.from_dict(d) if d else None


# ---- MLflow -----------------------------------------------------------------------------------

def to_mlflow(tracker, rec: TrialRecord, trial_json: Path | None) -> None:
    metrics: dict[str, float] = {k: v for k, v in rec.metrics.items()}
    for name, fig in rec.figures.items():
        if fig.value not in (float("inf"), float("-inf")):
            metrics[name] = fig.value
    metrics["feasible"] = 1.0 if rec.feasible and rec.state == "complete" else 0.0
    metrics["trial_seconds"] = sum(rec.timings.values())
    metrics.update({f"time_{k}_s": v for k, v in rec.timings.items()})
    tags = {f"source.{k}": source_label(f) for k, f in rec.figures.items()}
    if rec.reason:
        tags["autotiny.reason"] = rec.reason
    if rec.stage:
        tags["autotiny.stage"] = rec.stage
    if rec.retry_of is not None:
        tags["autotiny.retry_of"] = str(rec.retry_of)
    if rec.reused_from is not None:
        tags["autotiny.reused_from"] = str(rec.reused_from)
    artifacts = [Path(p) for p in rec.artifacts.values()] + ([trial_json] if trial_json else [])
    tracker.finish_trial(rec.mlflow_run_id, rec.params, metrics, tags, artifacts, rec.state)


# ---- files ------------------------------------------------------------------------------------

def atomic_write(path: Path, data: bytes | str) -> None:
    """Readers (and other workers) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_trial_json(rec: TrialRecord, trial_dir: Path) -> Path:
    path = trial_dir / "trial.json"
    atomic_write(path, json.dumps(rec.to_dict(), indent=2, default=str))
    return path


PARETO_HEAD = ["trial", "val_accuracy", "test_accuracy", "test_accuracy_field", "test_cost_per_1000", "flash_bytes",
               "ram_bytes", "latency_ms", "energy_uj", "mlflow_run_id", "sources"]


def pareto_csv(rows: list[TrialRecord]) -> str:
    """One row per Pareto candidate: its figures, their sources, and every candidate parameter."""
    param_keys = sorted({k for r in rows for k in r.params})
    # search.repeats: mean and sample sd over seeds (autotiny.repeats), where a candidate was retrained
    seed_keys = [f"{k}_{s}" for k in ("val_accuracy_field", "test_accuracy_field") for s in ("mean", "std")]
    seeds = any("n_seeds" in r.metrics for r in rows)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(PARETO_HEAD + (["n_seeds", *seed_keys] if seeds else []) + param_keys)
    for r in rows:
        repeat_cells = ([f"{r.metrics.get('n_seeds', 1):.0f}"] + [f"{r.metrics[k]:.4f}" if k in r.metrics else ""
                                                                  for k in seed_keys]) if seeds else []
        w.writerow([r.number, f"{r.metrics.get('val_accuracy', 0):.4f}", f"{r.metrics.get('test_accuracy', 0):.4f}",
                    f"{r.metrics.get('test_accuracy_field', 0):.4f}", f"{r.metrics.get('test_cost_per_1000', 0):.1f}",
                    int(r.value("flash_bytes")), int(r.value("ram_bytes")), f"{r.value('latency_ms'):.3f}",
                    f"{r.value('energy_uj'):.1f}", r.mlflow_run_id or "-",
                    json.dumps({k: source_label(f) for k, f in r.figures.items() if k in MAIN_FIGURES})]
                   + repeat_cells + [r.params.get(k, "") for k in param_keys])
    return buf.getvalue()


def write_outputs(output_dir: Path, pareto: list[TrialRecord], best: TrialRecord | None) -> None:
    from autotiny.pipeline import c_header

    atomic_write(output_dir / "pareto.csv", pareto_csv(pareto))
    if best and best.artifacts.get("model.tflite") and Path(best.artifacts["model.tflite"]).exists():
        d = output_dir / "best"
        model = Path(best.artifacts["model.tflite"]).read_bytes()
        atomic_write(d / "model.tflite", model)
        atomic_write(d / "model.h", c_header(model))
        atomic_write(d / "trial.json", json.dumps(best.to_dict(), indent=2, default=str))


# ---- console ----------------------------------------------------------------------------------

def _kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def console_line(rec: TrialRecord, header: str, elapsed: float) -> str:
    if rec.reused_from is not None:
        return (f"{header} same candidate as trial {rec.reused_from}: its result is reused, not trained again "
                f"(search.repeat_candidates=true to repeat) | {elapsed:.0f} s")
    if rec.state == "complete":
        lat = rec.figures["latency_ms"]
        field = rec.metrics.get("test_accuracy_field", rec.metrics["test_accuracy"])
        auc = (f" auc val {rec.metrics['val_auc']:.3f} test {rec.metrics.get('test_auc', float('nan')):.3f}"
               if "val_auc" in rec.metrics else "")  # a one-class task (task=anomaly)
        return (f"{header} ok  val {rec.metrics['val_accuracy']:.3f} test {rec.metrics['test_accuracy']:.3f} "
                f"field {field:.3f}{auc} | "
                f"flash {_kb(rec.value('flash_bytes'))} RAM {_kb(rec.value('ram_bytes'))} "
                f"{lat.value:.1f} ms ({lat.source}) | {elapsed:.0f} s")
    if rec.state == "infeasible":
        return f"{header} over budget, not trained: {rec.reason} | {elapsed:.0f} s"
    where = f" (stage {rec.stage})" if rec.stage else ""
    return f"{header} {rec.state}{where}: {rec.reason} | {elapsed:.0f} s"


def format_table(rows: list[TrialRecord]) -> str:
    head = ["trial", "val acc", "test acc", "field acc", "flash", "RAM", "latency*", "energy*", "MLflow run"]
    body = [[str(r.number), f"{r.metrics.get('val_accuracy', 0):.3f}", f"{r.metrics.get('test_accuracy', 0):.3f}",
             f"{r.metrics.get('test_accuracy_field', r.metrics.get('test_accuracy', 0)):.3f}",
             _kb(r.value("flash_bytes")), _kb(r.value("ram_bytes")), f"{r.value('latency_ms'):.1f} ms",
             f"{r.value('energy_uj'):.0f} uJ", r.mlflow_run_id or "-"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    figs = rows[0].figures if rows else {}

    def src(key: str) -> str:
        return source_label(figs[key]) if key in figs else "?"

    ram = {"tflm": "tflm (TFLM arena, 64-bit host)",
           "emulated": "emulated (static + arena + stack reserved for the measured peak)"}.get(src("ram_bytes"),
                                                                                              src("ram_bytes"))
    flash = {"file": "file (.tflite size)", "emulated": "emulated (firmware + every model slot)"}.get(
        src("flash_bytes"), src("flash_bytes"))
    notes = f"flash: {flash}, RAM: {ram}, *latency: {src('latency_ms')}, *energy: {src('energy_uj')}"
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body), f"sources: {notes}"])


def dominates(a: TrialRecord, b: TrialRecord, objectives: list[str]) -> bool:
    better_or_equal, strictly = True, False
    for o in objectives:
        direction, key = OBJECTIVES[o]
        va, vb = a.value(key), b.value(key)
        if direction == "maximize":
            va, vb = -va, -vb
        if va > vb:
            better_or_equal = False
        elif va < vb:
            strictly = True
    return better_or_equal and strictly


def pareto_front(rows: list[TrialRecord], objectives: list[str]) -> list[TrialRecord]:
    front = [r for r in rows if not any(dominates(o, r, objectives) for o in rows if o is not r)]
    return sorted(front, key=lambda r: -r.metrics.get("val_accuracy_field", r.metrics.get("val_accuracy", 0)))


def ranked(front: list[TrialRecord], objectives: list[str]) -> list[TrialRecord]:
    """Best first: the lowest expected cost when cost is an objective, else the best validation accuracy
    at the field SNR — the mean over seeds where search.repeats retrained it (autotiny.repeats); then the smaller."""
    def mean(r: TrialRecord, key: str):
        return r.metrics.get(f"{key}_mean", r.value(key))

    quality = ((lambda r: -(mean(r, "val_cost_per_1000") if mean(r, "val_cost_per_1000") is not None else float("inf")))
               if "cost" in objectives else (lambda r: mean(r, "val_accuracy_field") or 0))
    return sorted(front, key=lambda r: (quality(r), -r.value("flash_bytes"), -r.value("ram_bytes")), reverse=True)


def best_of(front: list[TrialRecord], objectives: list[str]) -> TrialRecord | None:
    """The feasible Pareto candidate `ranked` first."""
    return next(iter(ranked(front, objectives)), None)
