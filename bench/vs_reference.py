"""Issue 10's benchmark: does the search find a model that beats the MLPerf Tiny KWS reference?

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/vs_reference.py [--minutes 60] [--out DIR]
        [--ref-epochs 30] [override ...]

Three parts, each through the same pipeline (noise augmentation, int8, emulated measurement, cost-tuned
decisions) on the same data and board (`board=stm32f746` unless an override says otherwise):

1. reference: the MLPerf Tiny DS-CNN (64 channels, 4 depthwise blocks, 10x4 first kernel stride 2x2, MFCC
   30 ms / 20 ms / 40 mels / 10 coefficients, int8 PTQ) trained for --ref-epochs and measured without a
   budget (the board's whole RAM and flash, no latency limit);
2. search (TPE, the default search space and objectives) for --minutes of wall time, whose budget is the
   reference's RAM and flash and half its measured latency;
3. the same search with sampler=random, same minutes: does the sampler earn its keep? (Same seed: TPE's
   first min(10, n_trials/3) trials are random draws, the same as the random search's, so the two differ
   only after those.)

The reference's latency includes its MFCC front-end on the device (8.2 ms of 30.4 ms on stm32f746), so
half of it leaves a searched network ~7 ms; `--halve network` budgets the reference's front-end plus half
its network instead.

Columns: accuracy on the test split clean / 10 dB / 0 dB SNR with 95 % Wilson intervals (n = the test
clips), expected cost per 1,000 decisions (test split, field SNR, the rule tuned on validation data),
latency, energy, RAM, flash (emulated; energy from the board's active power, an assumption where the
board record says so) and trials per hour (finished trials / search wall time). A search's row is its
best/ model (the feasible Pareto candidate the search chooses).

--parallel runs the two search parts at the same time, each in its own process (on a 2-core machine:
one core each), so both see the same load and the same wall-time budget; without it they run one after
the other. --only PART runs one part and stops (the reference must be done first for a search part).

Every part writes its result to --out (default outputs/vs_reference) as it finishes; run the same command
again to resume: finished parts are read back, a search part continues its study (sqlite under --out) for
the minutes it has left (`<part>.spent_s` counts the wall time spent so far). Extra overrides (e.g.
data.max_per_class=40 for a quick proof) go to every part; change --out when changing them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REFERENCE_SPACE = """# MLPerf Tiny KWS DS-CNN (benchmark/training/keyword_spotting), one fixed candidate
frontend:
  type: mfcc
  params: {{window_ms: 30, hop_ms: 20, n_mels: 40, n_mfcc: 10}}
model:
  type: ds_cnn
  params: {{n_blocks: 4, channels: 64, first_kernel: [10, 4], first_stride: [2, 2]}}
training: {{epochs: {epochs}, learning_rate: 0.005, batch_size: 64}}
compression:
  quantization: int8_ptq
"""
ACCURACIES = (("clean", "test_accuracy_clean", "test_accuracy"), ("10 dB", "test_accuracy_10db", None),
              ("0 dB", "test_accuracy_0db", None))


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion p over n trials."""
    if n <= 0:
        return (float("nan"), float("nan"))
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def _common(out: Path, part: str, extra: list[str]) -> list[str]:
    return ["board=stm32f746", f"search.study_name=vsref-{part}", f"search.studies_dir={out / 'studies'}",
            f"search.output_dir={out / part}", "tracking.enabled=false", *extra]


def _summary(cfg, part: str, spent_s: float, n_test: int) -> dict:
    """The part's chosen model (its best/), read off the study store, and the study's counts."""
    import optuna

    from autotiny import results

    study = optuna.load_study(study_name=cfg.search.study_name, storage=cfg.search.storage_url())
    trials = study.get_trials(deepcopy=False)
    recs = [r for t in trials if (r := results.record_of(t)) is not None]
    feasible = [r for r in recs if r.state == "complete" and r.reused_from is None]
    objectives = list(cfg.search.objectives)
    best = results.best_of(results.pareto_front(feasible, objectives), objectives)
    finished = [r for r in recs if r.state in ("complete", "infeasible", "pruned")]
    row = {"part": part, "trials": len(finished), "trained": sum(r.trained for r in recs),
           "feasible": len(feasible), "spent_s": spent_s, "n_test": n_test,
           "trials_per_hour": len(finished) / (spent_s / 3600) if spent_s > 0 else None,
           "best": None}
    if best is not None:
        row["best"] = {"trial": best.number, "description": best.description, "metrics": best.metrics,
                       "figures": {k: {"value": f.value, "source": f.source, "assumption": f.assumption}
                                   for k, f in best.figures.items()}}
    return row


def run_part(out: Path, part: str, overrides: list[str], minutes: float | None) -> dict:
    """Run (or resume) one part; its summary is written to <out>/<part>.json once it is done."""
    from autotiny.config import compose
    from autotiny.search import Search

    done = out / f"{part}.json"
    if done.exists():
        print(f"{part}: done earlier ({done})", flush=True)
        return json.loads(done.read_text())
    spent_file = out / f"{part}.spent_s"
    spent = float(spent_file.read_text()) if spent_file.exists() else 0.0
    cfg = compose(overrides)
    left = None if minutes is None else minutes * 60 - spent
    n_test = 0
    if left is None or left > 0:
        if left is not None:
            cfg = compose([*overrides, f"search.timeout_s={left:.0f}"])
        print(f"{part}: running" + (f", {left / 60:.1f} min of wall time left" if left is not None else ""),
              flush=True)
        search = Search(cfg)
        t0 = time.perf_counter()
        try:
            outcome = search.run()
        finally:
            spent += time.perf_counter() - t0
            spent_file.write_text(f"{spent:.1f}")
        if outcome.interrupted:
            raise SystemExit(outcome.exit_code)
        n_test = len(search.data.dataset.clips("test"))
    if not n_test:
        from autotiny.tasks import get_task

        n_test = len(get_task(cfg.task).dataset(cfg).clips("test"))
    summary = _summary(cfg, part, spent, n_test)
    done.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _cell_acc(best: dict, n: int, key: str, fallback: str | None) -> str:
    m = best["metrics"]
    p = m.get(key, m.get(fallback) if fallback else None)
    if p is None:
        return "-"
    lo, hi = wilson(p, n)
    return f"{p:.3f} [{lo:.3f}, {hi:.3f}]"


def table(rows: list[dict]) -> str:
    head = ["model", *(f"acc {name} (95 % CI)" for name, _, _ in ACCURACIES), "cost/1000", "latency ms",
            "energy uJ", "RAM B", "flash B", "trials (trained)", "trials/h"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        b = r["best"]
        if b is None:
            lines.append(f"| {r['part']}: no feasible model ({r['trials']} trials) |" + " - |" * (len(head) - 1))
            continue
        f = {k: v["value"] for k, v in b["figures"].items()}
        tph = "-" if r["part"] == "reference" or not r["trials_per_hour"] else f"{r['trials_per_hour']:.1f}"
        lines.append("| " + " | ".join([
            f"{r['part']}: trial {b['trial']} {b['description'].replace('|', '/')}",
            *(_cell_acc(b, r["n_test"], k, fb) for _, k, fb in ACCURACIES),
            f"{b['metrics'].get('test_cost_per_1000', float('nan')):.1f}", f"{f.get('latency_ms', float('nan')):.2f}",
            f"{f.get('energy_uj', float('nan')):.0f}", f"{f.get('ram_bytes', 0):,.0f}", f"{f.get('flash_bytes', 0):,.0f}",
            f"{r['trials']} ({r['trained']})", tph]) + " |")
    ref = next((r for r in rows if r["part"] == "reference" and r["best"]), None)
    srcs = ref["best"]["figures"] if ref else {}
    notes = ", ".join(f"{k}: {v['source']}" + (f" (assumption: {v['assumption']})" if v.get("assumption") else "")
                      for k, v in srcs.items() if k in ("latency_ms", "energy_uj", "ram_bytes", "flash_bytes"))
    n = ref["n_test"] if ref else "?"
    lines.append(f"\nSources: accuracy = the int8 model (LiteRT) on the test split (n = {n} clips), test noise at "
                 f"each SNR from the test blocks; 95 % Wilson intervals; cost = expected cost per 1,000 decisions "
                 f"(test split, field SNR, rule tuned on validation); {notes}.")
    return "\n".join(lines)


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` unless it holds it already, in one rename: --parallel's two parts start
    at the same moment, and one must never read the file half written by the other."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="wall time of each search part")
    ap.add_argument("--out", type=Path, default=Path("outputs/vs_reference"))
    ap.add_argument("--ref-epochs", type=int, default=30)
    ap.add_argument("--halve", choices=("total", "network"), default="total",
                    help="the latency budget: half the reference's total latency (front-end + network, the issue's "
                         "rule), or its front-end plus half its network")
    ap.add_argument("--parallel", action="store_true", help="run the TPE and random searches at the same time")
    ap.add_argument("--only", choices=("reference", "search_tpe", "search_random"),
                    help="run this part only, then stop")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    settings = {"minutes": args.minutes, "ref_epochs": args.ref_epochs, "halve": args.halve,
                "overrides": args.overrides}
    saved = out / "settings.json"
    if saved.exists() and json.loads(saved.read_text()) != settings:
        print(f"{out} holds a run with other settings ({saved.read_text().strip()}); use another --out",
              file=sys.stderr)
        return 2
    _write_whole(saved, json.dumps(settings))

    space = out / "reference_space.yaml"
    _write_whole(space, REFERENCE_SPACE.format(epochs=args.ref_epochs))
    if args.only in ("search_tpe", "search_random") and not (out / "reference.json").exists():
        print(f"--only {args.only}: run the reference part first (--only reference)", file=sys.stderr)
        return 2
    ref = run_part(out, "reference", [*_common(out, "reference", args.overrides), f"search.space={space}",
                                      "search.n_trials=1", "search.timeout_s=null"], None)
    if args.only == "reference":
        return 0
    if ref["best"] is None:
        print("the reference did not train (see its trial record); cannot set the search's budget", file=sys.stderr)
        return 1
    f = {k: v["value"] for k, v in ref["best"]["figures"].items()}
    front = f.get("frontend_latency_ms", 0.0) if args.halve == "network" else 0.0
    budget = [f"budget.ram_kb={f['ram_bytes'] / 1024:.3f}", f"budget.flash_kb={f['flash_bytes'] / 1024:.3f}",
              f"budget.latency_ms={front + (f['latency_ms'] - front) / 2:.4f}"]
    print(f"search budget (reference's RAM and flash, {'its front-end + half its network' if front else 'half its'} "
          f"latency): {' '.join(budget)}", flush=True)
    parts = (("search_tpe", "tpe"), ("search_random", "random"))
    if args.parallel and args.only is None:
        import subprocess

        base = [sys.executable, __file__, "--minutes", str(args.minutes), "--out", str(out), "--ref-epochs",
                str(args.ref_epochs), "--halve", args.halve]
        procs = [subprocess.Popen([*base, "--only", part, *args.overrides]) for part, _ in parts]
        if any(p.wait() for p in procs):
            print("a search part failed (its output is above)", file=sys.stderr)
            return 1
    rows = [ref]
    for part, sampler in parts:
        if args.only not in (None, part):
            continue
        rows.append(run_part(out, part, [*_common(out, part, args.overrides), *budget, f"search.sampler={sampler}",
                                         "search.n_trials=100000"], args.minutes))
    if args.only is not None:
        return 0
    text = table(rows)
    (out / "table.md").write_text(text + "\n")
    print()
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
