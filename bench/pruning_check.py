"""Did stopping trials early pay in a finished search? (`search.pruner`, `search.first_fidelity`)

    .venv/bin/python bench/pruning_check.py STUDY_DB [STUDY_DB ...] [--epochs 1,2,3,5,8,12]

STUDY_DB is a search's SQLite study file (for bench/vs_reference.py: OUT/studies/vsref-search_tpe.db);
its one study is read. Printed per study:

- what the trials became: trained, rejected before training, stopped at the first fidelity, stopped
  after epoch e, failed; and where the wall time of the trials went (each trial's stage timings);
- how well the early value that judged a trial predicts its end: over the trials that trained to the
  end (the survivors, whose whole learning curve is kept), Spearman's rank correlation of the
  first-fidelity accuracy and of the validation accuracy after epoch e with the accuracy the trial
  ended with (the search's accuracy objective: validation at the field SNR), and where the trial that
  ended best ranked at that point (1 = first). Survivors only: the trials that were stopped never
  show what they would have reached, so this says how good the rule's information was, not what the
  stopped trials lost.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from bench.selection_noise import spearman  # noqa: E402


def fate(t) -> str:
    """What became of one trial. A stopped trial's learning curve ends at the epoch it was stopped
    after (none: stopped at the first fidelity, before any full epoch)."""
    from autotiny.pruning import CURVE

    state = t.state.name
    if state == "PRUNED":
        epochs = len(t.user_attrs.get(CURVE, []))
        return f"stopped after epoch {epochs}" if epochs else "stopped: first fidelity"
    if state == "COMPLETE":
        return "trained" if t.user_attrs.get("trained") else "rejected before training"
    return state.lower()


def check(db: Path, epochs: list[int]) -> None:
    import optuna

    from autotiny.pruning import CURVE, FIRST_FIDELITY

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = f"sqlite:///{db.resolve()}"
    names = optuna.get_all_study_names(storage=url)
    if len(names) != 1:
        raise SystemExit(f"{db}: holds {len(names)} studies ({', '.join(names)}); expected one")
    study = optuna.load_study(study_name=names[0], storage=url)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    print(f"\n{db} (study {names[0]}): {len(trials)} finished trials")

    fates, seconds = collections.Counter(), collections.defaultdict(float)
    for t in trials:
        f = fate(t)
        fates[f] += 1
        seconds[f] += sum(t.user_attrs.get("timings", {}).values())
    total = sum(seconds.values()) or 1.0
    print("| what became of the trial | trials | their stage time, s | share |")
    print("|---|---|---|---|")
    for name, n in sorted(fates.items(), key=lambda kv: -seconds[kv[0]]):
        print(f"| {name} | {n} | {seconds[name]:.0f} | {seconds[name] / total:.0%} |")

    done = [t for t in trials if fate(t) == "trained" and t.user_attrs.get(CURVE) and t.values]
    if len(done) < 3:
        print(f"{len(done)} trials trained to the end with a learning curve: too few to judge the early values")
        return
    end = np.array([t.values[0] for t in done])  # the accuracy objective (first objective)
    best = int(np.argmax(end))
    print(f"\n{len(done)} trials trained to the end (their final validation accuracy at the field SNR: "
          f"{end.min():.3f}..{end.max():.3f}; best trial {done[best].number})")
    print("| early value | trials | its range | Spearman vs final | rank of the final best |")
    print("|---|---|---|---|---|")
    rows = []
    ff = [(i, t.user_attrs[FIRST_FIDELITY]) for i, t in enumerate(done) if FIRST_FIDELITY in t.user_attrs]
    if ff:
        rows.append(("first fidelity", ff))
    for e in epochs:
        rows.append((f"after epoch {e}", [(i, t.user_attrs[CURVE][e - 1]) for i, t in enumerate(done)
                                          if len(t.user_attrs[CURVE]) >= e]))
    for name, pairs in rows:
        idx = [i for i, _ in pairs]
        vals = np.array([v for _, v in pairs])
        rank = "-"
        if best in idx:
            rank = f"{int((vals > vals[idx.index(best)]).sum()) + 1} of {len(vals)}"
        print(f"| {name} | {len(vals)} | {vals.min():.3f}..{vals.max():.3f} | {spearman(vals, end[idx]):.2f} | {rank} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dbs", nargs="+", type=Path, help="SQLite study files")
    ap.add_argument("--epochs", default="1,2,3,5,8,12", help="epochs whose validation accuracy to judge")
    args = ap.parse_args()
    epochs = [int(e) for e in args.epochs.split(",")]
    for db in args.dbs:
        if not db.exists():
            print(f"{db}: no such file", file=sys.stderr)
            return 2
        check(db, epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
