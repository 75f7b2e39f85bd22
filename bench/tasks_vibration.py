"""Short real-data searches for the vibration tasks (task=fault, task=anomaly) on one board, and
the best candidate of each next to a reference figure.

    AUTOTINY_DATA=../shared/data .venv/bin/python bench/tasks_vibration.py [--trials 8] [--board stm32f746]

Runs `autotiny search task=<task> board=<board> ...` as a user would (default search spaces
search_spaces/fault.yaml and anomaly.yaml, data.max_per_class=--windows), then prints, per task,
the best candidate (best/trial.json: the search's own choice under its objectives) with its int8
metric on validation and test, latency, RAM and flash (emulated firmware + model; the vibration
front-end runs in numpy only so far and is NOT in these figures).

Reference figures are for other data or other splits, and say so:
- fault: CWRU 4-class accuracy in the literature is ~99 %, almost always with windows drawn at
  random from the same recordings for train and test (overlapping windows leak); here the test
  split is the 21-mil faults, a fault size training never saw (train 7 + 28 mils, val 14), and
  the healthy recording's last 20 % — a harder, leakage-free question. The last line prints what
  the split costs one fixed float classifier (random-window split vs this split).
- anomaly: the MLPerf Tiny anomaly-detection reference (FC autoencoder, 640 log-mel inputs)
  targets AUC 0.85 on ToyADMOS/MIMII machine sounds — different data (sound, not bearing
  vibration); here AUC is healthy time blocks vs held-out fault sizes of CWRU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

REFERENCE = {
    "fault": ("accuracy", "~0.99 (CWRU 4-class, literature; random-window splits that leak)"),
    "anomaly": ("auc", "0.85 target (MLPerf Tiny AD reference, ToyADMOS: different data)"),
}
SPLIT = {
    "fault": "by fault size: train 7+28 mil, val 14, test 21; healthy in time blocks 60/20/20 %",
    "anomaly": "train healthy only (first 60 %); val 14-mil faults + healthy 60-80 %; test 21-mil + last 20 %",
}


def search(task: str, board: str, trials: int, windows: int, tmp: Path, timeout_s: int) -> tuple[dict, float]:
    metric = REFERENCE[task][0]
    overrides = [f"task={task}", f"board={board}", f"search.n_trials={trials}", f"data.max_per_class={windows}",
                 f"search.objectives=[{metric},flash,ram]", f"search.timeout_s={timeout_s}",
                 f"data.cache_dir={tmp / 'cache'}", f"search.studies_dir={tmp / 'studies'}",
                 f"search.output_dir={tmp / task}", f"search.study_name={task}-{board}", "tracking.enabled=false"]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "autotiny.cli", "search", *overrides], cwd=REPO, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"task={task}: exit {r.returncode}\n{(r.stdout + r.stderr)[-3000:]}")
    print(r.stdout, file=sys.stderr)
    return json.loads((tmp / task / "best" / "trial.json").read_text()), wall


def leakage_check(windows: int) -> str:
    """What the split costs: one fixed float classifier (logistic regression on fft_bands 1024/64)
    on a random 80/20 split of all windows (overlapping windows of one recording on both sides, as
    in most CWRU papers) and on this task's split by fault size."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from autotiny.data.cwru import CwruBearing, cwru_root
    from autotiny.frontends import vibration as vib

    ds, p = CwruBearing(cwru_root(None), "fault", per_class=windows), vib.BandParams(1024, 64)
    feats = {s: (vib.fft_bands(x, p), y) for s in ("train", "val", "test") for x, y in [ds.windows(s, 1024)]}
    x = np.concatenate([f[0] for f in feats.values()])
    y = np.concatenate([f[1] for f in feats.values()])
    order, clf = np.random.default_rng(0).permutation(len(y)), make_pipeline(StandardScaler(),
                                                                            LogisticRegression(max_iter=3000))
    cut = int(0.8 * len(y))
    random_split = clf.fit(x[order[:cut]], y[order[:cut]]).score(x[order[cut:]], y[order[cut:]])
    clf.fit(*feats["train"])
    val, test = clf.score(*feats["val"]), clf.score(*feats["test"])
    return (f"leakage check (float logistic regression, fft_bands 1024/64): random-window split test "
            f"{random_split:.3f}; split by fault size val {val:.3f} test {test:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="fault,anomaly")
    ap.add_argument("--board", default="stm32f746")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--windows", type=int, default=200, help="training windows per class (val/test: half)")
    ap.add_argument("--timeout-s", type=int, default=900, help="per task: no new trial after this long")
    args = ap.parse_args()
    if not (Path(os.environ.get("AUTOTINY_DATA", "")) / "cwru_bearing").is_dir():
        raise SystemExit("set AUTOTINY_DATA to the shared data folder (it needs cwru_bearing/)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            rec, wall = search(task, args.board, args.trials, args.windows, Path(tmp), args.timeout_s)
            metric, ref = REFERENCE[task]
            m, f = rec["metrics"], rec["figures"]
            rows.append([task, f"{m[f'val_{metric}']:.3f}", f"{m[f'test_{metric}']:.3f}",
                         f"{f['latency_ms']['value']:.3f}", f"{f['ram_bytes']['value'] / 1024:.1f}",
                         f"{f['flash_bytes']['value'] / 1024:.1f}", rec["description"], f"{wall:.0f}", ref])
            print(f"{task}: split {SPLIT[task]}; metric {metric} of the int8 model", flush=True)
    head = ["task", "val", "test", "latency ms", "RAM KB", "flash KB", "best candidate", "search s", "reference"]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    print(f"\nboard {args.board}, {args.trials} trials per task, {args.windows} training windows per class "
          "(figures: emulated, network only; the front-end is not counted yet)")
    for cells in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)))
    if "fault" in args.tasks:
        print(leakage_check(args.windows))


if __name__ == "__main__":
    main()
