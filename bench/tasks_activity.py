"""A short real-data search for task=activity (WATCH, inside the seglearn wheel) on one board, and
its best candidate next to a reference computed on the same split.

    .venv/bin/python bench/tasks_activity.py [--trials 8] [--board stm32f746] [--windows 300]

Runs `autotiny search task=activity board=<board> ...` as a user would (search_spaces/activity.yaml,
data.max_per_class=--windows windows per class and split, objectives accuracy, flash, RAM), then
prints the best candidate (best/trial.json, the search's own choice) with its int8 accuracy on
validation and test (one held-out subject each), latency, RAM and flash (emulated firmware +
model; the IMU front-ends run in numpy only so far and are NOT in these figures).

Reference: no published figure exists for this 10-subject WATCH subset under a subject split (the
paper behind it, Burns et al. 2018, arXiv:1802.01489, reports on its larger full study).  So the
script computes one: a float random forest (scikit-learn, 200 trees) on the per-axis statistics of
2.56 s windows (imu_stats, window 128, overlap 0.5) of the same train subjects, scored on the same
test subject — the classical feature pipeline seglearn's own examples use, not a device model.
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


def search(board: str, trials: int, windows: int, tmp: Path, timeout_s: int) -> tuple[dict, float]:
    overrides = ["task=activity", f"board={board}", f"search.n_trials={trials}", f"data.max_per_class={windows}",
                 "search.objectives=[accuracy,flash,ram]", f"search.timeout_s={timeout_s}",
                 f"data.cache_dir={tmp / 'cache'}", f"search.studies_dir={tmp / 'studies'}",
                 f"search.output_dir={tmp / 'out'}", f"search.study_name=activity-{board}", "tracking.enabled=false"]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "autotiny.cli", "search", *overrides], cwd=REPO, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"task=activity: exit {r.returncode}\n{(r.stdout + r.stderr)[-3000:]}")
    print(r.stdout, file=sys.stderr)
    return json.loads((tmp / "out" / "best" / "trial.json").read_text()), wall


def reference(seed: int = 0) -> tuple[float, float]:
    """(val, test) accuracy of the random forest on imu_stats features, same subject split."""
    from sklearn.ensemble import RandomForestClassifier

    from autotiny.data.imu import watch
    from autotiny.frontends.imu import WindowParams, stats

    ds = watch(val_pct=10, test_pct=10, seed=seed)
    p = WindowParams(window=128, overlap=0.5)
    xy = {s: ds.windows(s, p.window, p.hop) for s in ("train", "val", "test")}
    feats = {s: stats(x, p).reshape(len(x), -1) for s, (x, _) in xy.items()}
    forest = RandomForestClassifier(n_estimators=200, random_state=seed).fit(feats["train"], xy["train"][1])
    return tuple(float(forest.score(feats[s], xy[s][1])) for s in ("val", "test"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="stm32f746")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--windows", type=int, default=300, help="windows per class and split (data.max_per_class)")
    ap.add_argument("--timeout-s", type=int, default=900, help="no new trial after this long")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rec, wall = search(args.board, args.trials, args.windows, Path(tmp), args.timeout_s)
    m, f = rec["metrics"], rec["figures"]
    ref_val, ref_test = reference()
    header = ["", "val acc", "test acc", "latency ms", "RAM KB", "flash KB", "candidate"]
    rows = [["best of search", f"{m['val_accuracy']:.3f}", f"{m['test_accuracy']:.3f}",
             f"{f['latency_ms']['value']:.3f}", f"{f['ram_bytes']['value'] / 1024:.1f}",
             f"{f['flash_bytes']['value'] / 1024:.1f}", rec["description"]],
            ["reference (float RF)", f"{ref_val:.3f}", f"{ref_test:.3f}", "-", "-", "-",
             "random forest, 200 trees, imu_stats w128 o0.5 (host, float)"]]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"task=activity (WATCH: 10 subjects, 7 exercises, 6 axes at 50 Hz; split by subject, seed 0) on "
          f"{args.board}: {args.trials} trials, {args.windows} windows/class/split, {wall:.0f} s")
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print(f"sources: latency/RAM/flash {f['latency_ms']['source']}/{f['ram_bytes']['source']}/"
          f"{f['flash_bytes']['source']} (network only: the IMU front-end is not on the device yet); "
          "reference: computed here, no published figure for this split")


if __name__ == "__main__":
    main()
