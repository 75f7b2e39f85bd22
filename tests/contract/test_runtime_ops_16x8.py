"""Per-op property tests for TFLite's 16x8 mode (int16 activations with zero point 0, int8
weights, int64 bias): random single-op models written as .tflite flatbuffers, 200
derandomized cases per op and target, as tests/contract/test_runtime_ops.py does for int8:

* `host`: tflite_micro and our host runtime (the reference kernels) agree byte for byte;
* `arm`: the firmware for stm32f746 with `board.kernels=auto`, run in the emulator, agrees
  with the host runtime byte for byte.  No fast kernel replaces a 16x8 op yet, so on ARM
  these cases run the reference kernels through the weak-alias fallback (kernels.h).

Shapes come from test_runtime_ops' families (conv_geometry); activations are drawn over the
whole int16 range or a narrow part of it, biases up to 2^40."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.contract.test_runtime_ops import (CASES, CONV_FAMILIES, DEPTHWISE_FAMILIES, SETTINGS, TARGETS, _check,
                                             conv_geometry, out_dim, scales, weights)
from tests.tflite_builder import ModelBuilder, options

from autotiny import blob

# the blob ops whose cases live here (test_runtime_ops.test_case_counts leaves them to this module)
OPS_16X8 = ("CONV_2D_16X8", "DEPTHWISE_CONV_2D_16X8", "FULLY_CONNECTED_16X8", "AVERAGE_POOL_2D_INT16",
            "MAX_POOL_2D_INT16", "ADD_INT16", "MEAN_INT16", "SOFTMAX_INT16", "QUANTIZE_INT16", "DEQUANTIZE_INT16")
COUNTS: dict[tuple[str, str], int] = {}


def check(name: str, model: bytes, x: np.ndarray, target: str) -> None:
    _check(name, model, x, target)
    COUNTS[name, target] = COUNTS.get((name, target), 0) + 1


def int16_input(draw, shape) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lo = draw(st.sampled_from([-32768, -32768, -300, 0]))
    hi = draw(st.sampled_from([32767, 32767, 300, 20000]))
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int16)


def bias64(draw, n) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mag = draw(st.sampled_from([0, 1000, 10**6, 10**9, 2**40]))
    return rng.integers(-mag, mag + 1, size=n).astype(np.int64)


def act16(draw) -> int:
    return draw(st.sampled_from([0, 1, 2, 3]))


@st.composite
def conv_case(draw, depthwise: bool = False):
    family = draw(st.sampled_from(DEPTHWISE_FAMILIES if depthwise else CONV_FAMILIES))
    n, h, w, cin, kh, kw, sh, sw, dh, dw, groups = conv_geometry(draw, family)
    pad = 0 if family == "first_layer" else draw(st.integers(0, 1))
    oh, ow = out_dim(pad, h, kh, sh, dh), out_dim(pad, w, kw, sw, dw)
    if oh < 1 or ow < 1:
        pad = 0
        oh, ow = out_dim(pad, h, kh, sh, dh), out_dim(pad, w, kw, sw, dw)
    if depthwise:
        dm = draw(st.sampled_from([1, 1, 2, 3]))
        cout = cin * dm
        wshape, qdim = (1, kh, kw, cout), 3
    else:
        cin = cin * groups
        cout = draw(st.integers(1, 3 if family == "im2col_cap" else 9)) * groups
        wshape, qdim = (cout, kh, kw, cin // groups), 0
    per_channel = draw(st.booleans())
    in_s, out_s = scales(draw, 1, -4.0, -1.5)[0], scales(draw, 1, -4.0, -1.0)[0]
    w_s = scales(draw, cout if per_channel else 1, -3.0, -1.5)
    b = ModelBuilder()
    x = b.tensor((n, h, w, cin), "INT16", scale=in_s, zero_point=0)
    wt = b.tensor(wshape, scale=w_s, zero_point=[0] * len(w_s), quantized_dimension=qdim,
                  data=weights(draw, wshape))
    ins = [x, wt]
    if depthwise or draw(st.integers(0, 4)) > 0:
        bs = [np.float32(in_s) * np.float32(s) for s in (w_s if per_channel else w_s * cout)]
        ins.append(b.tensor((cout,), "INT64", scale=bs, zero_point=[0] * cout, data=bias64(draw, cout)))
    else:
        ins.append(-1)
    y = b.tensor((n, oh, ow, cout), "INT16", scale=out_s, zero_point=0)
    if depthwise:
        opt = options("DepthwiseConv2DOptionsT", padding=pad, strideH=sh, strideW=sw, depthMultiplier=dm,
                      dilationHFactor=dh, dilationWFactor=dw, fusedActivationFunction=act16(draw))
        b.op("DEPTHWISE_CONV_2D", ins, [y], opt)
    else:
        opt = options("Conv2DOptionsT", padding=pad, strideH=sh, strideW=sw, dilationHFactor=dh,
                      dilationWFactor=dw, fusedActivationFunction=act16(draw))
        b.op("CONV_2D", ins, [y], opt)
    return b.build([x], [y]), int16_input(draw, (n, h, w, cin))


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=conv_case())
def test_conv_2d_16x8(case, target):
    check("CONV_2D_16X8", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=conv_case(depthwise=True))
def test_depthwise_conv_2d_16x8(case, target):
    check("DEPTHWISE_CONV_2D_16X8", *case, target)


@st.composite
def fc_case(draw):
    units = draw(st.one_of(st.integers(1, 16), st.sampled_from([8, 128])))
    depth = draw(st.one_of(st.integers(1, 48), st.sampled_from([64, 127, 640])))
    batches = draw(st.integers(1, 3))
    per_channel = draw(st.integers(0, 3)) == 0
    in_s, out_s = scales(draw, 1, -4.0, -1.5)[0], scales(draw, 1, -4.0, -1.0)[0]
    w_s = scales(draw, units if per_channel else 1, -3.0, -1.5)
    b = ModelBuilder()
    x = b.tensor((batches, depth), "INT16", scale=in_s, zero_point=0)
    wt = b.tensor((units, depth), scale=w_s, zero_point=[0] * len(w_s), data=weights(draw, (units, depth)))
    ins = [x, wt]
    if draw(st.integers(0, 4)) > 0:
        bs = [float(np.float32(in_s) * np.float32(s)) for s in w_s]
        ins.append(b.tensor((units,), "INT64", scale=bs, zero_point=[0] * len(bs), data=bias64(draw, units)))
    else:
        ins.append(-1)
    y = b.tensor((batches, units), "INT16", scale=out_s, zero_point=0)
    b.op("FULLY_CONNECTED", ins, [y], options("FullyConnectedOptionsT", fusedActivationFunction=act16(draw)))
    return b.build([x], [y]), int16_input(draw, (batches, depth))


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=fc_case())
def test_fully_connected_16x8(case, target):
    check("FULLY_CONNECTED_16X8", *case, target)


@st.composite
def pool_case(draw, op: str):
    n, h, w, c = draw(st.integers(1, 2)), draw(st.integers(1, 10)), draw(st.integers(1, 10)), draw(st.integers(1, 6))
    fh, fw, sh, sw = (draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 3)),
                      draw(st.integers(1, 3)))
    pad = draw(st.integers(0, 1))
    if out_dim(pad, h, fh, sh, 1) < 1 or out_dim(pad, w, fw, sw, 1) < 1:
        pad = 0
    oh, ow = out_dim(pad, h, fh, sh, 1), out_dim(pad, w, fw, sw, 1)
    s = scales(draw, 1, -4.0, -1.0)[0]
    b = ModelBuilder()
    x = b.tensor((n, h, w, c), "INT16", scale=s, zero_point=0)
    y = b.tensor((n, oh, ow, c), "INT16", scale=s, zero_point=0)
    b.op(op, [x], [y], options("Pool2DOptionsT", padding=pad, strideH=sh, strideW=sw, filterHeight=fh,
                               filterWidth=fw, fusedActivationFunction=act16(draw)))
    return b.build([x], [y]), int16_input(draw, (n, h, w, c))


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=pool_case("AVERAGE_POOL_2D"))
def test_average_pool_2d_int16(case, target):
    check("AVERAGE_POOL_2D_INT16", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=pool_case("MAX_POOL_2D"))
def test_max_pool_2d_int16(case, target):
    check("MAX_POOL_2D_INT16", *case, target)


@st.composite
def add_case(draw):
    """The second operand is a constant (one model input); it comes first or second."""
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 5)) for _ in range(rank)]
    s2 = list(shape)
    if draw(st.booleans()):  # broadcast: some dims 1, maybe a lower rank
        s2 = [1 if draw(st.integers(0, 2)) == 0 else d for d in s2]
        s2 = s2[draw(st.integers(0, rank - 1)):]
    s1 = list(shape)
    if draw(st.booleans()):
        s1, s2 = s2, s1
    out = [max(a, b) for a, b in zip([1] * (rank - len(s1)) + s1, [1] * (rank - len(s2)) + s2)]
    b = ModelBuilder()
    x1 = b.tensor(s1, "INT16", scale=scales(draw, 1, -4.0, -1.0)[0], zero_point=0)
    x2 = b.tensor(s2, "INT16", scale=scales(draw, 1, -4.0, -1.0)[0], zero_point=0, data=int16_input(draw, s2))
    y = b.tensor(out, "INT16", scale=scales(draw, 1, -4.0, -0.7)[0], zero_point=0)
    ins = [x1, x2] if draw(st.booleans()) else [x2, x1]
    b.op("ADD", ins, [y], options("AddOptionsT", fusedActivationFunction=act16(draw)))
    return b.build([x1], [y]), int16_input(draw, s1)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=add_case())
def test_add_int16(case, target):
    check("ADD_INT16", *case, target)


@st.composite
def mean_case(draw):
    rank = draw(st.integers(2, 4))
    shape = [draw(st.integers(1, 7)) for _ in range(rank)]
    if rank == 4 and draw(st.booleans()):
        axes = [1, 2]  # global average pooling, what Keras emits
    else:
        axes = sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank)))
    keep = draw(st.booleans())
    out = [1 if i in axes else d for i, d in enumerate(shape)] if keep else \
        [d for i, d in enumerate(shape) if i not in axes]
    b = ModelBuilder()
    s_in = scales(draw, 1, -4.0, -1.0)[0]
    x = b.tensor(shape, "INT16", scale=s_in, zero_point=0)
    ax = b.tensor((len(axes),), "INT32", data=np.array(axes, dtype=np.int32))
    same = draw(st.integers(0, 3)) == 0
    y = b.tensor(out, "INT16", scale=s_in if same else scales(draw, 1, -4.0, -1.0)[0], zero_point=0)
    b.op("MEAN", [x, ax], [y], options("ReducerOptionsT", keepDims=keep))
    return b.build([x], [y]), int16_input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=mean_case())
def test_mean_int16(case, target):
    check("MEAN_INT16", *case, target)


@st.composite
def softmax_case(draw):
    if draw(st.booleans()):
        shape = [draw(st.integers(1, 3)), draw(st.integers(1, 40))]
    else:
        shape = [1, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 12))]
    beta = draw(st.sampled_from([1.0, 1.0, 1.0, float(np.float32(draw(st.floats(0.1, 3.0))))]))
    b = ModelBuilder()
    x = b.tensor(shape, "INT16", scale=scales(draw, 1, -5.0, -2.0)[0], zero_point=0)
    y = b.tensor(shape, "INT16", scale=1.0 / 32768, zero_point=0)
    b.op("SOFTMAX", [x], [y], options("SoftmaxOptionsT", beta=beta))
    return b.build([x], [y]), int16_input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=softmax_case())
def test_softmax_int16(case, target):
    check("SOFTMAX_INT16", *case, target)


@st.composite
def quantize_case(draw):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    s = scales(draw, 1, -5.0, -1.0)[0]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # values on and around the rounding ties, and out of range
    k = rng.integers(-40000, 40000, size=shape).astype(np.float32)
    frac = rng.choice(np.array([0.0, 0.5, -0.5, 0.25], dtype=np.float32), size=shape)
    x = ((k + frac) * np.float32(s)).astype(np.float32)
    b = ModelBuilder()
    xi = b.tensor(shape, "FLOAT32")
    y = b.tensor(shape, "INT16", scale=s, zero_point=0)
    b.op("QUANTIZE", [xi], [y], options("QuantizeOptionsT"))
    return b.build([xi], [y]), x


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=quantize_case())
def test_quantize_int16(case, target):
    check("QUANTIZE_INT16", *case, target)


@st.composite
def dequantize_case(draw):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    b = ModelBuilder()
    x = b.tensor(shape, "INT16", scale=scales(draw, 1, -5.0, 0.0)[0], zero_point=0)
    y = b.tensor(shape, "FLOAT32")
    b.op("DEQUANTIZE", [x], [y], options("DequantizeOptionsT"))
    return b.build([x], [y]), int16_input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=dequantize_case())
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
