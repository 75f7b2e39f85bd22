"""The Cortex-M DSP kernels (firmware/kernels/cortex_m_dsp: depthwise convolution, pooling, add, and
the 16x8 conv, depthwise and fully connected; the int8 conv and fully connected: test_runtime_ops.py)
equal the host runtime (the reference kernels, themselves equal to TFLM: test_runtime_ops.py)
bit for bit: random single-op models, derandomized, run in the emulator on an M4 and an M7 board
with board.kernels=auto, shaped to reach every specialised path (3x3 stride 1/2, 10x4, SAME/VALID,
odd widths, channel counts off multiples of 2 and 4, rows wider than one tile, global pooling)
and the fall-backs.  Each test also checks, from the emulator's per-function profile, that the
specialised paths really ran, so a kernel that silently falls back everywhere fails."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autotiny import blob, firmware, runtime
from autotiny.config import compose
from autotiny.firmware import OUTPUT_CAPACITY  # the firmware's output buffer
from autotiny.measure import emulator, protocol
from tests.contract.test_runtime_ops import (INT16, SETTINGS, add_case, bias_data, conv_case, fc_case, int8_input,
                                             out_dim, pool_case, pool_model, scales, weights, zp)
from tests.tflite_builder import ModelBuilder, options

pytestmark = pytest.mark.needs_arm_gcc

BOARDS = ("stm32l4r5", "stm32f746")  # Cortex-M4F, Cortex-M7: the same C, compiled and timed apart

_boards: dict[str, object] = {}
RAN: dict[str, dict[str, int]] = {}  # test -> function of the DSP set -> cases that executed it


def board(name: str):
    if name not in _boards:
        _boards[name] = compose([f"board={name}", "board.kernels=auto"]).board
    return _boards[name]


def check(test: str, model: bytes, x: np.ndarray) -> None:
    """The model on each board's emulated firmware equals the host runtime byte for byte."""
    b = blob.from_tflite(model)
    expected = runtime.run(b, x)
    for name in BOARDS:
        bd = board(name)
        mach = protocol.machine(bd, int16=firmware.needs_int16(b))  # the 16x8 rows for a 16x8 model
        mach.clear_profile()
        r = emulator.emulate(b.data, bd, x, on=mach)
        assert r.ok, f"{test} on {name}: {r.fault or r.status_name}"
        got = r.output
        assert got.dtype == expected.dtype and got.shape == expected.shape
        diff = np.flatnonzero(got.reshape(-1).view(np.uint8) != expected.reshape(-1).view(np.uint8))
        assert diff.size == 0, (f"{test} on {name}: {diff.size} of {got.size} outputs differ; first at "
                                f"{diff[0]}: emulated {got.reshape(-1)[diff[0]]} host {expected.reshape(-1)[diff[0]]}")
        seen = RAN.setdefault(test, {})
        for fn, _, _ in mach.profile():
            seen[fn] = seen.get(fn, 0) + 1


# ---------------------------------------------------------------------------
# depthwise convolution

KERNELS = [(3, 3, 1), (3, 3, 1), (3, 3, 2), (3, 3, 2), (10, 4, 1), (10, 4, 2), None]  # (kh, kw, stride); None: any


@st.composite
def dw_case(draw):
    """DEPTHWISE_CONV_2D with depth multiplier 1, no dilation, shaped for the DSP kernel's paths."""
    shape = draw(st.sampled_from(KERNELS))
    if shape is None:
        kh, kw, sh, sw = (draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3)),
                          draw(st.integers(1, 3)))
    else:
        kh, kw, s = shape
        sh, sw = (s, s) if draw(st.integers(0, 3)) else (draw(st.integers(1, 2)), s)  # the row kernel keys on sw
    pad = draw(st.integers(0, 1))  # 0 SAME, 1 VALID
    wide = draw(st.integers(0, 4)) == 0  # rows wider than one tile (32 outputs, or the row buffer)
    h = draw(st.integers(1, 12 if kh < 10 else 16))
    w = draw(st.integers(34, 70)) if wide else draw(st.integers(1, 13))
    if pad == 1:
        h, w = max(h, kh), max(w, kw)
    c = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 12, 16]))
    n = 1 if draw(st.integers(0, 4)) else 2
    oh, ow = out_dim(pad, h, kh, sh, 1), out_dim(pad, w, kw, sw, 1)
    c = min(c, OUTPUT_CAPACITY // (n * oh * ow))
    in_s, out_s = scales(draw, 1, -2.5, 0.0)[0], scales(draw, 1, -2.5, 0.5)[0]
    per_channel = draw(st.integers(0, 3)) > 0
    w_s = scales(draw, c if per_channel else 1, -4.0, -1.0)
    b = ModelBuilder()
    x = b.tensor((n, h, w, c), scale=in_s, zero_point=zp(draw))
    wt = b.tensor((1, kh, kw, c), scale=w_s, zero_point=[0] * len(w_s), quantized_dimension=3,
                  data=weights(draw, (1, kh, kw, c)))
    bs = [np.float32(in_s) * np.float32(s) for s in (w_s if per_channel else w_s * c)]
    if draw(st.integers(0, 7)):
        bias_values = bias_data(draw, c)
    else:  # sums past 2^29: the kernel's general requantisation instead of its SMMULR one
        bias_values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(
            -2**30, 2**30, size=c).astype(np.int32)
    bias = b.tensor((c,), "INT32", scale=bs, zero_point=[0] * c, data=bias_values)
    y = b.tensor((n, oh, ow, c), scale=out_s, zero_point=zp(draw))
    b.op("DEPTHWISE_CONV_2D", [x, wt, bias], [y],
         options("DepthwiseConv2DOptionsT", padding=pad, strideH=sh, strideW=sw, depthMultiplier=1,
                 dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=draw(st.sampled_from([0, 1, 2, 3]))))
    return b.build([x], [y]), int8_input(draw, (n, h, w, c))


@SETTINGS
@given(dw_case())
def test_depthwise_dsp_paths(case):
    check("depthwise", *case)


def test_depthwise_paths_ran():
    """The cases above reached each specialised row kernel, many times."""
    seen = RAN.get("depthwise")
    if not seen:
        pytest.skip("runs after test_depthwise_dsp_paths")
    for fn in ("at_dw_3x3_s1", "at_dw_3x3_s2", "at_dw_10x4", "at_dw_generic", "at_dw_by_channels"):
        assert seen.get(fn, 0) >= 20, (fn, seen.get(fn, 0))


@SETTINGS
@given(conv_case(depthwise=True))
def test_depthwise_any(case):
    """test_runtime_ops's depthwise cases: depth multipliers and dilations the DSP kernel hands to
    the reference, tiny images, the kernel wider than the image."""
    check("depthwise any", *case)


# ---------------------------------------------------------------------------
# pooling


@st.composite
def dsp_pool_case(draw, op: str):
    """Global pooling (the window is the image), windows with SAME padding, channel counts off
    multiples of 4, windows past the int16 lane sums' 256 values (the reference's)."""
    n, c = (1 if draw(st.integers(0, 4)) else 2), draw(st.sampled_from([1, 3, 4, 5, 8, 12, 16, 20, 64]))
    if draw(st.integers(0, 5)):
        h, w = draw(st.integers(1, 25)), draw(st.integers(1, 12))
    else:  # global windows past 256 values: the reference
        h, w = draw(st.integers(17, 30)), draw(st.integers(16, 20))
    if draw(st.booleans()) or h * w > 256:  # global: what DS-CNN, ResNet and MobileNet end with
        fh, fw, sh, sw, pad = h, w, 1, 1, 1
    else:
        fh, fw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        sh, sw, pad = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 1))
        if out_dim(pad, h, fh, sh, 1) < 1 or out_dim(pad, w, fw, sw, 1) < 1:
            pad = 0
    oh, ow = out_dim(pad, h, fh, sh, 1), out_dim(pad, w, fw, sw, 1)
    return pool_model(draw, op, (n, h, w, c), (fh, fw), (sh, sw), pad,
                      channels=min(c, OUTPUT_CAPACITY // (n * oh * ow)))


@SETTINGS
@given(st.one_of(dsp_pool_case("AVERAGE_POOL_2D"), pool_case("AVERAGE_POOL_2D")))
def test_average_pool(case):
    check("average pool", *case)


@SETTINGS
@given(st.one_of(dsp_pool_case("MAX_POOL_2D"), pool_case("MAX_POOL_2D")))
def test_max_pool(case):
    check("max pool", *case)


# ---------------------------------------------------------------------------
# add


@st.composite
def same_shape_add_case(draw):
    """ADD of two operands of one shape (the DSP kernel's case; add_case adds broadcasting)."""
    shape = [draw(st.integers(1, 12)) for _ in range(draw(st.integers(1, 4)))]
    while np.prod(shape) > OUTPUT_CAPACITY:
        shape[int(np.argmax(shape))] //= 2
    b = ModelBuilder()
    s1, s2, so = scales(draw, 1, -2.5, 0.0)[0], scales(draw, 1, -2.5, 0.0)[0], scales(draw, 1, -2.5, 0.5)[0]
    x1 = b.tensor(shape, scale=s1, zero_point=zp(draw))
    x2 = b.tensor(shape, scale=s2, zero_point=zp(draw), data=int8_input(draw, shape))
    y = b.tensor(shape, scale=so, zero_point=zp(draw))
    ins = [x1, x2] if draw(st.booleans()) else [x2, x1]
    b.op("ADD", ins, [y], options("AddOptionsT", fusedActivationFunction=draw(st.sampled_from([0, 1, 2, 3]))))
    return b.build([x1], [y]), int8_input(draw, shape)


@SETTINGS
@given(st.one_of(same_shape_add_case(), same_shape_add_case(), add_case()))
def test_add(case):
    check("add", *case)


def test_pool_and_add_ran():
    """The DSP pooling and add kernels ran, and so did their reference fall-backs where a model
    can reach one (the portable pooling's work is its static at_pool; max pooling has none)."""
    for test, fn, fallback in (("average pool", "at_avgpool_eval", "at_pool"),
                               ("max pool", "at_maxpool_eval", None),
                               ("add", "at_add_eval", "at_add_eval_reference")):
        seen = RAN.get(test)
        if not seen:
            pytest.skip(f"runs after the {test} test")
        assert seen.get(fn, 0) >= 50, (test, fn, seen)
        assert fallback is None or seen.get(fallback, 0) >= 5, (test, "fall-back not reached", seen)


# ---------------------------------------------------------------------------
# 16x8 (int16 activations, int8 weights, int64 bias): the same paths, sums kept in int32 over
# runs of AT_16X8_RUN = 508 products (dsp_util.h) and widened to the reference's int64

RUN = 508  # AT_16X8_RUN


@st.composite
def fc16_case(draw):
    """FULLY_CONNECTED_16X8 with depths around the run length (one, two, three runs, a tail
    of 1..3 inputs), unit counts off multiples of 4, extreme values."""
    units = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 12]))
    depth = draw(st.sampled_from([RUN - 1, RUN, RUN + 1, RUN + 4, 2 * RUN + 3, 3 * RUN + 2, 4 * RUN]))
    batches = draw(st.integers(1, 2))
    per_channel = draw(st.booleans())
    extreme = draw(st.integers(0, 2)) == 0
    in_s, out_s = scales(draw, 1, -4.0, -1.5)[0], scales(draw, 1, -4.0, -1.0)[0]
    w_s = scales(draw, units if per_channel else 1, -3.0, -1.5)
    wdata = np.full((units, depth), -128, np.int8) if extreme else weights(draw, (units, depth))
    b = ModelBuilder()
    x = b.tensor((batches, depth), "INT16", scale=in_s, zero_point=0)
    wt = b.tensor((units, depth), scale=w_s, zero_point=[0] * len(w_s), data=wdata)
    bs = [float(np.float32(in_s) * np.float32(s)) for s in w_s]
    bias = b.tensor((units,), "INT64", scale=bs, zero_point=[0] * len(bs),
                    data=np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(
                        -2**40, 2**40, size=units).astype(np.int64))
    y = b.tensor((batches, units), "INT16", scale=out_s, zero_point=0)
    b.op("FULLY_CONNECTED", [x, wt, bias], [y],
         options("FullyConnectedOptionsT", fusedActivationFunction=draw(st.sampled_from([0, 1, 2, 3]))))
    xs = INT16.input(draw, (batches, depth))
    return b.build([x], [y]), (np.full(xs.shape, -32768, np.int16) if extreme else xs)


@SETTINGS
@given(st.one_of(fc16_case(), fc_case(act=INT16)))
def test_fully_connected_16x8(case):
    check("fc 16x8", *case)


@st.composite
def conv16_case(draw):
    """CONV_2D_16X8 with receptive fields around the run length (1x1 over 505..520 channels, 3x3
    over 56..64: one int32 run, or runs widened to int64 with a tail of 1..3 taps), KWS's
    pointwise 64 -> 64 (a whole accumulator block), odd pixel counts, extreme values."""
    family = draw(st.sampled_from(["deep_1x1", "3x3", "pointwise"]))
    if family == "deep_1x1":
        kh = kw = 1
        cin, h, w = draw(st.sampled_from([RUN - 3, RUN, RUN + 1, RUN + 3, RUN + 4, RUN + 12])), draw(
            st.integers(1, 3)), draw(st.integers(1, 3))
        cout = draw(st.integers(1, 5))
    elif family == "3x3":
        kh = kw = 3
        cin, h, w = draw(st.sampled_from([56, 57, 60, 63, 64])), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        cout = draw(st.integers(1, 4))
    else:
        kh = kw = 1
        cin, h, w, cout = 64, draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.sampled_from([64, 65, 66]))
    pad = draw(st.integers(0, 1))
    if pad == 1:
        h, w = max(h, kh), max(w, kw)
    oh, ow = out_dim(pad, h, kh, 1, 1), out_dim(pad, w, kw, 1, 1)
    extreme = draw(st.integers(0, 2)) == 0
    per_channel = draw(st.booleans())
    in_s, out_s = scales(draw, 1, -4.0, -1.5)[0], scales(draw, 1, -4.0, -1.0)[0]
    w_s = scales(draw, cout if per_channel else 1, -3.0, -1.5)
    wshape = (cout, kh, kw, cin)
    b = ModelBuilder()
    x = b.tensor((1, h, w, cin), "INT16", scale=in_s, zero_point=0)
    wt = b.tensor(wshape, scale=w_s, zero_point=[0] * len(w_s), quantized_dimension=0,
                  data=np.full(wshape, -128, np.int8) if extreme else weights(draw, wshape))
    bs = [np.float32(in_s) * np.float32(s) for s in (w_s if per_channel else w_s * cout)]
    bias = b.tensor((cout,), "INT64", scale=bs, zero_point=[0] * cout, data=INT16.bias(draw, cout))
    y = b.tensor((1, oh, ow, cout), "INT16", scale=out_s, zero_point=0)
    b.op("CONV_2D", [x, wt, bias], [y],
         options("Conv2DOptionsT", padding=pad, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1,
                 fusedActivationFunction=draw(st.sampled_from([0, 1, 2, 3]))))
    xs = INT16.input(draw, (1, h, w, cin))
    return b.build([x], [y]), (np.full(xs.shape, -32768, np.int16) if extreme else xs)


@SETTINGS
@given(st.one_of(conv16_case(), conv_case(act=INT16)))
def test_conv_16x8(case):
    check("conv 16x8", *case)


@st.composite
def dw16_case(draw):
    """DEPTHWISE_CONV_2D_16X8 shaped as dw_case (the row-buffer path's 3x3 stride 1/2, 10x4 and
    any-size kernels, wide rows, tall narrow planes), extreme values."""
    shape = draw(st.sampled_from(KERNELS))
    if shape is None:
        kh, kw, sh, sw = (draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3)),
                          draw(st.integers(1, 3)))
    else:
        kh, kw, s = shape
        sh, sw = (s, s) if draw(st.integers(0, 3)) else (draw(st.integers(1, 2)), s)
    pad = draw(st.integers(0, 1))
    wide = draw(st.integers(0, 4)) == 0
    h = draw(st.integers(1, 12 if kh < 10 else 16))
    w = draw(st.integers(34, 70)) if wide else draw(st.integers(1, 13))
    if draw(st.integers(0, 4)) == 0:
        h, w = w, h  # tall and narrow: walked transposed
    if pad == 1:
        h, w = max(h, kh), max(w, kw)
    c = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 12, 16]))
    n = 1 if draw(st.integers(0, 4)) else 2
    oh, ow = out_dim(pad, h, kh, sh, 1), out_dim(pad, w, kw, sw, 1)
    if 2 * oh * ow > OUTPUT_CAPACITY:  # int16 outputs
        n = 1
    c = max(1, min(c, OUTPUT_CAPACITY // (2 * n * oh * ow)))
    extreme = draw(st.integers(0, 3)) == 0
    in_s, out_s = scales(draw, 1, -4.0, -1.5)[0], scales(draw, 1, -4.0, -1.0)[0]
    per_channel = draw(st.integers(0, 3)) > 0
    w_s = scales(draw, c if per_channel else 1, -3.0, -1.5)
    b = ModelBuilder()
    x = b.tensor((n, h, w, c), "INT16", scale=in_s, zero_point=0)
    wt = b.tensor((1, kh, kw, c), scale=w_s, zero_point=[0] * len(w_s), quantized_dimension=3,
                  data=np.full((1, kh, kw, c), -128, np.int8) if extreme else weights(draw, (1, kh, kw, c)))
    bs = [np.float32(in_s) * np.float32(s) for s in (w_s if per_channel else w_s * c)]
    bias = b.tensor((c,), "INT64", scale=bs, zero_point=[0] * c, data=INT16.bias(draw, c))
    y = b.tensor((n, oh, ow, c), "INT16", scale=out_s, zero_point=0)
    b.op("DEPTHWISE_CONV_2D", [x, wt, bias], [y],
         options("DepthwiseConv2DOptionsT", padding=pad, strideH=sh, strideW=sw, depthMultiplier=1,
                 dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=draw(st.sampled_from([0, 1, 2, 3]))))
    xs = INT16.input(draw, (n, h, w, c))
    return b.build([x], [y]), (np.full(xs.shape, -32768, np.int16) if extreme else xs)


@SETTINGS
@given(st.one_of(dw16_case(), conv_case(depthwise=True, act=INT16)))
def test_depthwise_16x8(case):
    check("depthwise 16x8", *case)


def test_16x8_paths_ran():
    """The 16x8 cases reached each fast path (GCC's clones, `name.constprop.0`, count as their
    function) and the reference for what the fast kernels leave to it: grouped convolutions and
    fields above the column cap, depth multipliers above 1 and dilations."""
    for test, fns, fallback in (
            ("fc 16x8", ("at_fc16x8_eval", "fc16x8_rows4"), None),  # a weight zero point: not from TFLite
            ("conv 16x8", ("conv16_run", "conv16_long", "requantise_block16", "mac_pairs", "put_taps16"),
             "at_conv16x8_eval_reference"),
            ("depthwise 16x8", ("at_dw_rows16", "at_dw_load_rows16", "at_dw_requant_band16", "at_dw_3x3_s1",
                                "at_dw_3x3_s2", "at_dw_10x4", "at_dw_generic"), "at_dwconv16x8_eval_reference")):
        seen = RAN.get(test)
        if not seen:
            pytest.skip(f"runs after the {test} test")
        ran: dict[str, int] = {}
        for fn, n in seen.items():
            ran[fn.split(".")[0]] = ran.get(fn.split(".")[0], 0) + n
        for fn in fns:
            assert ran.get(fn, 0) >= 20, (test, fn, ran.get(fn, 0))
        assert fallback is None or ran.get(fallback, 0) >= 5, (test, "fall-back not reached", ran.get(fallback, 0))
