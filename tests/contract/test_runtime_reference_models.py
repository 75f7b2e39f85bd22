"""Bit-exactness on the MLPerf Tiny int8 reference models ($AUTOTINY_DATA/mlperf_tiny):
our host runtime against the tflite_micro interpreter, 50 inputs each."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny import blob, runtime
from autotiny.measure.tflite import tflm_arena_bytes

MODELS = ["kws_ref_model_int8", "ad01_int8", "pretrainedResnet_quant"]
N_INPUTS = 50


def inputs(shape, n: int, seed: int):
    """Edge cases first (all -128, all 127, alternating), then uniform random."""
    rng = np.random.default_rng(seed)
    yield np.full(shape, -128, np.int8)
    yield np.full(shape, 127, np.int8)
    yield (np.indices(shape).sum(axis=0) % 2 * 255 - 128).astype(np.int8)
    for k in range(n - 3):
        lo, hi = (-128, 127) if k % 2 == 0 else sorted(rng.integers(-128, 128, 2))
        yield rng.integers(lo, hi + 1, size=shape, dtype=np.int8)


@pytest.mark.parametrize("name", MODELS)
def test_bit_exact_with_tflm(data_root, name):
    from tflite_micro.python.tflite_micro import runtime as tflm

    path = data_root / "mlperf_tiny" / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present")
    model = path.read_bytes()
    b = blob.from_tflite(path)
    ours = runtime.HostModel(b)
    ref = tflm.Interpreter.from_bytes(model, arena_size=1 << 20)
    n = 0
    for x in inputs(b.input_shape, N_INPUTS, seed=len(name)):
        ref.set_input(x, 0)
        ref.invoke()
        expected = ref.get_output(0)
        got = ours.run(x)
        assert np.array_equal(got, expected), f"{name} input #{n}: {np.flatnonzero(got != expected)[:10]}"
        n += 1
    assert n >= 50
    # memory: our arena holds only activations; TFLM's adds its runtime structures
    assert b.arena_size <= tflm_arena_bytes(model)
    assert b.size < b.tflite_size
