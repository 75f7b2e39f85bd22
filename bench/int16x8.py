"""int8 vs 16x8 (int16 activations, int8 weights) on the device: the trained MLPerf Tiny KWS DS-CNN
(rebuilt from the float reference in the shared data, tests/kws_reference.py) converted both ways by
autotiny.compress with the same calibration inputs, each measured on the emulated boards; then
(latency only) models of the other MLPerf Tiny shapes built by autotiny.models with untrained
weights, calibrated on random inputs: `ad` the FC autoencoder 640-128x4-8-128x4-640 (fully
connected), `ic` ResNet-8 on 32x32x1 (3x3 convolutions up to 3x3x64 = 576 taps, adds).

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/int16x8.py [--boards stm32f746,stm32l4r5]
        [--models kws,ad,ic]

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


def shape_models():
    """(name, Keras model, calibration inputs) of the other MLPerf Tiny shapes, untrained."""
    from autotiny.models import autoencoder, resnet

    rng = np.random.default_rng(0)
    yield ("AD FC autoencoder (untrained)",
           autoencoder.build_fc((640,), 0, autoencoder.FcAutoencoderParams(n_layers=4, units=128, bottleneck=8)),
           rng.normal(size=(64, 640, 1)).astype(np.float32))
    yield ("IC ResNet-8 32x32x1 (untrained)", resnet.build((32, 32), 10, resnet.ResNetParams(16, 3, 1)),
           rng.normal(size=(64, 32, 32, 1)).astype(np.float32))


def table(title: str, models: dict[str, bytes], boards: list[str], error=None) -> None:
    """One row per mode, kernel set and board; `error(tflite)`: the |dp| columns (None: none)."""
    print(title)
    print(f"{'mode':5} {'kernels':9} {'board':10} {'blob B':>8} {'arena B':>8} {'flash B':>9} {'RAM res B':>9} "
          f"{'cycles':>11} {'latency ms':>10} {'max|dp|':>8} {'mean|dp|':>8}")
    for mode, kernels in (("int8", "auto"), ("16x8", "reference"), ("16x8", "auto")):
        tfl = models[mode]
        err = error(tfl) if error else None
        errs = f"{err.max():8.4f} {err.mean():8.5f}" if err is not None else f"{'-':>8} {'-':>8}"
        b = blob.from_tflite(tfl)
        for name in boards:
            board = compose([f"board={name}", f"board.kernels={kernels}"]).board
            m = measure_emulated(tfl, board, seed=0)
            cycles = m.latency_ms.value * board.clock_hz / 1e3
            label = "portable" if kernels == "reference" else "fast"
            print(f"{mode:5} {label:9} {name:10} {b.size:8,} {b.arena_size:8,} {m.flash_bytes.value:9,.0f} "
                  f"{m.ram_bytes.value:9,.0f} {cycles:11,.0f} {m.latency_ms.value:10.1f} {errs}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default="stm32f746,stm32l4r5")
    ap.add_argument("--models", default="kws,ad,ic")
    args = ap.parse_args()
    boards, which = args.boards.split(","), args.models.split(",")
    if "kws" in which:
        root = Path(os.environ.get("AUTOTINY_DATA", "/work/shared/data"))
        model = kws_reference.keras_model(root)
        calib = kws_reference.calibration(root, n=200, seed=0)
        probe = kws_reference.calibration(root, n=64, seed=1)
        p_float = model.predict(probe, verbose=0)
        table(f"KWS DS-CNN (MLPerf Tiny reference weights), {model.count_params():,} parameters",
              {"int8": to_int8_tflite(model, calib), "16x8": to_int16x8_tflite(model, calib)}, boards,
              lambda tfl: np.abs(probabilities(tfl, probe) - p_float))
    for (title, model, calib), key in zip(shape_models(), ("ad", "ic")):
        if key in which:
            print()
            table(f"{title}, {model.count_params():,} parameters",
                  {"int8": to_int8_tflite(model, calib), "16x8": to_int16x8_tflite(model, calib)}, boards)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
