"""Per-layer cycles of the portable and the DSP kernel sets, side by side, on the emulated boards.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/runtime_ops.py [--models KWS,VWW] [--boards stm32f746]

For the MLPerf Tiny reference models (KWS DS-CNN, AD autoencoder, IC ResNet from
$AUTOTINY_DATA/mlperf_tiny) and a MobileNetV1-0.25 96x96 int8 model with random weights
(bench/mobilenet_v1.py, the VWW architecture; written to the autotiny cache
so `autotiny measure` can take it too), on stm32f746 (Cortex-M7 216 MHz) and stm32l4r5 (Cortex-M4F
120 MHz): each layer's op, MACs, emulated cycles and MACs per cycle with board.kernels=reference
(firmware/kernels/reference alone) and board.kernels=auto (the core's faster set,
firmware/kernels/cortex_m_dsp), and the speed-up; then one line per model with the totals (the
inference span: layers + the boundary calls between them) beside the best published real-board
latency (NOTES.md section 6, as in bench/mlperf_tiny.py).  One fixed random input per model (seed 0);
the kernels have no data-dependent loops, so the figures hardly depend on it.  Both runs must
give the same output (checked).  Cycles come from the cycle model (emulation/README.md states its
expected error); they shift when the model is recalibrated, so the header names the commit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autotiny import blob  # noqa: E402
from autotiny.config import compose  # noqa: E402
from autotiny.measure import emulator  # noqa: E402
from autotiny.runtime import cache_dir  # noqa: E402
from autotiny.tflite_model import read_tflite  # noqa: E402

MLPERF = {"KWS": "kws_ref_model_int8", "AD": "ad01_int8", "IC": "pretrainedResnet_quant"}
BOARDS = ("stm32f746", "stm32l4r5")
SETS = ("reference", "auto")
# NOTES.md section 6: the best published MLPerf Tiny latency per board (ms, engine)
PUBLISHED = {
    ("stm32f746", "KWS"): (17.7, "Plumerai v1.1"), ("stm32f746", "VWW"): (34.1, "Plumerai; MLPerf's own VWW model"),
    ("stm32f746", "IC"): (61.6, "Bosch v1.1"), ("stm32f746", "AD"): (1.43, "Bosch v1.2, weights in RAM"),
    ("stm32l4r5", "KWS"): (43.2, "X-CUBE-AI v1.2"), ("stm32l4r5", "AD"): (4.05, "Plumerai v1.1"),
}


def vww_model() -> Path:
    """The MobileNetV1-0.25 96x96 test model, built once into the autotiny cache (keyed by its builder)."""
    import hashlib

    from bench.mobilenet_v1 import mobilenet_v1_025_96

    source = hashlib.sha256((Path(__file__).parent / "mobilenet_v1.py").read_bytes()).hexdigest()[:12]
    path = cache_dir() / "models" / f"mobilenet_v1_025_96_random_int8-{source}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(mobilenet_v1_025_96(seed=0))
        tmp.replace(path)
    return path


def models(data: Path, names: list[str]) -> dict[str, Path]:
    out = {}
    for name in names:
        if name == "VWW":
            out[name] = vww_model()
        elif (data / f"{MLPERF[name]}.tflite").exists():
            out[name] = data / f"{MLPERF[name]}.tflite"
        else:
            print(f"{name}: {data / (MLPERF[name] + '.tflite')} not found (set AUTOTINY_DATA): skipped")
    return out


def commit() -> str:
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "firmware", "emulation", "autotiny/measure"],
                           cwd=root, capture_output=True, text=True)
    return head.stdout.strip() + (" + uncommitted changes to firmware/emulation/measure" if dirty.stdout.strip() else "")


def run(model: bytes, board_name: str, kernels: str):
    board = compose([f"board={board_name}", f"board.kernels={kernels}"]).board
    b = blob.from_tflite(model)
    x = np.random.default_rng(0).integers(-128, 128, size=b.input_shape, dtype=np.int8)
    r = emulator.emulate(b.data, board, x)
    if not r.ok:
        raise SystemExit(f"{board_name} kernels={kernels}: {r.fault or r.status_name}")
    return board, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="KWS,AD,IC,VWW", help="comma-separated: KWS, AD, IC, VWW")
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--totals-only", action="store_true", help="print only the per-model lines")
    args = ap.parse_args()
    names = [n.strip().upper() for n in args.models.split(",") if n.strip()]
    bad = [n for n in names if n not in (*MLPERF, "VWW")]
    if bad:
        sys.exit(f"--models: unknown {', '.join(bad)}; valid: KWS, AD, IC, VWW")
    data = Path(os.environ.get("AUTOTINY_DATA", "/work/shared/data")) / "mlperf_tiny"
    print(f"autotiny {commit()}; cycle model emulation/cycles/<core>.yaml; MAC/c = MACs per cycle")
    totals = []
    for task, path in models(data, names).items():
        raw = path.read_bytes()
        parsed = read_tflite(raw)
        macs = [parsed.op_macs(op) for op in parsed.ops]
        for board_name in args.boards.split(","):
            t0 = time.perf_counter()
            (board, ref), (_, fast) = (run(raw, board_name, k) for k in SETS)
            if not np.array_equal(ref.output, fast.output):
                raise SystemExit(f"{task} on {board_name}: the two kernel sets disagree")
            if not args.totals_only:
                print(f"\n{task} ({path.name}) on {board_name} ({board.clock_hz / 1e6:g} MHz)")
                print(f"{'#':>3} {'op':<18} {'MACs':>10} {'ref cycles':>12} {'MAC/c':>6} {'dsp cycles':>12} "
                      f"{'MAC/c':>6} {'speed-up':>8} {'dsp ms':>8}")
                for lr, lf in zip(ref.layers, fast.layers):
                    n = macs[lr.index]
                    print(f"{lr.index:>3} {lr.op:<18} {n:>10,} {lr.cycles:>12,} {n / lr.cycles:>6.3f} "
                          f"{lf.cycles:>12,} {n / lf.cycles:>6.3f} {lr.cycles / lf.cycles:>7.2f}x "
                          f"{lf.cycles / board.clock_hz * 1e3:>8.3f}")
            totals.append((task, board_name, board.clock_hz, sum(macs), ref.cycles, fast.cycles,
                           time.perf_counter() - t0))
    print(f"\n{'model':<5} {'board':<10} {'MACs':>10} {'ref ms':>9} {'MAC/c':>6} {'dsp ms':>9} {'MAC/c':>6} "
          f"{'speed-up':>8} {'wall s':>6}  best published (engine) -> dsp / published")
    for task, board_name, clock, n, rc, fc, wall in totals:
        pub = PUBLISHED.get((board_name, task))
        note = f"{pub[0]:g} ms ({pub[1]}) -> {fc / clock * 1e3 / pub[0]:.2f}x" if pub else "-"
        print(f"{task:<5} {board_name:<10} {n:>10,} {rc / clock * 1e3:>9.2f} {n / rc:>6.3f} {fc / clock * 1e3:>9.2f} "
              f"{n / fc:>6.3f} {rc / fc:>7.2f}x {wall:>6.1f}  {note}")
    print("ms = inference cycles / clock (emulated with the cycle model; emulation/README.md gives its expected "
          "error); published = real boards, other engines.")


if __name__ == "__main__":
    main()
