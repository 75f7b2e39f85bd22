"""Small .tflite models for tests, written with autotiny.tflite_writer.ModelBuilder (re-exported
here with `options`), and the TFLM reference run (`run_tflm`)."""

from __future__ import annotations

import numpy as np

from autotiny.tflite_writer import NP, TYPES, ModelBuilder, options  # noqa: F401  (re-exported)


def run_tflm(model: bytes, x: np.ndarray, arena_size: int = 1 << 20) -> np.ndarray:
    """Run one input through the tflite_micro Python interpreter (the reference)."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    interp = tflm.Interpreter.from_bytes(model, arena_size=arena_size)
    interp.set_input(x, 0)
    interp.invoke()
    return interp.get_output(0).copy()


def pad_pool_model(side: int) -> bytes:
    """4x4x4 input -> PAD to side x side x 4 (written in order) -> global average pool -> 1x1x1x4."""
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 4), scale=0.1, zero_point=0)
    p = (side - 4) // 2
    pads = b.tensor((4, 2), "INT32", data=np.array([[0, 0], [p, p], [p, p], [0, 0]], dtype=np.int32))
    y = b.tensor((1, side, side, 4), scale=0.1, zero_point=0)
    b.op("PAD", [x, pads], [y])
    z = b.tensor((1, 1, 1, 4), scale=0.1, zero_point=0)
    b.op("AVERAGE_POOL_2D", [y], [z], options("Pool2DOptionsT", padding=1, strideH=1, strideW=1,
                                              filterHeight=side, filterWidth=side))
    return b.build([x], [z])
