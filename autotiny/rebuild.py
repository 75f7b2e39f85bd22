"""`autotiny rebuild record=outputs/<study>/best/trial.json`: the same candidate, built and trained again.

A trial record holds everything needed: the candidate (front-end, architecture, training,
compression), the seed, and the study's task, board and measurement backend. Weights come
from training again, so accuracy may differ by run-to-run noise; the architecture, and hence
flash, RAM and latency, are the same. From Python:

    from autotiny.rebuild import rebuild
    rec = rebuild("outputs/kws-stm32f746/best/trial.json", out_dir="rebuilt", overrides=["data.max_per_class=50"])
"""

from __future__ import annotations

import json
from pathlib import Path

from autotiny.errors import ConfigError
from autotiny.trial import TrialRecord


def load_record(path: str | Path) -> TrialRecord:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"record={path}: no such file; give a trial.json (outputs/<study>/best/trial.json "
                          "or outputs/<study>/trials/NNNN/trial.json)")
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"record={path}: not a trial record ({type(e).__name__}: {e})".splitlines()[0]) from None
    if not isinstance(d, dict) or not d.get("candidate"):
        raise ConfigError(f"record={path}: has no candidate parameters, so the model cannot be rebuilt "
                          "(records written before autotiny stored them lack them); rerun the trial's search")
    if not d.get("study", {}).get("task") or not d.get("study", {}).get("board"):
        raise ConfigError(f"record={path}: does not say which task and board it belongs to")
    return TrialRecord.from_dict(d)


def rebuild(record_path: str | Path, out_dir: str | Path | None = None, overrides: list[str] | None = None,
            log=print) -> TrialRecord:
    from autotiny.config import compose
    from autotiny.space import CandidateSpec

    old = load_record(record_path)
    spec = CandidateSpec.from_dict(old.candidate)
    study = old.study
    cfg = compose([f"task={study['task']}", f"board={study['board']}",
                   f"emulator={study.get('emulator', 'builtin')}", *(overrides or [])])
    out = Path(out_dir) if out_dir else Path(record_path).parent / "rebuilt"
    if (out / "model.tflite").exists():
        raise ConfigError(f"out={out}: already holds a model.tflite; choose another out= or remove it")
    from autotiny.measure.backend import ensure_available
    from autotiny.pipeline import TaskData
    from autotiny.preflight import check_dataset, check_writable
    from autotiny.results import write_trial_json
    from autotiny.tasks import get_task
    from autotiny.trial import run_candidate

    check_writable(out, "out")
    ensure_available(cfg)
    data = TaskData(cfg)
    check_dataset(data.dataset, task=data.task)
    log(f"rebuilding trial {old.number} of study {study.get('name')}: "
        f"{get_task(cfg.task).describe(spec)} (seed {old.seed})")
    rec = run_candidate(spec, cfg, data, old.number, out, seed=old.seed)
    rec.study = dict(study, rebuilt_from=str(Path(record_path).resolve()))
    write_trial_json(rec, out)
    return rec


def main(args: list[str]) -> int:
    records = [a.split("=", 1)[1] for a in args if a.startswith("record=")]
    outs = [a.split("=", 1)[1] for a in args if a.startswith("out=")]
    if len(records) != 1:
        raise ConfigError("rebuild needs exactly one record=path/to/trial.json")
    rest = [a for a in args if not a.startswith(("record=", "out="))]
    old = load_record(records[0])
    rec = rebuild(records[0], outs[0] if outs else None, rest)
    print(f"{rec.state}: {rec.reason}" if rec.reason else rec.state)
    for key in ("val_accuracy", "test_accuracy"):
        if key in rec.metrics:
            before = old.metrics.get(key)
            print(f"  {key:14s} {rec.metrics[key]:.3f}" + (f" (record: {before:.3f})" if before is not None else ""))
    for key in ("flash_bytes", "ram_bytes", "latency_ms", "energy_uj"):
        if key in rec.figures:
            before = old.figures.get(key)
            print(f"  {key:14s} {rec.figures[key]}" + (f" (record: {before.value:,.6g})" if before else ""))
    if "model.tflite" in rec.artifacts:
        print(f"model: {rec.artifacts['model.tflite']}")
    return 0
