"""Short real-data searches for every task on every board, the best candidate of each next to a
reference figure, and the candidate's accuracy on features computed by the device's C front-end.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/tasks.py [--tasks kws,fault,anomaly,activity,vision]
        [--boards stm32f746,stm32l4r5,nrf52840] [--trials 4] [--timeout-s 240] [--out DIR] [--device-n 200]
        [--no-device-features] [--leakage]

Each task x board runs `autotiny search task=T board=B search.n_trials=N ...` in a subprocess as a
user would (bench/_search.py: the task's default search space and objectives, a small data slice per
task (DATA below), search.timeout_s, MLflow off, one feature cache for all searches), and reads the
search's own choice, best/trial.json.  A row per task x board: the int8 model's metric on validation
and test, latency, RAM and flash as front-end + network (emulated; the trial's `frontend_*` figures
are what the device front-end adds, network = total - front-end, autotiny/frontends/device.py
`with_frontend`), the candidate, the search's wall time and the reference.  --out keeps the searches
so a rerun skips every task x board whose best/trial.json is there.

C features (--device-features, on by default; stm32f746 only): the test examples of each task's
best candidate go through the device front-end in the emulator (device.run_input, int8 in the
model's input quantisation) and through the numpy front-end the search trained on; the int8 model
runs on the host runtime (autotiny/runtime.py, bit-exact with the firmware) on both, and the metric
of each and the difference in points are printed (issue 11: within 0.5 points).  At most
--device-n test examples, spread evenly over the split (the emulator runs a front-end in 5-70 ms per
example).  Every device front-end quantises by the rule the search scores with (round half to even,
firmware/frontends/fe.h; the MFCC used MLPerf's trunc rule until this bench showed it cost kws a
1.3-point difference).

References, each said where it comes from:
- kws: the MLPerf Tiny KWS int8 reference model (DS-CNN; $AUTOTINY_DATA/mlperf_tiny) scored here on
  the same test clips through the numpy MLPerf-style MFCC (0.924 on all 3,581 shared clips, README).
- fault: ~0.99 CWRU 4-class accuracy in the literature, with random-window splits that leak
  (overlapping windows of one recording on both sides); here the split is by fault size (train 7+28
  mils, val 14, test 21), a harder question.  --leakage prints what the split costs one float
  classifier.
- anomaly: MLPerf Tiny anomaly detection targets AUC 0.85 on ToyADMOS machine sounds: different data;
  here AUC is healthy time blocks vs held-out fault sizes of CWRU.
- activity: no published figure for this WATCH subset under a subject split; a float random forest
  (200 trees, imu_stats w128 o0.5) on the same subject split, computed here.
- vision: a float logistic regression on the 28x28 pixels of the same MNIST slice, computed here.

Expected error: a search of 4 trials on a small slice is noisy (one seed; test sets of a few hundred
examples: +-2-3 points); the figures are emulated (cycle model, see README "Measurement").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._search import best_record, run_search  # noqa: E402

BOARDS = ("stm32f746", "stm32l4r5", "nrf52840")
DEVICE_BOARD = "stm32f746"
FAULT_WINDOWS = 200  # CWRU training windows per class (val/test: half)
# task -> (metric key in trial.json metrics, data overrides: a slice so a search takes minutes)
TASKS = {
    "kws": ("accuracy", ["data.max_per_class=200"]),  # ~200 train, ~30 val/test clips per class
    "fault": ("accuracy", [f"data.max_per_class={FAULT_WINDOWS}"]),
    "anomaly": ("auc", [f"data.max_per_class={FAULT_WINDOWS}"]),
    "activity": ("accuracy", ["data.max_per_class=300"]),  # windows per class and split
    "vision": ("accuracy", ["data.max_per_class=300"]),  # images per class and split
}
PUBLISHED = {
    "fault": "~0.99 acc (CWRU 4-class, literature; random-window splits that leak)",
    "anomaly": "0.85 AUC target (MLPerf Tiny AD, ToyADMOS: different data)",
}


def compose_for(task: str, board: str, cache: Path):
    from autotiny.config import compose

    return compose([f"task={task}", f"board={board}", *TASKS[task][1], f"data.cache_dir={cache}"])


# ---- references ------------------------------------------------------------------------------
def kws_reference(cache: Path) -> str:
    """The MLPerf Tiny KWS int8 model on this run's kws test clips: numpy MLPerf-style MFCC 49x10,
    quantised by the model's own rule (trunc, autotiny.frontends.mfcc.quantize), as bench/frontend_cost.py --accuracy."""
    from ai_edge_litert.interpreter import Interpreter

    from autotiny.compress import quiet_stderr
    from autotiny.frontends.mfcc import MfccParams, mfcc, quantize
    from autotiny.pipeline import TaskData

    path = Path(os.environ["AUTOTINY_DATA"]) / "mlperf_tiny" / "kws_ref_model_int8.tflite"
    if not path.exists():
        return f"MLPerf Tiny KWS model not found ({path})"
    waves, labels = TaskData(compose_for("kws", DEVICE_BOARD, cache)).dataset.load("test")
    with quiet_stderr():  # LiteRT announces its XNNPACK delegate on fd 2
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    q = quantize(mfcc(waves, MfccParams()), *inp["quantization"])[..., None]
    it.resize_tensor_input(inp["index"], [len(q), *q.shape[1:]])
    it.allocate_tensors()
    it.set_tensor(inp["index"], q)
    it.invoke()
    acc = float((it.get_tensor(out["index"]).argmax(axis=1) == labels).mean())
    return f"{acc:.3f} acc: MLPerf Tiny KWS DS-CNN int8 on the same {len(labels)} test clips"


def activity_reference() -> str:
    """A float random forest on imu_stats features of the same subject split (val/test: one subject each)."""
    from sklearn.ensemble import RandomForestClassifier

    from autotiny.data.imu import watch
    from autotiny.frontends.imu import WindowParams, stats

    ds = watch(val_pct=10, test_pct=10, seed=0)  # conf data: val_pct=10, test_pct=10, seed=0
    p = WindowParams(window=128, overlap=0.5)
    xy = {s: ds.windows(s, p.window, p.hop) for s in ("train", "test")}
    feats = {s: stats(x, p).reshape(len(x), -1) for s, (x, _) in xy.items()}
    forest = RandomForestClassifier(n_estimators=200, random_state=0).fit(feats["train"], xy["train"][1])
    return (f"{forest.score(feats['test'], xy['test'][1]):.3f} acc: float random forest, imu_stats w128, "
            "same subject split (all windows)")


def vision_reference(cache: Path) -> str:
    """A float logistic regression on the raw pixels of the same MNIST slice."""
    from sklearn.linear_model import LogisticRegression

    from autotiny.pipeline import TaskData

    ds = TaskData(compose_for("vision", DEVICE_BOARD, cache)).dataset
    (xt, yt), (xs, ys) = ds.load("train"), ds.load("test")
    clf = LogisticRegression(max_iter=2000).fit(xt.reshape(len(xt), -1) / 255.0, yt)
    return f"{clf.score(xs.reshape(len(xs), -1) / 255.0, ys):.3f} acc: float logistic regression, 28x28 pixels, same split"


def reference(task: str, cache: Path) -> str:
    try:
        if task == "kws":
            return kws_reference(cache)
        if task == "activity":
            return activity_reference()
        if task == "vision":
            return vision_reference(cache)
    except Exception as e:  # a reference that cannot be computed must not lose the searches
        return f"not computed ({type(e).__name__}: {e})".splitlines()[0]
    return PUBLISHED[task]


def leakage_check(windows: int) -> str:
    """What the split costs: one fixed float classifier (logistic regression on fft_bands 1024/64)
    on a random 80/20 split of all windows (overlapping windows of one recording on both sides, as
    in most CWRU papers) and on this task's split by fault size."""
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
    return (f"leakage check (float logistic regression, fft_bands 1024/64, {windows} windows/class): random-window "
            f"split test {random_split:.3f}; split by fault size val {val:.3f} test {test:.3f}")


# ---- accuracy on C-computed features ---------------------------------------------------------
def raw_test(kind: str, dataset, spec) -> tuple[np.ndarray, np.ndarray]:
    """The test split as the device receives it, in the order task.features(..., "test") has it."""
    p = spec.frontend_params
    if kind == "kws":
        x, y = dataset.load("test")  # float32 in [-1, 1) from int16 wavs
        return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16), y
    if kind in ("fault", "anomaly"):
        return dataset.windows("test", p.window)
    if kind == "activity":
        return dataset.windows("test", p.window, p.hop)
    if kind == "vision":
        x, y = dataset.load("test")
        return np.clip(np.round(x), 0, 255).astype(np.uint8), y
    raise ValueError(f"task kind {kind!r}: no raw test inputs known")


def device_check(task: str, run_dir: Path, cache: Path, n_max: int) -> dict:
    """The best candidate's metric on n test examples with numpy features and with the device's."""
    from sklearn.metrics import roc_auc_score

    from autotiny.blob.builder import from_tflite
    from autotiny.evaluate import quantize_input
    from autotiny.frontends import device
    from autotiny.pipeline import TaskData
    from autotiny.runtime import HostModel
    from autotiny.space import CandidateSpec
    from autotiny.tflite_model import read_tflite

    rec = json.loads(best_record(run_dir).read_text())
    spec = CandidateSpec.from_dict(rec["candidate"])
    cfg = compose_for(task, DEVICE_BOARD, cache)
    data = TaskData(cfg)
    model = (run_dir / "best" / "model.tflite").read_bytes()
    host = HostModel(from_tflite(model))
    h = host.blob.header
    raw, labels = raw_test(cfg.task.kind, data.dataset, spec)
    numpy_feats, labels2 = data.features(spec, "test")
    if len(numpy_feats) != len(raw) or not np.array_equal(labels, labels2):
        raise RuntimeError(f"{task}: raw test inputs and cached features disagree ({len(raw)} vs {len(numpy_feats)})")
    idx = np.unique(np.linspace(0, len(raw) - 1, min(n_max, len(raw))).astype(int))
    fe = device.REGISTRY[spec.frontend]
    hint = fe.hint_from(read_tflite(model), data.task.raw_shape(cfg)) if fe.hint_from else None
    want_float = task == "anomaly"  # the autoencoder's error is taken against the float features
    t0 = time.perf_counter()
    runs = [device.run_input(cfg.board, spec.frontend, spec.frontend_params, raw[i], hint=hint, scale=h.input_scale,
                             zero_point=h.input_zero_point, want_float=want_float) for i in idx]
    emu_s = time.perf_counter() - t0
    shape = (len(idx), *h.input_shape[1:])
    sides = {"numpy": (quantize_input(numpy_feats[idx].reshape(shape), h.input_scale, h.input_zero_point,
                                      np.dtype(host.blob.input_dtype)), numpy_feats[idx]),
             "C": (np.stack([r.features for r in runs]).reshape(shape),
                   np.stack([r.float_features for r in runs]) if want_float else None)}
    y = labels[idx]
    out = {"n": int(len(idx)), "n_test": int(len(raw)), "emulator_s": round(emu_s, 1),
           "int8_steps_differ": float((sides["numpy"][0] != sides["C"][0]).mean()),
           "int8_max_step": int(np.abs(sides["numpy"][0].astype(int) - sides["C"][0].astype(int)).max())}
    for name, (q, target) in sides.items():
        o = host.run_many(q).reshape(len(idx), -1).astype(np.float32)
        if task == "anomaly":
            deq = (o - h.output_zero_point) * h.output_scale
            err = ((deq - target.reshape(len(idx), -1)) ** 2).mean(axis=1)
            out[name] = float(roc_auc_score(y, err))
        else:
            out[name] = float((o.argmax(axis=1) == y).mean())
    out["diff_points"] = 100 * (out["C"] - out["numpy"])
    return out


# ---- table -------------------------------------------------------------------------------------
def split_figure(figs: dict, key: str, scale: float = 1.0, fmt: str = "{:.1f}") -> tuple[str, str, str]:
    """(front-end, network, total) of one figure; front-end '-' where it does not run on the device."""
    total = figs[key]["value"] * scale
    fe = figs.get(f"frontend_{key}")
    f = None if fe is None else fe["value"] * scale
    return ("-" if f is None else fmt.format(f)), fmt.format(total - (f or 0.0)), fmt.format(total)


def metric_cell(m: dict, key: str) -> str:
    """The clean figure, and the field one (at task.noise.field_snr_db, what kws selects on) where it differs."""
    field = m.get(f"{key}_field")
    return f"{m[key]:.3f}" + (f" ({field:.3f})" if field is not None and field != m[key] else "")


def row(task: str, board: str, rec: dict, wall: float, trials: int, ref: str) -> list[str]:
    metric = TASKS[task][0]
    m, f = rec["metrics"], rec["figures"]
    lat, ram, flash = (split_figure(f, "latency_ms", fmt="{:.2f}"), split_figure(f, "ram_bytes", 1 / 1024),
                       split_figure(f, "flash_bytes", 1 / 1024))
    return [task, board, metric, metric_cell(m, f"val_{metric}"), metric_cell(m, f"test_{metric}"),
            f"{lat[0]}/{lat[1]}/{lat[2]}", f"{ram[0]}/{ram[1]}", f"{flash[0]}/{flash[1]}",
            rec["description"], str(trials), f"{wall:.0f}", ref]


HEAD = ["task", "board", "metric", "val (field)", "test (field)", "ms FE/net/total", "RAM KB FE/net",
        "flash KB FE/net", "best candidate", "trials", "search s", "reference"]


def print_table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for cells in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip(), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--timeout-s", type=int, default=240, help="per search: no new trial after this long")
    ap.add_argument("--out", help="folder to keep the searches in (a rerun skips those with best/trial.json)")
    ap.add_argument("--device-features", action=argparse.BooleanOptionalAction, default=True,
                    help=f"score each task's best candidate on {DEVICE_BOARD} with C-computed test features")
    ap.add_argument("--device-n", type=int, default=200, help="at most this many test examples through the emulator")
    ap.add_argument("--leakage", action="store_true", help="task=fault: what a leaky random-window split gives")
    args = ap.parse_args()
    tasks, boards = args.tasks.split(","), args.boards.split(",")
    for t in tasks:
        if t not in TASKS:
            print(f"--tasks: unknown task {t!r} (known: {', '.join(TASKS)})", file=sys.stderr)
            sys.exit(2)
    for b in boards:
        if b not in BOARDS:
            print(f"--boards: unknown board {b!r} (known: {', '.join(BOARDS)})", file=sys.stderr)
            sys.exit(2)
    if not Path(os.environ.get("AUTOTINY_DATA", "")).is_dir():
        print("AUTOTINY_DATA: set it to the shared data folder (speech_commands_v0.02, cwru_bearing, mnist, "
              "mlperf_tiny)", file=sys.stderr)
        sys.exit(2)
    print("$ " + " ".join(shlex.quote(a) for a in [f"AUTOTINY_DATA={os.environ['AUTOTINY_DATA']}",
                                                   ".venv/bin/python", "bench/tasks.py", *sys.argv[1:]]), flush=True)
    tmp = None
    if args.out:
        work = Path(args.out).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        work = Path(tmp.name)
    cache = work / "cache"
    rows, checks, refs = [], [], {}
    with open(work / "searches.log", "a") as log:
        for task in tasks:
            refs[task] = reference(task, cache)
            for board in boards:
                run_dir = work / f"{task}-{board}"
                try:
                    if best_record(run_dir).exists():
                        rec = json.loads(best_record(run_dir).read_text())
                        wall_file = run_dir / "search_wall_s"
                        wall = float(wall_file.read_text()) if wall_file.exists() else float("nan")
                        print(f"{task} x {board}: kept from {run_dir}", flush=True)
                    else:
                        rec, wall = run_search(task, board, args.trials, work, TASKS[task][1], args.timeout_s,
                                               cache, log)
                except RuntimeError as e:
                    print(f"{task} x {board}: FAILED: {e}".splitlines()[0], flush=True)
                    rows.append([task, board, TASKS[task][0], "failed", *[""] * 8])
                    continue
                done = sum(1 for _ in (run_dir / "trials").glob("*/trial.json"))
                rows.append(row(task, board, rec, wall, done, refs[task]))
                print("  ".join(rows[-1]), flush=True)
                if args.device_features and board == DEVICE_BOARD:
                    checks.append(device_row(task, run_dir, cache, args.device_n))
    print(f"\n{args.trials} trials per search, search.timeout_s={args.timeout_s}; data: "
          + "; ".join(f"{t} {' '.join(TASKS[t][1])}" for t in tasks))
    print("val/test: the int8 model's metric, clean (field: at task.noise.field_snr_db, what a kws search selects "
          "on); trials: trial records the search wrote (search.timeout_s stops new ones)")
    print("figures: emulated; ms, RAM and flash as front-end (the device C front-end, firmware/frontends) / "
          "network (total - front-end); flash includes firmware and every model slot in the network part")
    print_table(HEAD, rows)
    if checks:
        print(f"\nint8 model on the host runtime, test features from numpy vs from the device C front-end "
              f"(emulated {DEVICE_BOARD}); target |diff| <= 0.5 points")
        print_table(["task", "metric", "N (of test)", "numpy", "C", "diff pts", "int8 values differ", "max step",
                     "emulator s"], checks)
    if args.leakage and "fault" in tasks:
        print(leakage_check(FAULT_WINDOWS))
    if tmp is not None:
        tmp.cleanup()


def device_row(task: str, run_dir: Path, cache: Path, n_max: int) -> list[str]:
    """One row of the C-features table; kept in the run folder so a resumed bench does not emulate again."""
    kept = run_dir / f"device_features_n{n_max}.json"
    try:
        d = json.loads(kept.read_text()) if kept.exists() else device_check(task, run_dir, cache, n_max)
    except Exception as e:  # one task's emulation failing must not lose the other rows
        print(f"{task}: C features FAILED: {type(e).__name__}: {e}".splitlines()[0], flush=True)
        return [task, TASKS[task][0], "failed", *[""] * 6]
    kept.write_text(json.dumps(d, indent=1))
    r = [task, TASKS[task][0], f"{d['n']} ({d['n_test']})", f"{d['numpy']:.4f}", f"{d['C']:.4f}",
         f"{d['diff_points']:+.2f}", f"{d['int8_steps_differ']:.3%}", str(d["int8_max_step"]), f"{d['emulator_s']:.0f}"]
    print("C features: " + "  ".join(r), flush=True)
    return r


if __name__ == "__main__":
    main()
