"""What the sparse weight encoding saves and costs (compression.sparsity): the MLPerf Tiny reference
models with their filters magnitude-pruned, dense blob vs the blob the device would get.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/sparse_weights.py [--sparsity 0.5,0.75,0.9]
        [--boards stm32f746,nrf52840]

For each model (KWS DS-CNN, AD autoencoder, IC ResNet from $AUTOTINY_DATA/mlperf_tiny) and sparsity, every
CONV_2D and FULLY_CONNECTED filter loses its smallest int8 weights (autotiny.compress.zero_smallest, as
tfmot's magnitude pruning leaves a trained model; depthwise filters stay dense, as tfmot leaves them).
The accuracy of such a model means nothing; its sizes and cycles are what a pruned candidate of that
shape gets.  Per board: the dense blob on the firmware without the decoder vs
autotiny.measure.protocol.device_blob(..., sparse=True), the blob measurement, layer figures and export
use (sparse only where flash comes out smaller, the decoder's code included), both emulated once on a
zero input (outputs checked equal): flash (firmware + model slots), RAM reserved, inference cycles.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autotiny import firmware  # noqa: E402
from autotiny.compress import zero_smallest  # noqa: E402
from autotiny.config import compose  # noqa: E402
from autotiny.measure.protocol import device_blob, emulate, image_for  # noqa: E402
from autotiny.tflite_model import read_tflite  # noqa: E402

MODELS = {"KWS": "kws_ref_model_int8", "AD": "ad01_int8", "IC": "pretrainedResnet_quant"}


def pruned(path: Path, sparsity: float):
    m = read_tflite(path)
    filters = {op.inputs[1] for op in m.ops if op.name in ("CONV_2D", "FULLY_CONNECTED")}
    dense = m.constant
    m.constant = lambda i: zero_smallest(dense(i), sparsity) if i in filters else dense(i)
    return m


def row(board, m) -> tuple:
    d, s = device_blob(m, board), device_blob(m, board, sparse=True)
    x = np.zeros(d.input_shape, d.input_dtype)
    rd, rs = emulate(d.data, board, x), emulate(s.data, board, x)
    if rd.output.tobytes() != rs.output.tobytes():
        raise SystemExit(f"{board.name}: sparse and dense outputs differ")
    ad = firmware.account(d, board, image=image_for(d, board), peak_stack=rd.peak_stack_bytes)
    as_ = firmware.account(s, board, image=image_for(s, board), peak_stack=rs.peak_stack_bytes)
    encoded = s.op_names.count("DECODE_SPARSE_INT8")
    return ad.flash, as_.flash, ad.ram_reserved, as_.ram_reserved, rd.cycles, rs.cycles, encoded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sparsity", default="0.5,0.75,0.9")
    ap.add_argument("--boards", default="stm32f746,nrf52840")
    args = ap.parse_args()
    root = Path(os.environ.get("AUTOTINY_DATA", "")) / "mlperf_tiny"
    if not root.is_dir():
        raise SystemExit("set AUTOTINY_DATA to the shared data folder (it needs mlperf_tiny/)")
    head = ("model", "board", "sparsity", "filters sparse", "flash B dense -> device", "RAM res B dense -> device",
            "cycles dense -> device")
    rows = []
    for label, name in MODELS.items():
        for sparsity in (float(s) for s in args.sparsity.split(",")):
            m = pruned(root / f"{name}.tflite", sparsity)
            for bn in args.boards.split(","):
                fd, fs, rd, rs, cd, cs, n = row(compose([f"board={bn}"]).board, m)
                rows.append((label, bn, f"{sparsity:g}", str(n), f"{fd:,} -> {fs:,} ({(fs / fd - 1) * 100:+.1f} %)",
                             f"{rd:,} -> {rs:,} ({rs - rd:+,})", f"{cd:,} -> {cs:,} ({(cs / cd - 1) * 100:+.1f} %)"))
                print("  ".join(rows[-1]), flush=True)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    print()
    for cells in (head, ["-" * w for w in widths], *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)))
    print("flash = firmware (with the decoder only where the blob is sparse) + every model slot; "
          "cycles: emulated inference (cycle model); 0 filters sparse = the device keeps the dense blob")


if __name__ == "__main__":
    main()
