"""Trials per hour of the default search, and where a trial's time goes.

    .venv/bin/python bench/trials_per_hour.py [--trials 8] [override ...]

Runs a fresh study (own storage, outputs and MLflow under a temp folder) with the default
config plus the overrides, then prints the rate and the mean seconds per stage.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()

    import optuna

    from autotiny.config import compose
    from autotiny.search import Search

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([f"search.n_trials={args.trials}", "search.timeout_s=null", "search.study_name=bench",
                       f"search.studies_dir={tmp}/studies", f"search.output_dir={tmp}/out",
                       f"tracking.uri=sqlite:///{tmp}/mlflow.db", f"tracking.artifact_dir={tmp}/artifacts",
                       *args.overrides])
        t0 = time.perf_counter()
        search = Search(cfg)
        outcome = search.run()
        wall = time.perf_counter() - t0
        trials = optuna.load_study(study_name="bench", storage=cfg.search.storage_url()).trials

    per_trial = [t.user_attrs.get("timings", {}) for t in trials]
    stages = sorted({k for d in per_trial for k in d})
    trained = [t for t in trials if t.user_attrs.get("trained")]
    print()
    print(f"board {cfg.board.name}, {len(trials)} trials ({len(trained)} trained, "
          f"{outcome.n_infeasible} rejected before training, {outcome.n_failed} failed) in {wall:.0f} s")
    print(f"trials per hour: {len(trials) / wall * 3600:.0f}  (wall clock incl. start-up and data)")
    print(f"{'stage':10s} {'mean s':>8s} {'max s':>8s}   (over trials that ran the stage)")
    for s in stages:
        xs = [d[s] for d in per_trial if s in d]
        print(f"{s:10s} {statistics.mean(xs):8.2f} {max(xs):8.2f}")
    if outcome.best:  # a TrialRecord (autotiny/trial.py): metrics and figures by name
        b = outcome.best
        print(f"best: trial {b.number} val {b.value('val_accuracy'):.3f} test {b.value('test_accuracy'):.3f} "
              f"flash {b.value('flash_bytes'):.0f} B RAM {b.value('ram_bytes'):.0f} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
