"""Speed of the built-in emulator on the MLPerf Tiny KWS model.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/emulator_speed.py [--runs 20] [--rounds 5] [--model PATH]

For each board core (stm32f746: Cortex-M7, stm32l4r5: Cortex-M4) it prints
* emulated instructions per second over back-to-back inferences (emulate(): input
  written, run, output and stack read back) with the cycle model on (native block
  hook) and with no hook at all (plain Unicorn; the instruction count is the hooked
  run's, the program is the same).  Rates are per second of this process's CPU time
  (time.process_time: what other jobs on a shared machine take is not counted), best
  of --rounds rounds of --runs inferences, the two settings interleaved; the
  wall-clock rate of the same best round is printed beside it;
* the wall time of one complete measurement (measure_emulated: .tflite -> blob,
  load, run, read back, accounting), cold (first in the process: firmware cache
  lookup, Unicorn set-up, block costing) and warm (best of 5).
The load average is printed before and after: on a loaded machine CPU-time rates are
still lowered by shared caches and frequency, so compare runs made at similar load.
Goals (issue 4/9): >= 300 M instr/s with the cycle model (CPU time); <= 0.5 s per measurement.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from autotiny import blob  # noqa: E402
from autotiny.config import compose  # noqa: E402
from autotiny.measure import emulator  # noqa: E402

BOARDS = ("stm32f746", "stm32l4r5")


def batch(b, board, x, runs: int, cycle_model: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of `runs` back-to-back inferences."""
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(runs):
        r = emulator.emulate(b.data, board, x, cycle_model=cycle_model)
        assert r.fault is None and r.status == 0, r.fault or r.status_name
    return time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20, help="inferences per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per setting; the best counts")
    ap.add_argument("--model", default=None, help="default: $AUTOTINY_DATA/mlperf_tiny/kws_ref_model_int8.tflite")
    args = ap.parse_args()
    path = Path(args.model) if args.model else \
        Path(os.environ.get("AUTOTINY_DATA", "/work/shared/data")) / "mlperf_tiny" / "kws_ref_model_int8.tflite"
    if not path.exists():
        sys.exit(f"model not found: {path} (set AUTOTINY_DATA or pass --model)")
    model = path.read_bytes()
    b = blob.from_tflite(model)
    x = np.random.default_rng(0).integers(-128, 128, size=b.input_shape, dtype=np.int8)
    print(f"model {path.name}: {b.size:,} B blob; best of {args.rounds} rounds x {args.runs} back-to-back "
          f"inferences; M instr/s per CPU second (wall-clock in brackets); {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'board':<10} {'core':<10} {'instr/inf':>11} {'cycles/inf':>11} {'no hook M/s':>14} "
          f"{'cycle model M/s':>16} {'overhead':>9} {'measure cold s':>15} {'measure warm s':>15}")
    for name in BOARDS:
        board = compose([f"board={name}"]).board
        t0 = time.perf_counter()
        emulator.measure_emulated(model, board)
        cold = time.perf_counter() - t0
        warm = min(_timed(lambda: emulator.measure_emulated(model, board)) for _ in range(5))
        r = emulator.emulate(b.data, board, x)
        emulator.emulate(b.data, board, x, cycle_model=False)  # set-up + translation cache
        best = {False: (float("inf"), 0.0), True: (float("inf"), 0.0)}
        for _ in range(args.rounds):
            for hooked in (False, True):
                best[hooked] = min(best[hooked], batch(b, board, x, args.runs, hooked))
        n = r.total_instructions * args.runs
        emulator.release()  # one board's machines at a time
        (pc, pw), (hc, hw) = best[False], best[True]
        print(f"{name:<10} {board.core:<10} {r.total_instructions:>11,} {r.total_cycles:>11,} "
              f"{n / pc / 1e6:>6.0f} ({n / pw / 1e6:>4.0f}) {n / hc / 1e6:>8.0f} ({n / hw / 1e6:>4.0f}) "
              f"{hc / pc - 1:>9.1%} {cold:>15.3f} {warm:>15.3f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
