"""Does the tuned decision rule lower the cost on clips it was not tuned on?

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/decision_rule.py DIR [DIR ...] [override ...]
        [--cost OVERRIDE ...]

DIR is a finished search's output folder (for bench/vs_reference.py: OUT/search_tpe, OUT/search_random,
OUT/reference). Each trained, feasible trial (trials/NNNN/model.tflite) is scored again, int8, at the
task's field SNR: validation with `task.noise.val_draws` draws per clip (what the rule is tuned on), test
with one (what bench/vs_reference.py reports). Overrides must be the ones the search ran with (e.g.
'task.noise.train_snr_db=[0,20]'). Each --cost (default: the task's costs, then task.costs.miss={stop:20})
is a task.costs override; for each, three rules are judged on the test split:

- bayes: argmin_p sum_t P(t|x) C[t,p] (argmax under the default cost), nothing tuned;
- descent: per-class weights by coordinate descent on all validation rows, always kept (the rule
  before cross-validation gated it);
- gated: autotiny.decisions.tune: the descent's weights only where 5-fold cross-validation over the
  validation clips says they pay, else bayes.

Printed per cost: each folder's chosen trial (best/) under each rule, then over all the trials the mean
test cost per 1,000 decisions, how many trials each tuned rule made cheaper / dearer than bayes on test,
and how often the gate kept the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def scored(folder: Path, overrides: list[str]) -> list[tuple[int, tuple, tuple, int]]:
    """Per trained trial: (number, (val probs, labels), (test probs, labels), validation clips)."""
    from bench._search import trained_trials
    from autotiny.config import compose
    from autotiny.pipeline import TaskData

    cfg = compose(overrides)
    data = TaskData(cfg)
    snr = cfg.task.noise.field_snr_db
    rows = []
    for rec, spec, model in trained_trials(folder):
        splits = []
        for split in ("val", "test"):
            x, y = data.noisy_features(spec, split, snr) if snr is not None else data.features(spec, split)
            s = data.task.score(model, x, y)
            splits.append((s.probs, s.labels))
        clips = len(splits[0][1]) // (cfg.task.noise.val_draws if snr is not None else 1)
        rows.append((rec["number"], splits[0], splits[1], clips))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", nargs="+", metavar="DIR | override", help="search output folders, then overrides (key=value)")
    ap.add_argument("--cost", action="append", default=None, help="a task.costs override (repeatable)")
    args = ap.parse_args()
    from autotiny.config import compose
    from autotiny.decisions import DecisionRule, cost_matrix, descend, expected_cost, tune

    overrides = [i for i in args.items if "=" in i]
    folders = [Path(i) for i in args.items if "=" not in i]
    costs = args.cost or ["", "task.costs.miss={stop:20}"]
    trials = [(f, *t) for f in folders for t in scored(f, overrides)]
    print(f"{len(trials)} trained trials from {', '.join(str(f) for f in folders)}")
    for c in costs:
        cfg = compose(overrides + ([c] if c else []))
        cost = cost_matrix(cfg.task.costs, list(cfg.task.classes))
        figures = {"bayes": [], "descent": [], "gated, any held-out saving": [], "gated": []}
        kept = 0
        for _, _, (pv, yv), (pt, yt), clips in trials:
            bayes = DecisionRule(np.ones(cost.shape[0]), cost)
            gated = tune(pv, yv, cost, groups=np.arange(len(yv)) % clips)
            kept += bool((gated.weights != 1).any())
            loose = tune(pv, yv, cost, groups=np.arange(len(yv)) % clips, z=0.0)
            for name, rule in (("bayes", bayes), ("descent", DecisionRule(descend(pv, yv, cost), cost)),
                               ("gated, any held-out saving", loose), ("gated", gated)):
                figures[name].append(1000 * expected_cost(cost, yt, rule.decide(pt)))
        for f in folders:  # the benchmark's row: the trial the search chose (best/)
            chosen = json.loads((f / "best" / "trial.json").read_text())["number"] if (f / "best" / "trial.json").exists() else None
            at = [i for i, t in enumerate(trials) if t[0] == f and t[1] == chosen]
            if at:
                print(f"{f} best/ (trial {chosen}) test cost/1000: "
                      + ", ".join(f"{name} {vals[at[0]]:.1f}" for name, vals in figures.items()))
        base = np.array(figures["bayes"])
        print(f"\ncost: {c or 'the task default'}; gate kept tuned weights in {kept} of {len(trials)} trials")
        print("| rule | mean test cost/1000 | vs bayes: mean change | cheaper | dearer |")
        print("|---|---|---|---|---|")
        for name, vals in figures.items():
            v = np.array(vals)
            print(f"| {name} | {v.mean():.1f} | {(v - base).mean():+.1f} | {(v < base).sum()} | {(v > base).sum()} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
