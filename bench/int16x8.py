"""int8 vs 16x8 (int16 activations, int8 weights) on the device: the trained MLPerf Tiny KWS DS-CNN
(rebuilt from the float reference in the shared data, tests/kws_reference.py) converted both ways by
autotiny.compress with the same calibration inputs, each measured on the emulated boards.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/int16x8.py [--boards stm32f746,stm32l4r5]

Rows: int8 and 16x8 on the board's fast kernel set (`board.kernels=auto`: cortex_m_dsp on an
M4/M7), and 16x8 on the portable reference kernels (`board.kernels=reference`), the fast set's
baseline.  Columns: blob and arena bytes, flash (firmware + every model slot) and RAM reserved,
latency from the emulated cycles, and the quantisation error: the largest and mean |p - p_float| of the class probabilities over
64 inputs spread over the int8 model's input range, against the float Keras model (a proxy for
accuracy: no labelled data is read here)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from autotiny import blob, runtime  # noqa: E402
from autotiny.compress import to_int8_tflite, to_int16x8_tflite  # noqa: E402
from autotiny.config import compose  # noqa: E402
from autotiny.measure.emulator import measure_emulated  # noqa: E402
from tests import kws_reference  # noqa: E402


def probabilities(tflite: bytes, xs: np.ndarray) -> np.ndarray:
    """Our host runtime's outputs for float inputs, quantised and dequantised with the model's params."""
    b = blob.from_tflite(tflite)
    h = b.header
    info = np.iinfo(b.input_dtype)
    host = runtime.HostModel(b)
    out = []
    for x in xs:
        q = np.clip(np.round(x / h.input_scale) + h.input_zero_point, info.min, info.max).astype(b.input_dtype)
        y = host.run(q.reshape(b.input_shape)).astype(np.float32)
        out.append((y - h.output_zero_point) * h.output_scale)
    return np.array(out).reshape(len(xs), -1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default="stm32f746,stm32l4r5")
    args = ap.parse_args()
    root = Path(os.environ.get("AUTOTINY_DATA", "/work/shared/data"))
    model = kws_reference.keras_model(root)
    calib = kws_reference.calibration(root, n=200, seed=0)
    probe = kws_reference.calibration(root, n=64, seed=1)
    p_float = model.predict(probe, verbose=0)
    models = {"int8": to_int8_tflite(model, calib), "16x8": to_int16x8_tflite(model, calib)}
    print(f"KWS DS-CNN (MLPerf Tiny reference weights), {model.count_params():,} parameters")
    print(f"{'mode':5} {'kernels':9} {'board':10} {'blob B':>8} {'arena B':>8} {'flash B':>9} {'RAM res B':>9} "
          f"{'cycles':>11} {'latency ms':>10} {'max|dp|':>8} {'mean|dp|':>8}")
    for mode, kernels in (("int8", "auto"), ("16x8", "reference"), ("16x8", "auto")):
        tfl = models[mode]
        err = np.abs(probabilities(tfl, probe) - p_float)
        b = blob.from_tflite(tfl)
        for name in args.boards.split(","):
            board = compose([f"board={name}", f"board.kernels={kernels}"]).board
            m = measure_emulated(tfl, board, seed=0)
            cycles = m.latency_ms.value * board.clock_hz / 1e3
            label = "portable" if kernels == "reference" else "fast"
            print(f"{mode:5} {label:9} {name:10} {b.size:8,} {b.arena_size:8,} {m.flash_bytes.value:9,.0f} "
                  f"{m.ram_bytes.value:9,.0f} {cycles:11,.0f} {m.latency_ms.value:10.1f} "
                  f"{err.max():8.4f} {err.mean():8.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
