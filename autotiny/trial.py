"""One trial: what it produced (`TrialRecord`) and the work that produces it (`run_candidate`).

The record is built once, here, and every output is a view of it (autotiny.results writes it
to Optuna, MLflow, trial.json, pareto.csv and the console). `run_candidate` runs in the trial
worker process (autotiny.runner): it knows nothing of Optuna or MLflow.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotiny.config import RunConfig
from autotiny.measure import Figure, Measurement
from autotiny.pipeline import Timings, TaskData, precheck, train_and_measure
from autotiny.space import CandidateSpec
from autotiny.tasks import get_task

# state → is it a finished answer about the candidate (counts toward search.n_trials)?
STATES = ("complete", "infeasible", "pruned", "failed", "interrupted", "lost")


@dataclass
class TrialRecord:
    number: int
    state: str = "failed"  # complete | infeasible | pruned (stopped between epochs) | failed | interrupted | lost
    reason: str = ""
    candidate: dict[str, Any] = field(default_factory=dict)  # CandidateSpec.to_dict(): rebuildable
    description: str = ""
    seed: int = 0
    trained: bool = False
    feasible: bool = False
    figures: dict[str, Figure] = field(default_factory=dict)  # flash, RAM, latency, ... each with its source
    metrics: dict[str, float] = field(default_factory=dict)  # val_accuracy, test_accuracy, val_cost_per_1000, ...
    decision: dict[str, Any] = field(default_factory=dict)  # the cost-weighted rule tuned on val (decisions.py)
    violations: dict[str, float] = field(default_factory=dict)  # budget overshoot per figure (> 0 violated)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    layers: list[dict[str, Any]] = field(default_factory=list)  # per op of the measured model: LAYER_SOURCES
    artifacts: dict[str, str] = field(default_factory=dict)  # name → absolute path
    stage: str = ""  # the stage it was in when it stopped (failed/interrupted/lost)
    attempt: int = 1
    retry_of: int | None = None
    reused_from: int | None = None  # the same candidate was answered by that trial: its result, not retrained
    mlflow_run_id: str = ""
    study: dict[str, Any] = field(default_factory=dict)  # study name, task, board, emulator: where it belongs

    @property
    def params(self) -> dict[str, Any]:
        """Dotted scalar parameters (MLflow params, pareto.csv columns)."""
        return CandidateSpec.from_dict(self.candidate).flat() if self.candidate else {}

    def value(self, name: str) -> float | None:
        """A figure's value or a metric by name (val_accuracy, flash_bytes, ...)."""
        if name in self.metrics:
            return self.metrics[name]
        fig = self.figures.get(name)
        return None if fig is None else fig.value

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["figures"] = {k: dataclasses.asdict(f) for k, f in self.figures.items()}
        d["params"] = self.params
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        rec = cls(**{k: v for k, v in d.items() if k in names})
        rec.figures = {k: Figure(**f) for k, f in (d.get("figures") or {}).items()}
        return rec


def figures_of(m: Measurement) -> dict[str, Figure]:
    """Every Figure a measurement holds (the backends decide which: flash, RAM, cycles, ...)."""
    return {f.name: getattr(m, f.name) for f in dataclasses.fields(m) if isinstance(getattr(m, f.name), Figure)}


# Per-layer figures of the measured model (rows of TrialRecord.layers and layers.csv) and where each
# comes from: cycles from the emulated run; memory read off the model blob the device runs —
# arena_bytes: the activations the op reads and writes (its slice of the RAM arena plan),
# const_bytes: its weights, biases and requantisation tables (in flash).
LAYER_SOURCES = {"cycles": "emulated", "instructions": "emulated", "latency_ms": "emulated",
                 "arena_bytes": "file (model blob: arena plan)", "const_bytes": "file (model blob: constants)"}
LAYER_COLUMNS = ("index", "op", "cycles", "instructions", "latency_ms", "arena_bytes", "const_bytes")


def _layer_memory(tflite: bytes, board=None, sparse: bool = False) -> dict[int, tuple[int, int]]:
    """op index → (arena bytes it touches, constant bytes it reads), from the tensor table and op records
    of the blob the device runs (layout: autotiny.blob.format.serialize; which words are tensors: the op
    table); `board`, `sparse`: as measured (a pruned candidate's blob may hold decode records)."""
    from autotiny import blob
    from autotiny.blob.ops import tensor_words
    from autotiny.measure.protocol import device_blob

    b = device_blob(tflite, board, sparse)
    out, pos = {}, b.header.ops_offset
    for k in range(b.header.n_ops):
        code, n = struct.unpack_from("<HH", b.data, pos)
        words = struct.unpack_from(f"<{n}i", b.data, pos + 4)
        pos += 4 + 4 * n
        used = [b.tensors[w] for w in set(tensor_words(code, words)) if 0 <= w < len(b.tensors)]
        # aliased tensors (a reshape's input and output) share bytes: count each arena byte once
        spans = sorted((t.offset, t.offset + t.nbytes) for t in used if t.storage == blob.STORE_ARENA)
        arena, end = 0, 0
        for lo, hi in spans:
            arena += max(0, hi - max(lo, end))
            end = max(end, hi)
        out[k] = (arena, sum(t.nbytes for t in used if t.storage == blob.STORE_BLOB))
    return out


def layer_figures(m: Measurement, clock_hz: int, tflite: bytes | None = None, board=None,
                  sparse: bool = False) -> list[dict[str, Any]]:
    """One row per op of an emulated run (none for emulator=estimate); memory when the model is given
    (and for a pruned candidate, `sparse`, the board it was measured on)."""
    if not m.layers:
        return []
    memory = _layer_memory(tflite, board, sparse) if tflite else {}
    return [{"index": idx, "op": op, "cycles": cycles, "instructions": instructions,
             "latency_ms": cycles / clock_hz * 1e3, "arena_bytes": memory.get(idx, (None, None))[0],
             "const_bytes": memory.get(idx, (None, None))[1]}
            for idx, op, cycles, instructions in m.layers]


def _write_layers(rows: list[dict[str, Any]], path: Path) -> None:
    """Where a candidate's latency and memory go, one op per row (empty cells: not measured)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(LAYER_COLUMNS)
        for row in rows:
            w.writerow(["" if row[c] is None else f"{row[c]:.4f}" if c == "latency_ms" else row[c]
                        for c in LAYER_COLUMNS])


def run_candidate(spec: CandidateSpec, cfg: RunConfig, data: TaskData | None, number: int, trial_dir: Path,
                  seed: int, timings: Timings | None = None) -> TrialRecord:
    """Budget pre-check, then (only if it fits) train, int8, measure, score; artifacts into trial_dir.

    Raises on failure (the runner records the trial as failed with the error)."""
    timings = timings or Timings()
    rec = TrialRecord(number=number, candidate=spec.to_dict(), description=get_task(cfg.task).describe(spec),
                      seed=seed)
    pre = precheck(spec, cfg, timings, seed=seed)
    m, check, tflite = pre.measurement, pre.check, None
    rec.trained = check.feasible  # budget first: only a candidate that fits is trained
    trial_dir.mkdir(parents=True, exist_ok=True)
    if rec.trained:
        if data is None:
            raise RuntimeError("no task data to train on")
        from autotiny.pruning import Pruned

        try:
            result = train_and_measure(pre, spec, cfg, data, timings, seed=seed)
        except Pruned as stop:  # the search said stop between epochs: an answer, with the pre-check's figures
            rec.trained, rec.feasible, rec.state, rec.reason = False, True, "pruned", stop.reason
            rec.metrics.update(epochs_run=float(stop.epoch), val_accuracy_at_stop=stop.value)
            rec.figures = figures_of(m)
            rec.timings = {k: round(v, 3) for k, v in timings.seconds.items()}
            return rec
        m, check, tflite = result.measurement, result.check, result.tflite
        (trial_dir / "model.tflite").write_bytes(result.tflite)
        from autotiny.evaluate import confusion_png

        where = "clean" if result.field_snr_db is None else f"{result.field_snr_db:g} dB SNR"
        confusion_png(result.operating, cfg.task.classes, trial_dir / "confusion_matrix.png",
                      f"trial {number}: int8 test, {where}, cost-tuned decisions: accuracy "
                      f"{result.operating.accuracy:.3f} (n={result.operating.n})")
        rec.artifacts["model.tflite"] = str((trial_dir / "model.tflite").resolve())
        rec.artifacts["confusion_matrix.png"] = str((trial_dir / "confusion_matrix.png").resolve())
        rec.metrics.update(result.accuracy_metrics())
        rec.metrics.update(final_loss=result.final_loss, epochs_run=float(result.epochs_run))
        rec.metrics.update(result.decision_metrics)
        rec.decision = result.decision
    rec.figures = figures_of(m)
    rec.layers = layer_figures(m, cfg.board.clock_hz, tflite, cfg.board, spec.sparsity > 0)
    if rec.layers:
        _write_layers(rec.layers, trial_dir / "layers.csv")
        rec.artifacts["layers.csv"] = str((trial_dir / "layers.csv").resolve())
    (trial_dir / "measurement.json").write_text(json.dumps(m.to_dict(), indent=2, default=str))
    rec.artifacts["measurement.json"] = str((trial_dir / "measurement.json").resolve())
    rec.violations = dict(check.violations)
    rec.feasible = check.feasible
    rec.state, rec.reason = ("complete", "") if check.feasible else ("infeasible", check.reason)
    rec.timings = {k: round(v, 3) for k, v in timings.seconds.items()}
    return rec
