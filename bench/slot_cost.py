"""What the over-the-air model slots cost the firmware: each board's firmware built from this tree and
from a copy with firmware/main.c as it was before the slots and without runtime/slots.c (same flags,
same kernels; nor runtime/boot.c, which later took over that main.c's mailbox and hooks), compared; and the cycles from reset the slot check adds for the MLPerf Tiny KWS model
($AUTOTINY_DATA/mlperf_tiny/kws_ref_model_int8.tflite): run bare (no slot header: the blob's own CRC) and
from slot 0 (slot header CRC + content CRC-32; the blob's own CRC skipped).

    AUTOTINY_DATA=../shared/data .venv/bin/python bench/slot_cost.py [--before <git rev of main.c without slots>]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import autotiny.firmware as fw
    import autotiny.targets.cortex_m as cm
    from autotiny.config import load_board

    ap = argparse.ArgumentParser()
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", "firmware/runtime/slots.c"],
                           cwd=ROOT, capture_output=True, text=True).stdout.split()
    ap.add_argument("--before", default=f"{added[-1][:12]}~1" if added else "HEAD")
    args = ap.parse_args()
    boards = [load_board(n) for n in ("stm32f746", "nrf52840", "stm32l4r5")]
    after = [fw.build(b) for b in boards]
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "firmware"
        shutil.copytree(fw.FIRMWARE, old)
        main_c = subprocess.run(["git", "show", f"{args.before}:firmware/main.c"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout
        (old / "main.c").write_text(main_c)
        for f in [*(old / "runtime").glob("slots.*"), *(old / "runtime").glob("boot.*")]:
            f.unlink()
        real_dir, real_pkg = fw.FIRMWARE, cm.package_dir
        fw.FIRMWARE, cm.package_dir = old, (lambda name: old if name == "firmware" else real_pkg(name))
        try:
            before = [fw.build(b) for b in boards]
        finally:
            fw.FIRMWARE, cm.package_dir = real_dir, real_pkg
    print(f"firmware without model slots (main.c of {args.before}) vs with them (this tree)")
    print(f"{'board':10} {'flash image B':>22} {'static RAM B':>16} {'stack bound B':>16}")
    for b, x, y in zip(boards, before, after):
        print(f"{b.name:10} {x.flash_image:>8,} -> {y.flash_image:>7,} (+{y.flash_image - x.flash_image:>4})"
              f" {x.static_ram:>6,} -> {y.static_ram:>6,} {x.stack_estimate:>6,} -> {y.stack_estimate:>6,}")
    kws = Path(os.environ.get("AUTOTINY_DATA", ROOT / "../shared/data")) / "mlperf_tiny" / "kws_ref_model_int8.tflite"
    if not kws.is_file():
        print(f"(no {kws}: set AUTOTINY_DATA for the boot cycles)")
        return
    from autotiny import blob, slots
    from autotiny.measure.protocol import emulate

    mb = blob.from_tflite(kws)
    print(f"\ncycles from reset to the end, {kws.name} (blob {mb.size:,} B): bare blob vs in slot 0")
    for b in boards:
        bare = emulate(mb.data, b)
        slot = emulate(mb.data, b, slots=[slots.slot_image(mb.data, (1, 0, 0))])
        assert bare.ok and slot.ok and bare.output.tobytes() == slot.output.tobytes()
        print(f"{b.name:10} {bare.total_cycles:>12,} -> {slot.total_cycles:>12,} ({slot.total_cycles - bare.total_cycles:+,}; "
              f"inference {bare.cycles:,} -> {slot.cycles:,})")


if __name__ == "__main__":
    main()
