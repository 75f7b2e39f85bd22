"""Blob vs .tflite size and our arena vs TFLM's for the MLPerf Tiny int8 models,
plus firmware sections per board.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/runtime_sizes.py

TFLM's arena comes from tflite_micro's print_allocations() on this x86-64 host
(64-bit pointers and struct sizes; a Cortex-M build of TFLM needs somewhat less
for its own structures, the activation plan ("head") is the same)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autotiny import blob, firmware  # noqa: E402
from autotiny.config import group_options, load_board  # noqa: E402
from autotiny.measure.tflite import tflm_arena_bytes  # noqa: E402

MODELS = ["kws_ref_model_int8", "ad01_int8", "pretrainedResnet_quant"]


def tflm_head(model: bytes) -> int:
    """TFLM's activation plan alone ("Arena allocation head")."""
    import tempfile

    from tflite_micro.python.tflite_micro import runtime as tflm

    interp = tflm.Interpreter.from_bytes(model, arena_size=4 << 20)
    interp.invoke()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        m = re.search(rb"Arena allocation head (\d+) bytes", tmp.read())
    return int(m.group(1)) if m else -1


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options; --help
    root = Path(os.environ.get("AUTOTINY_DATA", "/work/shared/data")) / "mlperf_tiny"
    print(f"{'model':24} {'tflite B':>9} {'blob B':>9} {'ours arena':>10} {'TFLM arena':>10} "
          f"{'TFLM head':>9}   (TFLM: x86-64 host sizes)")
    for name in MODELS:
        path = root / f"{name}.tflite"
        if not path.exists():
            print(f"{name:24} missing ({path})")
            continue
        data = path.read_bytes()
        b = blob.from_tflite(path)
        print(f"{name:24} {len(data):9,} {b.size:9,} {b.arena_size:10,} {tflm_arena_bytes(data):10,} "
              f"{tflm_head(data):9,}")
    if shutil.which("arm-none-eabi-gcc"):
        boards = [load_board(name) for name in group_options("board")]
        print(f"\n{'board':10} {'.text':>7} {'.data':>6} {'.bss':>5} {'io':>5} {'stack est':>9} "
              f"{'arena max':>9} {'blob max':>9}")
        for bd in boards:
            img = firmware.build(bd)
            lay = img.layout
            print(f"{bd.name:10} {img.text:7,} {img.data:6,} {img.bss:5,} {img.io:5,} {img.stack_estimate:9,} "
                  f"{lay.arena_region:9,} {lay.blob_region:9,}")
        kws = root / "kws_ref_model_int8.tflite"
        if kws.exists():
            b = blob.from_tflite(kws)
            print("\nKWS DS-CNN on each board (RAM reserved = static + arena + stack reservation of the "
                  f"-fstack-usage bound, {firmware.STACK_RULE}; flash = firmware + model slots × (slot header + blob)):")
            for bd in boards:
                a = firmware.account(b, bd)
                print(f"  {bd.name:10} RAM {a.ram:7,} B of {a.ram_capacity:,}   flash {a.flash:7,} B of "
                      f"{a.flash_capacity:,}")
    else:
        print("\narm-none-eabi-gcc not installed: no firmware figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
