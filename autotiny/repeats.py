"""Seeds and variance (`search.repeats`): after the search, the top `search.repeat_top` feasible Pareto
candidates are trained again with `search.repeats` other seeds, so that a lucky seed does not win:
by the searching process, or, with many workers, once by their controller after they finish
(autotiny.cluster; workers never run them).

The extra runs are stored in the study's user attribute `repeats` ({trial number: {seed: figures}}),
the one store every process shares (a finished Optuna trial takes no new attributes), so a resumed
study runs only the missing ones. `summarise` puts mean and spread (sample standard deviation over
the original run and its repeats) into each record's metrics as `<name>_mean`, `<name>_std` and
`n_seeds`; `results.best_of` then ranks by the mean, and pareto.csv, best/trial.json, the report and
MLflow show them. Only the metrics in `TRACKED` are kept for a repeat: the selection metrics and
the field accuracy the user acts on.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable

from autotiny.trial import TrialRecord

ATTR = "repeats"
TRACKED = ("val_accuracy", "test_accuracy", "val_accuracy_field", "test_accuracy_field", "val_cost_per_1000",
           "test_cost_per_1000", "val_auc_field", "test_auc_field")
SEED_STRIDE = 100_003  # repeat r of a trial with seed s trains with s + r * SEED_STRIDE: no other trial's seed


def repeat_seeds(rec: TrialRecord, repeats: int) -> list[int]:
    return [rec.seed + r * SEED_STRIDE for r in range(1, repeats + 1)]


def summarise(records: list[TrialRecord], stored: dict | None) -> list[TrialRecord]:
    """Records with `<metric>_mean`, `<metric>_std` and `n_seeds` where the study holds repeats of them."""
    for rec in records:
        runs = [r for r in ((stored or {}).get(str(rec.number)) or {}).values() if "error" not in r]
        if not runs:
            continue
        rec.metrics["n_seeds"] = float(1 + len(runs))
        for name in TRACKED:
            values = [rec.metrics[name]] + [r[name] for r in runs if name in r] if name in rec.metrics else []
            if len(values) > 1:
                rec.metrics[f"{name}_mean"] = statistics.fmean(values)
                rec.metrics[f"{name}_std"] = statistics.stdev(values)
    return records


def missing(study, candidates: list[TrialRecord], repeats: int) -> int:
    """How many repeat runs of `candidates` the study does not hold yet."""
    stored = study.user_attrs.get(ATTR) or {}
    return sum(str(seed) not in (stored.get(str(r.number)) or {}) for r in candidates
               for seed in repeat_seeds(r, repeats))


def run(study, candidates: list[TrialRecord], repeats: int, train: Callable[[TrialRecord, int, Path], TrialRecord],
        output_dir: Path, log: Callable[[str], None]) -> int:
    """Train each candidate again with each missing repeat seed (`train(rec, seed, folder)`), storing
    each answer in the study at once (an interrupted run keeps what it finished); returns how many ran."""
    stored = dict(study.user_attrs.get(ATTR) or {})
    n = 0
    for rec in candidates:
        done = dict(stored.get(str(rec.number)) or {})
        for seed in repeat_seeds(rec, repeats):
            if str(seed) in done:
                continue
            folder = output_dir / "trials" / f"{rec.number:04d}" / f"seed-{seed}"
            try:
                again = train(rec, seed, folder)
                if again.state != "complete":
                    raise RuntimeError(f"{again.state}: {again.reason}")
                done[str(seed)] = {k: again.metrics[k] for k in TRACKED if k in again.metrics}
                log(f"[repeat] trial {rec.number} seed {seed}: " + ", ".join(
                    f"{k} {again.metrics[k]:.3f}" for k in ("val_accuracy_field", "test_accuracy_field")
                    if k in again.metrics))
            except Exception as e:  # a failed repeat is noted, not fatal: the summary uses those that ran
                if isinstance(e, KeyboardInterrupt):
                    raise
                done[str(seed)] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
                log(f"[repeat] trial {rec.number} seed {seed}: failed: {done[str(seed)]['error']}")
            stored[str(rec.number)] = done
            study.set_user_attr(ATTR, stored)
            n += 1
    return n


def table(records: list[TrialRecord]) -> list[list[str]]:
    """Rows (trial, seeds, selection mean ± std, field test mean ± std) of records that were repeated."""
    rows = []
    for r in records:
        if "n_seeds" not in r.metrics:
            continue
        cells = [str(r.number), f"{r.metrics['n_seeds']:.0f}"]
        for name in ("val_accuracy_field", "test_accuracy_field", "val_cost_per_1000"):
            m, s = r.metrics.get(f"{name}_mean"), r.metrics.get(f"{name}_std")
            cells.append("-" if m is None else f"{m:.3f} ± {s:.3f}")
        rows.append(cells)
    return rows


TABLE_HEAD = ["trial", "seeds", "val accuracy (field) mean ± sd", "test accuracy (field) mean ± sd",
              "val cost/1000 mean ± sd"]
