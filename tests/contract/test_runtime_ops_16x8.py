"""Per-op property tests for TFLite's 16x8 mode (int16 activations with zero point 0, int8
weights, int64 bias): random single-op models written as .tflite flatbuffers, 200
derandomized cases per op and target, as tests/contract/test_runtime_ops.py does for int8:

* `host`: tflite_micro and our host runtime (the reference kernels) agree byte for byte;
* `arm`: the firmware for stm32f746 with `board.kernels=auto`, run in the emulator, agrees
  with the host runtime byte for byte: cortex_m_dsp's 16x8 conv, depthwise and fully
  connected (test_dsp_kernels.py aims cases at their paths), the reference kernels for the rest.

The cases are test_runtime_ops' strategies drawn with its INT16 activation record (zero point
0, int16 inputs over the whole range or a narrow part of it, int64 biases up to 2^40)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from tests.contract.test_runtime_ops import (CASES, INT16, SETTINGS, TARGETS, _check, add_case, conv_case,
                                             dequantize_case, fc_case, mean_case, pool_case, quantize_case,
                                             softmax_case)
from tests.tflite_builder import ModelBuilder, options

from autotiny import blob

# the blob ops whose cases live here (test_runtime_ops.test_case_counts leaves them to this module)
OPS_16X8 = ("CONV_2D_16X8", "DEPTHWISE_CONV_2D_16X8", "FULLY_CONNECTED_16X8", "AVERAGE_POOL_2D_INT16",
            "MAX_POOL_2D_INT16", "ADD_INT16", "MEAN_INT16", "SOFTMAX_INT16", "QUANTIZE_INT16", "DEQUANTIZE_INT16")
COUNTS: dict[tuple[str, str], int] = {}


def check(name: str, model: bytes, x: np.ndarray, target: str) -> None:
    _check(name, model, x, target)
    COUNTS[name, target] = COUNTS.get((name, target), 0) + 1


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=conv_case(act=INT16))
def test_conv_2d_16x8(case, target):
    check("CONV_2D_16X8", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=conv_case(depthwise=True, act=INT16))
def test_depthwise_conv_2d_16x8(case, target):
    check("DEPTHWISE_CONV_2D_16X8", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=fc_case(act=INT16))
def test_fully_connected_16x8(case, target):
    check("FULLY_CONNECTED_16X8", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=pool_case("AVERAGE_POOL_2D", act=INT16))
def test_average_pool_2d_int16(case, target):
    check("AVERAGE_POOL_2D_INT16", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=pool_case("MAX_POOL_2D", act=INT16))
def test_max_pool_2d_int16(case, target):
    check("MAX_POOL_2D_INT16", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=add_case(act=INT16))
def test_add_int16(case, target):
    check("ADD_INT16", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=mean_case(act=INT16))
def test_mean_int16(case, target):
    check("MEAN_INT16", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=softmax_case(act=INT16))
def test_softmax_int16(case, target):
    check("SOFTMAX_INT16", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=quantize_case(act=INT16))
def test_quantize_int16(case, target):
    check("QUANTIZE_INT16", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=dequantize_case(act=INT16))
def test_dequantize_int16(case, target):
    check("DEQUANTIZE_INT16", *case, target)


def test_case_counts():
    """Runs last in this module: every 16x8 blob op saw its 200 cases per target that ran."""
    targets = {t for _, t in COUNTS}
    if "host" not in targets or sum(1 for _, t in COUNTS if t == "host") < len(OPS_16X8):
        pytest.skip("only meaningful when the whole module runs")
    assert set(OPS_16X8) <= set(blob.OPCODES)
    assert set(COUNTS) == {(op, t) for op in OPS_16X8 for t in targets}, sorted(COUNTS)
    assert all(v >= CASES for v in COUNTS.values()), COUNTS


def _conv16(in_zp: int = 0, out_scale: float = 1e-3) -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), "INT16", scale=0.01, zero_point=in_zp)
    w = b.tensor((3, 1, 1, 2), scale=[0.1] * 3, zero_point=[0] * 3, data=np.ones((3, 1, 1, 2), np.int8))
    y = b.tensor((1, 4, 4, 3), "INT16", scale=out_scale, zero_point=0)
    b.op("CONV_2D", [x, w, -1], [y], options("Conv2DOptionsT", padding=0, strideH=1, strideW=1,
                                              dilationHFactor=1, dilationWFactor=1))
    return b.build([x], [y])


def test_what_16x8_cannot_hold_is_refused_with_the_reason():
    """int16 activations are symmetric, and TFLite's int64 rescaling takes multipliers below 128:
    anything else is named, never run wrongly."""
    from autotiny.errors import ModelError

    assert blob.load_blob(blob.from_tflite(_conv16()).data).op_names == ["CONV_2D_16X8"]
    with pytest.raises(ModelError, match=r"non-zero zero point .*op #0 CONV_2D"):
        blob.from_tflite(_conv16(in_zp=3))
    with pytest.raises(ModelError, match=r"multiplier of 128 or more .*op #0 CONV_2D"):
        blob.from_tflite(_conv16(out_scale=1e-6))
