"""MLPerf Tiny reference models on the emulated boards, next to published real-board results.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/mlperf_tiny.py [--layers] [--profile] [--opt-levels]

For stm32f746 (Cortex-M7 216 MHz) and stm32l4r5 (Cortex-M4F 120 MHz): our
firmware as the board record builds it (conf/board: `kernels: auto` = the core's fast
kernel set, cortex_m_dsp; its gcc `opt_level`) emulated with the cycle model, against the
published MLPerf Tiny latencies (NOTES.md §6).  A second table sets the portable kernels
(`board.kernels=reference`) beside the fast ones, same gcc level: latency, cycles per MAC,
speed-up.  The published
figures come from other inference engines (TFLM reference kernels, CMSIS-NN,
X-CUBE-AI, Plumerai...), so the ratio mixes engine and cycle-model differences:
the closest like-for-like is L4R5 / TFLM reference kernels.  Energy is
latency x the board's active power (conf/board), not a measurement.

--layers adds per model and board the per-layer table: cycles and MACs per cycle with each
kernel set.  --opt-levels adds the gcc level comparison: every model's latency and the firmware's
.text per board, kernel set and level (O2, O3, Os) -- how conf/board's `opt_level` was chosen.

--profile adds, per model and board, the counts behind the expected-error table in
emulation/README.md (whole run from reset, zero input): distinct basic blocks, the mean
executed block length, the share of cycles that are branch penalties, loads as a share of
instructions, divides executed, and the functions with the most cycles.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import autotiny.blob  # noqa: E402,F401  (registers the MAC rules read_tflite uses)
from autotiny import firmware  # noqa: E402
from autotiny.config import compose  # noqa: E402
from autotiny.measure import cycles, emulator  # noqa: E402
from autotiny.tflite_model import read_tflite  # noqa: E402

KERNEL_SETS = ("reference", "auto")  # portable, the core's fast set
OPT_LEVELS = ("O2", "O3", "Os")
MODELS = {"KWS": "kws_ref_model_int8", "AD": "ad01_int8", "IC": "pretrainedResnet_quant", "VWW": "vww_96_int8"}
BOARDS = ("stm32f746", "stm32l4r5")

# NOTES.md §6: MLPerf Tiny results v0.5-v1.3 (latency ms, engine; energy uJ when published)
PUBLISHED = {
    ("stm32f746", "KWS"): [(17.7, "Plumerai v1.1"), (18.4, "Bosch v1.1")],
    ("stm32f746", "VWW"): [(34.1, "Plumerai")],
    ("stm32f746", "IC"): [(61.6, "Bosch v1.1")],
    ("stm32f746", "AD"): [(1.70, "Bosch v1.1")],
    ("stm32l4r5", "KWS"): [(181.9, "TFLM 2.3.1 reference kernels (7,374 uJ @1.8 V)"),
                           (99.8, "microTVM + CMSIS-NN"), (71.7, "Plumerai v1.0"), (43.2, "X-CUBE-AI v1.2")],
    ("stm32l4r5", "AD"): [(10.05, "TFLM reference"), (4.79, "X-CUBE-AI")],
}


def board_record(name: str, *overrides: str):
    return compose([f"board={name}", *overrides]).board


def revision() -> str:
    """The commit measured at (cycle counts move with the kernels and the cycle model)."""
    run = lambda *a: subprocess.run(["git", *a], cwd=Path(__file__).resolve().parents[1],  # noqa: E731
                                    capture_output=True, text=True).stdout.strip()
    dirty = run("status", "--porcelain", "--", "firmware", "emulation", "autotiny/measure")
    return (run("rev-parse", "--short", "HEAD") or "?") + (" + uncommitted firmware/emulator changes" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", action="store_true",
                    help="also print the per-layer tables (cycles, MACs per cycle, portable and fast kernels)")
    ap.add_argument("--profile", action="store_true",
                    help="also print block/branch/load/divide counts and the top functions per model and board")
    ap.add_argument("--opt-levels", action="store_true",
                    help="also compare gcc -O2/-O3/-Os per board and kernel set (every model's latency, .text)")
    args = ap.parse_args()
    root = Path(os.environ.get("AUTOTINY_DATA", "/work/shared/data")) / "mlperf_tiny"
    if not root.is_dir():
        sys.exit(f"{root} not found: set AUTOTINY_DATA")
    print(f"measured at {revision()}; boards as conf/board builds them ("
          + ", ".join(f"{n}: kernels={b.kernels} {b.opt_level}" for n in BOARDS for b in [board_record(n)]) + ")")
    print(f"{'model':<5} {'board':<10} {'MACs':>10} {'instr':>12} {'cycles':>12} {'cyc/MAC':>8} {'ms':>9} "
          f"{'uJ':>9} {'RAM res B':>9} {'RAM use B':>9} {'stack B':>8} {'flash B':>9} {'wall s':>7}  "
          "published (engine) -> ours/published")
    layer_tables, profiles, kernel_rows = [], [], []
    boards = [board_record(name) for name in BOARDS]
    models = {}
    for task, stem in MODELS.items():
        path = root / f"{stem}.tflite"
        if not path.exists():
            print(f"{task:<5} (model {path.name} not in {root}: skipped)")
            continue
        model = models[task] = path.read_bytes()
        for board in boards:
            name = board.name
            t0 = time.perf_counter()
            m = emulator.measure_emulated(model, board)
            wall = time.perf_counter() - t0
            if m.status != "ok":
                print(f"{task:<5} {name:<10} infeasible: {m.fault}")
                continue
            pubs = PUBLISHED.get((name, task), [])
            pub = "; ".join(f"{ms:g} ms ({eng}) -> {m.latency_ms.value / ms:.2f}x" for ms, eng in pubs) or "-"
            print(f"{task:<5} {name:<10} {m.macs.value:>10,.0f} {m.instructions.value:>12,.0f} "
                  f"{m.cycles.value:>12,.0f} {m.cycles.value / max(m.macs.value, 1):>8.2f} "
                  f"{m.latency_ms.value:>9.2f} {m.energy_uj.value:>9.0f}{'*' if m.energy_uj.assumption else ' '}"
                  f"{m.ram_bytes.value:>9,.0f} {m.ram_used_bytes.value:>9,.0f} "
                  f"{m.peak_stack_bytes.value:>8,.0f} {m.flash_bytes.value:>9,.0f} {wall:>7.2f}  {pub}")
            by_set = {k: m if k == board.kernels else emulator.measure_emulated(
                model, board_record(name, f"board.kernels={k}", f"board.opt_level={board.opt_level}"))
                for k in KERNEL_SETS}
            kernel_rows.append((task, name, board.opt_level, by_set))
            if args.layers:
                layer_tables.append((task, name, model, by_set))
            if args.profile:
                profiles.append((task, name, profile(model, board)))
    print("RAM res = what a device must reserve (static + arena + measured peak stack + margin); RAM use = with "
          "the peak stack alone.  uJ* = the board's active power is an assumption (conf/board: "
          + "; ".join(f"{b.name}: {b.assumption('active_power')}" for b in boards if b.assumption("active_power"))
          + ")")
    print(f"\nKernel sets: portable (board.kernels=reference) vs fast (auto: cortex_m_dsp), same gcc level\n"
          f"{'model':<5} {'board':<10} {'-O':<3} {'portable ms':>11} {'fast ms':>9} {'speed-up':>8} "
          f"{'portable cyc/MAC':>16} {'fast cyc/MAC':>12} {'fast MAC/cyc':>12} {'RAM res B p/f':>15}")
    for task, name, opt, by_set in kernel_rows:
        ref, fast = by_set["reference"], by_set["auto"]
        macs = max(fast.macs.value, 1)
        if ref.status != "ok" or fast.status != "ok":
            print(f"{task:<5} {name:<10} infeasible: {ref.fault or fast.fault}")
            continue
        print(f"{task:<5} {name:<10} {opt:<3} {ref.latency_ms.value:>11.2f} {fast.latency_ms.value:>9.2f} "
              f"{ref.cycles.value / fast.cycles.value:>7.2f}x {ref.cycles.value / macs:>16.2f} "
              f"{fast.cycles.value / macs:>12.2f} {macs / fast.cycles.value:>12.3f} "
              f"{ref.ram_bytes.value:>7,.0f}/{fast.ram_bytes.value:,.0f}")
    for task, name, model, by_set in layer_tables:
        print(f"\n{task} on {name} (per layer; MAC/cyc = MACs per cycle):")
        print(format_layer_sets(model, by_set))
    if args.opt_levels:
        print_opt_levels(models)
    if profiles:
        print(f"\n{'model':<5} {'board':<10} {'blocks':>6} {'instr/block':>11} {'branch pen.':>11} "
              f"{'loads':>6} {'divides':>8} {'not inference':>13} {'gap/layer':>9}  "
              "top functions (share of static block cycles)")
        for task, name, p in profiles:
            top = ", ".join(f"{fn} {c / p['static_cycles']:.0%}" for fn, c, _ in p["functions"][:3])
            print(f"{task:<5} {name:<10} {p['blocks']:>6} {p['insns'] / p['executions']:>11.2f} "
                  f"{p['penalty_cycles'] / p['cycles']:>11.1%} {p['loads'] / p['insns']:>6.1%} "
                  f"{p['divides']:>8,} {p['boot_cycles']:>13,} {p['gap_per_layer']:>9.1f}  {top}")
        print("(whole run from reset; branch pen. = cycles beyond the blocks' static costs / all cycles; "
              "loads = ldr*/ldrd/vldr instructions / all instructions; not inference = cycles from reset "
              "outside the inference span (start-up, blob CRC-32 check, output copy); gap/layer = inference "
              "cycles in no layer (the layer-boundary calls) per layer boundary)")


def format_layer_sets(model: bytes, by_set: dict) -> str:
    """Per layer: cycles with each kernel set, MACs (from the .tflite, when its ops are the blob's)."""
    t = read_tflite(model)
    fast, ref = by_set["auto"].layers, by_set["reference"].layers
    macs = [t.op_macs(op) for op in t.ops] if len(t.ops) == len(fast) else [0] * len(fast)
    rows = [f"{'#':>3}  {'op':<18} {'MACs':>10} {'portable cyc':>13} {'fast cyc':>11} {'speed-up':>8} "
            f"{'portable MAC/cyc':>16} {'fast MAC/cyc':>12}"]
    for (idx, op, cyc, _), (_, _, rcyc, _), mac in zip(fast, ref, macs):
        rate = (f"{mac / rcyc:>16.3f} {mac / cyc:>12.3f}" if mac else f"{'-':>16} {'-':>12}")
        rows.append(f"{idx:>3}  {op:<18} {mac:>10,} {rcyc:>13,} {cyc:>11,} {rcyc / max(cyc, 1):>7.2f}x {rate}")
    return "\n".join(rows)


def print_opt_levels(models: dict) -> None:
    """Latency per gcc level, board and kernel set; the firmware's .text beside it."""
    print(f"\ngcc levels (ms per model; .text = the firmware image's code bytes)\n"
          f"{'board':<10} {'kernels':<10} {'-O':<3} {'.text B':>8} " + " ".join(f"{t + ' ms':>9}" for t in models))
    for name in BOARDS:
        for k in KERNEL_SETS:
            for opt in OPT_LEVELS:
                b = board_record(name, f"board.kernels={k}", f"board.opt_level={opt}")
                img = firmware.build(b)
                ms = [emulator.measure_emulated(model, b).latency_ms.value for model in models.values()]
                print(f"{name:<10} {k:<10} {opt:<3} {img.text:>8,} " + " ".join(f"{v:>9.2f}" for v in ms))


def profile(model: bytes, board) -> dict:
    """Counts over one emulated run from reset (zero input) on the board's Machine."""
    from autotiny import blob
    from autotiny.measure import protocol

    b = blob.from_tflite(model)
    mach = protocol.machine(board)
    mach.clear_profile()
    r = emulator.emulate(b.data, board, None, on=mach)
    assert r.ok, r.fault or r.status_name
    loads = divides = static = execs = 0
    seen = 0
    for addr, blk in mach.blocks().items():
        n = blk["count"]
        if not n:
            continue
        seen += 1
        execs += n
        static += n * blk["cycles"]
        for ins in cycles.decode(mach.read(addr, blk["size"]), addr):
            loads += n * (ins.cls in ("load", "load_double", "fp_load"))
            divides += n * (ins.cls == "div")
    return {"blocks": seen, "executions": execs, "insns": r.total_instructions, "cycles": r.total_cycles,
            "static_cycles": static, "penalty_cycles": r.total_cycles - static, "loads": loads,
            "divides": divides, "functions": mach.profile(), "boot_cycles": r.total_cycles - r.cycles,
            "gap_per_layer": (r.cycles - sum(ly.cycles for ly in r.layers)) / max(len(r.layers) - 1, 1)}


if __name__ == "__main__":
    main()
