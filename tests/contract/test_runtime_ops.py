"""Per-op property tests: random single-op int8 models, written directly as
.tflite flatbuffers; 200 derandomized cases per op and kernel set:

* `host`: tflite_micro and our host runtime (the reference kernels) agree byte for byte;
* `arm`: the firmware with the fast kernel set (board stm32f746, `board.kernels=auto`:
  cortex_m_dsp), run in the emulator, agrees with the host runtime byte for byte
  (needs arm-none-eabi-gcc; one Machine for the whole module, a case costs milliseconds).

The conv and fully-connected strategies draw shape families that reach each specialised
path of the fast kernels (firmware/kernels/cortex_m_dsp): 1x1 convolutions, channel and
depth counts that are and are not multiples of 2 and 4, odd output widths and pixel counts,
padding on every side, the first KWS layer's 10x4 window on one channel, receptive fields
at and above the im2col cap, grouped convolutions (reference fallback).

Each strategy of an op TFLite also runs in 16x8 mode takes an activation record (`Activations`:
INT8 here, INT16 in test_runtime_ops_16x8.py), so the two modes draw the same shapes and options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.contract.test_arm_equals_host import assert_same, board
from tests.tflite_builder import ModelBuilder, options, run_tflm

from autotiny import blob, firmware, runtime
from autotiny.measure import emulator

CASES = 200
SETTINGS = settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
TARGETS = ("host", pytest.param("arm", marks=pytest.mark.needs_arm_gcc))
ARM_BOARD = "stm32f746"
IM2COL_CAP = 576  # taps per column in firmware/kernels/cortex_m_dsp/conv.c (AT_CONV_MAX_TAPS)

COUNTS: dict[tuple[str, str], int] = {}


def _check(name: str, model: bytes, x: np.ndarray, target: str) -> None:
    b = blob.from_tflite(model)
    if target == "arm":
        out_bytes = int(np.prod(b.output_shape)) * np.dtype(b.output_dtype).itemsize
        assume(out_bytes <= firmware.OUTPUT_CAPACITY)  # the firmware's output buffer
        rec = board(ARM_BOARD, "auto")
        assert_same(b, rec, x, name, run=emulator.emulate(b.data, rec, x, cycle_model=False))
    else:
        expected = run_tflm(model, x)
        got = runtime.run(b, x)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        if not np.array_equal(got.reshape(-1).view(np.uint8), expected.reshape(-1).view(np.uint8)):
            diff = np.flatnonzero(got.reshape(-1).view(np.uint8) != expected.reshape(-1).view(np.uint8))
            raise AssertionError(f"{name}: {len(diff)} of {got.size} outputs differ; first at {diff[0]}: "
                                 f"ours {got.reshape(-1)[diff[0]]} tflm {expected.reshape(-1)[diff[0]]}")
    COUNTS[name, target] = COUNTS.get((name, target), 0) + 1


def scales(draw, n: int, lo: float = -3.0, hi: float = 0.0) -> list[float]:
    return [float(np.float32(10 ** draw(st.floats(lo, hi)))) for _ in range(n)]


def zp(draw) -> int:
    return draw(st.integers(-128, 127))


def drawn_ints(draw, shape, dtype, lows, highs) -> np.ndarray:
    """Values over the whole range of `dtype` or a narrow part of it (bounds drawn from lows, highs)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lo, hi = draw(st.sampled_from(lows)), draw(st.sampled_from(highs))
    return rng.integers(lo, hi + 1, size=shape, dtype=dtype)


def int8_input(draw, shape) -> np.ndarray:
    return drawn_ints(draw, shape, np.int8, [-128, -128, -20, 0], [127, 127, 20, 100])


def int16_input(draw, shape) -> np.ndarray:
    return drawn_ints(draw, shape, np.int16, [-32768, -32768, -300, 0], [32767, 32767, 300, 20000])


def weights(draw, shape) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.integers(-127, 128, size=shape, dtype=np.int8)


def bias_data(draw, n) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mag = draw(st.sampled_from([0, 100, 5000, 100000, 2**31 - 2**25]))  # sums past 2^30: the general paths
    return rng.integers(-mag, mag + 1, size=n).astype(np.int32)


def fused_activation(draw) -> int:
    return draw(st.sampled_from([0, 1, 2, 3]))  # none, RELU, RELU_N1_TO_1, RELU6


def out_dim(padding: int, size: int, k: int, stride: int, dil: int) -> int:
    eff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == 0 else (size + stride - eff) // stride


def bias64(draw, n) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mag = draw(st.sampled_from([0, 1000, 10**6, 10**9, 2**40]))
    return rng.integers(-mag, mag + 1, size=n).astype(np.int64)


@dataclass(frozen=True)
class Activations:
    """What one quantisation mode makes of an op's activations; the case strategies below take
    one and draw the same shapes, options and operand roles for both modes."""

    dtype: str  # the activation tensors' flatbuffer type
    zero_point: Callable  # draw -> zero point
    input: Callable  # (draw, shape) -> model input or constant operand
    bias_type: str
    bias: Callable  # (draw, n) -> bias values
    scales: dict[str, tuple[float, float]]  # log10 range of each operand role's scale
    softmax_out: tuple[float, int]  # TFLite's fixed softmax output (scale, zero point)
    quantize_span: int  # |quantised values| drawn for QUANTIZE: past the type's range
    quantize_ties: tuple[float, ...]  # fractions on and around the rounding ties


# int8: asymmetric activations, int32 bias
INT8 = Activations(
    "INT8", zp, int8_input, "INT32", bias_data,
    {"conv_in": (-2.5, 0.0), "conv_out": (-2.5, 0.5), "conv_w": (-4.0, -1.0),
     "fc_in": (-2.5, 0.0), "fc_out": (-2.0, 0.5), "fc_w": (-4.0, -1.0), "pool": (-2.5, 0.5),
     "add_in": (-2.0, 0.0), "add_out": (-2.0, 0.3), "mean": (-2.5, 0.0), "softmax_in": (-3.0, 0.5),
     "quantize": (-3.0, 0.5), "dequantize": (-4.0, 1.0)},
    (1.0 / 256, -128), 200, (0.0, 0.5, -0.5, 0.49999997, 0.25))
# TFLite's 16x8 mode: int16 activations with zero point 0 (drawn over the whole range or a
# narrow part of it), int8 weights, int64 bias up to 2^40; scales small enough that TFLite's
# int64 rescaling keeps its multipliers below 128 (what the blob refuses otherwise)
INT16 = Activations(
    "INT16", lambda draw: 0, int16_input, "INT64", bias64,
    {"conv_in": (-4.0, -1.5), "conv_out": (-4.0, -1.0), "conv_w": (-3.0, -1.5),
     "fc_in": (-4.0, -1.5), "fc_out": (-4.0, -1.0), "fc_w": (-3.0, -1.5), "pool": (-4.0, -1.0),
     "add_in": (-4.0, -1.0), "add_out": (-4.0, -0.7), "mean": (-4.0, -1.0), "softmax_in": (-5.0, -2.0),
     "quantize": (-5.0, -1.0), "dequantize": (-5.0, 0.0)},
    (1.0 / 32768, 0), 40000, (0.0, 0.5, -0.5, 0.25))


def scale(draw, act: Activations, role: str, n: int = 1) -> list[float]:
    return scales(draw, n, *act.scales[role])


# ---------------------------------------------------------------------------
CONV_FAMILIES = ("any", "any", "pointwise", "first_layer", "channel_words", "im2col_cap")
DEPTHWISE_FAMILIES = ("any", "any", "3x3", "10x4")


def conv_geometry(draw, family: str):
    """(n, h, w, cin, kh, kw, sh, sw, dh, dw, groups) of one shape family: `any` draws
    everything small (dilation, groups); `pointwise` 1x1 (stride 1: a matrix product, or 2 as
    ResNet's shortcuts); `first_layer` one input channel under a tall window (KWS: 10x4, stride
    2, SAME); `channel_words` channel counts that are multiples of 4 under 1..3 windows;
    `im2col_cap` 3x3 windows whose receptive field is just under, at and over the cap;
    `3x3` / `10x4` the depthwise windows of MobileNet and KWS."""
    n, groups, dh, dw = draw(st.integers(1, 2)), 1, 1, 1
    if family == "pointwise":
        h, w, cin = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 20))
        kh = kw = 1
        sh = sw = draw(st.sampled_from([1, 1, 1, 2]))
    elif family == "first_layer":
        n, cin = 1, 1
        kh, kw = draw(st.integers(3, 10)), draw(st.integers(1, 4))
        h, w = draw(st.integers(kh, 20)), draw(st.integers(kw, 10))
        sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    elif family == "channel_words":
        h, w, cin = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.sampled_from([4, 8, 12, 16, 32]))
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    elif family == "im2col_cap":
        n, h, w = 1, draw(st.integers(1, 5)), draw(st.integers(1, 5))
        cin = draw(st.sampled_from([IM2COL_CAP // 9 - 1, IM2COL_CAP // 9, IM2COL_CAP // 9 + 1]))
        kh = kw = 3
        sh = sw = 1
    elif family in ("3x3", "10x4"):
        kh, kw = (3, 3) if family == "3x3" else (10, 4)
        n, h, w = 1, draw(st.integers(1, kh + 3)), draw(st.integers(1, kw + 3))
        cin = draw(st.integers(1, 12))
        sh = sw = draw(st.integers(1, 2))
    else:
        h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        cin = draw(st.integers(1, 6))
        kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        dh, dw = draw(st.sampled_from([1, 1, 1, 2])), draw(st.sampled_from([1, 1, 1, 2]))
        groups = draw(st.sampled_from([1, 1, 1, 2]))
    return n, h, w, cin, kh, kw, sh, sw, dh, dw, groups


@st.composite
def conv_case(draw, depthwise: bool = False, act: Activations = INT8):
    family = draw(st.sampled_from(DEPTHWISE_FAMILIES if depthwise else CONV_FAMILIES))
    n, h, w, cin, kh, kw, sh, sw, dh, dw, groups = conv_geometry(draw, family)
    pad = draw(st.integers(0, 1))
    if family == "first_layer":
        pad = 0  # SAME: padding above, below and on both sides
    oh, ow = out_dim(pad, h, kh, sh, dh), out_dim(pad, w, kw, sw, dw)
    if oh < 1 or ow < 1:  # VALID with a window larger than the image: make it SAME
        pad = 0
        oh, ow = out_dim(pad, h, kh, sh, dh), out_dim(pad, w, kw, sw, dw)
    if depthwise:
        dm = draw(st.sampled_from([1, 1, 2, 3, 4]))
        cout = cin * dm
        wshape, qdim = (1, kh, kw, cout), 3
    else:
        cin = cin * groups
        cout = draw(st.integers(1, 3 if family == "im2col_cap" else 9)) * groups
        wshape, qdim = (cout, kh, kw, cin // groups), 0
    per_channel = draw(st.booleans())
    in_s, out_s = scale(draw, act, "conv_in")[0], scale(draw, act, "conv_out")[0]
    w_s = scale(draw, act, "conv_w", cout if per_channel else 1)
    in_zp, out_zp = act.zero_point(draw), act.zero_point(draw)
    b = ModelBuilder()
    x = b.tensor((n, h, w, cin), act.dtype, scale=in_s, zero_point=in_zp)
    wt = b.tensor(wshape, scale=w_s, zero_point=[0] * len(w_s), quantized_dimension=qdim,
                  data=weights(draw, wshape))
    ins = [x, wt]
    if depthwise or draw(st.integers(0, 4)) > 0:  # TFLM's depthwise crashes without a bias
        bs = [np.float32(in_s) * np.float32(s) for s in (w_s if per_channel else w_s * cout)]
        ins.append(b.tensor((cout,), act.bias_type, scale=bs, zero_point=[0] * cout, data=act.bias(draw, cout)))
    else:
        ins.append(-1)
    y = b.tensor((n, oh, ow, cout), act.dtype, scale=out_s, zero_point=out_zp)
    fused = fused_activation(draw)
    if depthwise:
        opt = options("DepthwiseConv2DOptionsT", padding=pad, strideH=sh, strideW=sw, depthMultiplier=dm,
                      dilationHFactor=dh, dilationWFactor=dw, fusedActivationFunction=fused)
        b.op("DEPTHWISE_CONV_2D", ins, [y], opt)
    else:
        opt = options("Conv2DOptionsT", padding=pad, strideH=sh, strideW=sw, dilationHFactor=dh,
                      dilationWFactor=dw, fusedActivationFunction=fused)
        b.op("CONV_2D", ins, [y], opt)
    return b.build([x], [y]), act.input(draw, (n, h, w, cin))


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=conv_case())
def test_conv_2d(case, target):
    _check("CONV_2D", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=conv_case(depthwise=True))
def test_depthwise_conv_2d(case, target):
    _check("DEPTHWISE_CONV_2D", *case, target)


@st.composite
def fc_case(draw, act: Activations = INT8):
    # small and odd counts, and the AD autoencoder's 640 -> 128 -> 8 (4-row blocks, 4-input words)
    units = draw(st.one_of(st.integers(1, 16), st.sampled_from([8, 128])))
    depth = draw(st.one_of(st.integers(1, 48), st.sampled_from([64, 127, 128, 640])))
    batches = draw(st.integers(1, 3))
    four_d = draw(st.booleans()) and batches == 1
    per_channel = draw(st.integers(0, 3)) == 0
    in_s, out_s = scale(draw, act, "fc_in")[0], scale(draw, act, "fc_out")[0]
    w_s = scale(draw, act, "fc_w", units if per_channel else 1)
    b = ModelBuilder()
    in_shape = (1, 1, 1, depth) if four_d else (batches, depth)
    x = b.tensor(in_shape, act.dtype, scale=in_s, zero_point=act.zero_point(draw))
    wt = b.tensor((units, depth), scale=w_s, zero_point=[0] * len(w_s), data=weights(draw, (units, depth)))
    ins = [x, wt]
    if draw(st.integers(0, 4)) > 0:
        bs = [float(np.float32(in_s) * np.float32(s)) for s in w_s]
        ins.append(b.tensor((units,), act.bias_type, scale=bs, zero_point=[0] * len(bs),
                            data=act.bias(draw, units)))
    else:
        ins.append(-1)
    y = b.tensor((batches, units), act.dtype, scale=out_s, zero_point=act.zero_point(draw))
    b.op("FULLY_CONNECTED", ins, [y], options("FullyConnectedOptionsT", fusedActivationFunction=fused_activation(draw)))
    return b.build([x], [y]), act.input(draw, in_shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=fc_case())
def test_fully_connected(case, target):
    _check("FULLY_CONNECTED", *case, target)


@st.composite
def pool_case(draw, op: str, act: Activations = INT8):
    n, h, w, c = draw(st.integers(1, 2)), draw(st.integers(1, 10)), draw(st.integers(1, 10)), draw(st.integers(1, 6))
    fh, fw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, 1))
    if out_dim(pad, h, fh, sh, 1) < 1 or out_dim(pad, w, fw, sw, 1) < 1:
        pad = 0
    return pool_model(draw, op, (n, h, w, c), (fh, fw), (sh, sw), pad, act=act)


def pool_model(draw, op: str, shape, window, strides, pad: int, channels: int | None = None,
               act: Activations = INT8):
    """A one-op pooling model (input and output quantised alike, a drawn fused activation) and its
    input; `channels` overrides the input's channel count (to fit the output buffer)."""
    n, h, w, c = shape
    c = c if channels is None else channels
    (fh, fw), (sh, sw) = window, strides
    oh, ow = out_dim(pad, h, fh, sh, 1), out_dim(pad, w, fw, sw, 1)
    s, z = scale(draw, act, "pool")[0], act.zero_point(draw)
    b = ModelBuilder()
    x = b.tensor((n, h, w, c), act.dtype, scale=s, zero_point=z)
    y = b.tensor((n, oh, ow, c), act.dtype, scale=s, zero_point=z)
    b.op(op, [x], [y], options("Pool2DOptionsT", padding=pad, strideH=sh, strideW=sw, filterHeight=fh,
                               filterWidth=fw, fusedActivationFunction=fused_activation(draw)))
    return b.build([x], [y]), act.input(draw, (n, h, w, c))


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=pool_case("AVERAGE_POOL_2D"))
def test_average_pool_2d(case, target):
    _check("AVERAGE_POOL_2D", *case, target)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=pool_case("MAX_POOL_2D"))
def test_max_pool_2d(case, target):
    _check("MAX_POOL_2D", *case, target)


@st.composite
def add_case(draw, act: Activations = INT8):
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
    x1 = b.tensor(s1, act.dtype, scale=scale(draw, act, "add_in")[0], zero_point=act.zero_point(draw))
    x2data = act.input(draw, s2)
    const_second = draw(st.integers(0, 3)) == 0
    x2 = b.tensor(s2, act.dtype, scale=scale(draw, act, "add_in")[0], zero_point=act.zero_point(draw),
                  data=x2data if const_second else None)
    y = b.tensor(out, act.dtype, scale=scale(draw, act, "add_out")[0], zero_point=act.zero_point(draw))
    b.op("ADD", [x1, x2], [y], options("AddOptionsT", fusedActivationFunction=fused_activation(draw)))
    if const_second:
        return b.build([x1], [y]), act.input(draw, s1)
    # two-input models are not what the runtime takes; feed the second from a constant
    # copy of the same model instead
    b2 = ModelBuilder()
    q = [t.quantization for t in b.tensors[:3]]
    x1 = b2.tensor(s1, act.dtype, scale=q[0].scale[0], zero_point=q[0].zeroPoint[0])
    x2 = b2.tensor(s2, act.dtype, scale=q[1].scale[0], zero_point=q[1].zeroPoint[0], data=x2data)
    y = b2.tensor(out, act.dtype, scale=q[2].scale[0], zero_point=q[2].zeroPoint[0])
    b2.op("ADD", [x2, x1], [y], b.ops[0].builtinOptions)
    return b2.build([x1], [y]), act.input(draw, s1)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=add_case())
def test_add(case, target):
    _check("ADD", *case, target)


@st.composite
def mean_case(draw, act: Activations = INT8):
    rank = draw(st.integers(2, 4))
    shape = [draw(st.integers(1, 7)) for _ in range(rank)]
    if rank == 4 and draw(st.booleans()):
        axes = [1, 2]  # global average pooling, what Keras emits
    else:
        axes = sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank)))
    keep = draw(st.booleans())
    out = [1 if i in axes else d for i, d in enumerate(shape)] if keep else \
        [d for i, d in enumerate(shape) if i not in axes]
    if draw(st.integers(0, 4)) == 0:
        axes_data = [a - rank for a in axes]  # negative axes
    else:
        axes_data = axes
    b = ModelBuilder()
    same = draw(st.integers(0, 3)) == 0
    s_in, z_in = scale(draw, act, "mean")[0], act.zero_point(draw)
    x = b.tensor(shape, act.dtype, scale=s_in, zero_point=z_in)
    ax = b.tensor((len(axes_data),), "INT32", data=np.array(axes_data, dtype=np.int32))
    y = b.tensor(out, act.dtype, scale=s_in if same else scale(draw, act, "mean")[0],
                 zero_point=z_in if same else act.zero_point(draw))
    b.op("MEAN", [x, ax], [y], options("ReducerOptionsT", keepDims=keep))
    return b.build([x], [y]), act.input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=mean_case())
def test_mean(case, target):
    _check("MEAN", *case, target)


@st.composite
def pad_case(draw):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 5)) for _ in range(rank)]
    pads = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(rank)]
    out = [d + p[0] + p[1] for d, p in zip(shape, pads)]
    s, z = scales(draw, 1, -2.0, 0.0)[0], zp(draw)
    b = ModelBuilder()
    x = b.tensor(shape, scale=s, zero_point=z)
    p = b.tensor((rank, 2), "INT32", data=np.array(pads, dtype=np.int32))
    same = draw(st.integers(0, 3)) > 0  # TFLM copies raw values and pads with the output zero point
    y = b.tensor(out, scale=s if same else scales(draw, 1, -2.0, 0.0)[0], zero_point=z if same else zp(draw))
    b.op("PAD", [x, p], [y], options("PadOptionsT"))
    return b.build([x], [y]), int8_input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=pad_case())
def test_pad(case, target):
    _check("PAD", *case, target)


@st.composite
def reshape_case(draw):
    dims = [draw(st.integers(1, 6)) for _ in range(draw(st.integers(1, 4)))]
    perm = draw(st.permutations(dims))
    new = list(perm)
    if len(new) > 1 and draw(st.booleans()):
        new = [new[0] * new[1]] + new[2:]
    s, z = scales(draw, 1, -2.0, 0.0)[0], zp(draw)
    b = ModelBuilder()
    x = b.tensor(dims, scale=s, zero_point=z)
    shp = b.tensor((len(new),), "INT32", data=np.array(new, dtype=np.int32))
    y = b.tensor(new, scale=s, zero_point=z)
    b.op("RESHAPE", [x, shp], [y], options("ReshapeOptionsT", newShape=list(new)))
    return b.build([x], [y]), int8_input(draw, dims)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=reshape_case())
def test_reshape(case, target):
    _check("RESHAPE", *case, target)


@st.composite
def softmax_case(draw, act: Activations = INT8):
    if draw(st.booleans()):
        shape = [draw(st.integers(1, 3)), draw(st.integers(1, 40))]
    else:
        shape = [1, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 12))]
    beta = draw(st.sampled_from([1.0, 1.0, 1.0, float(np.float32(draw(st.floats(0.1, 3.0))))]))
    b = ModelBuilder()
    x = b.tensor(shape, act.dtype, scale=scale(draw, act, "softmax_in")[0], zero_point=act.zero_point(draw))
    out_scale, out_zp = act.softmax_out
    y = b.tensor(shape, act.dtype, scale=out_scale, zero_point=out_zp)
    b.op("SOFTMAX", [x], [y], options("SoftmaxOptionsT", beta=beta))
    return b.build([x], [y]), act.input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=softmax_case())
def test_softmax(case, target):
    _check("SOFTMAX", *case, target)


@st.composite
def quantize_case(draw, act: Activations = INT8):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    s, z = scale(draw, act, "quantize")[0], act.zero_point(draw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # values on and around the rounding ties, and out of range
    k = rng.integers(-act.quantize_span, act.quantize_span, size=shape).astype(np.float32)
    frac = rng.choice(np.array(act.quantize_ties, dtype=np.float32), size=shape)
    x = ((k + frac) * np.float32(s)).astype(np.float32)
    b = ModelBuilder()
    xi = b.tensor(shape, "FLOAT32")
    y = b.tensor(shape, act.dtype, scale=s, zero_point=z)
    b.op("QUANTIZE", [xi], [y], options("QuantizeOptionsT"))
    return b.build([xi], [y]), x


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=quantize_case())
def test_quantize(case, target):
    _check("QUANTIZE", *case, target)


@st.composite
def dequantize_case(draw, act: Activations = INT8):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    b = ModelBuilder()
    x = b.tensor(shape, act.dtype, scale=scale(draw, act, "dequantize")[0], zero_point=act.zero_point(draw))
    y = b.tensor(shape, "FLOAT32")
    b.op("DEQUANTIZE", [x], [y], options("DequantizeOptionsT"))
    return b.build([x], [y]), act.input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=dequantize_case())
def test_dequantize(case, target):
    _check("DEQUANTIZE", *case, target)


@st.composite
def requantize_case(draw):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    b = ModelBuilder()
    x = b.tensor(shape, scale=scales(draw, 1, -3.0, 0.0)[0], zero_point=zp(draw))
    y = b.tensor(shape, scale=scales(draw, 1, -3.0, 0.0)[0], zero_point=zp(draw))
    b.op("QUANTIZE", [x], [y], options("QuantizeOptionsT"))
    return b.build([x], [y]), int8_input(draw, shape)


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=requantize_case())
def test_requantize(case, target):
    _check("REQUANTIZE", *case, target)


@st.composite
def concat_case(draw):
    rank = draw(st.integers(1, 4))
    base = [draw(st.integers(1, 4)) for _ in range(rank)]
    axis = draw(st.integers(-rank, rank - 1))
    n = draw(st.integers(1, 4))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[axis] = draw(st.integers(1, 4))
        shapes.append(s)
    out = list(base)
    out[axis] = sum(s[axis] for s in shapes)
    s_, z_ = scales(draw, 1, -2.0, 0.0)[0], zp(draw)
    b = ModelBuilder()
    # the first input is the model input, the others constants (one input per model)
    x = b.tensor(shapes[0], scale=s_, zero_point=z_)
    ins = [x] + [b.tensor(sh, scale=s_, zero_point=z_, data=int8_input(draw, sh)) for sh in shapes[1:]]
    order = draw(st.permutations(range(n)))
    y = b.tensor(out[:], scale=s_, zero_point=z_)
    shapes_in_order = [shapes[i] for i in order]
    out[axis] = sum(sh[axis] for sh in shapes_in_order)
    b.op("CONCATENATION", [ins[i] for i in order], [y], options("ConcatenationOptionsT", axis=axis))
    return b.build([x], [y]), int8_input(draw, shapes[0])


@pytest.mark.parametrize("target", TARGETS)
@SETTINGS
@given(case=concat_case())
def test_concatenation(case, target):
    _check("CONCATENATION", *case, target)


def test_case_counts():
    """Runs last in this module: every blob op of the op table saw its 200 cases per kernel set
    that ran (when run as a whole)."""
    from tests.contract.test_runtime_ops_16x8 import OPS_16X8  # their cases live there

    ops = [op for op in blob.OPCODES if op not in OPS_16X8]
    targets = {t for _, t in COUNTS}
    if "host" not in targets or sum(1 for _, t in COUNTS if t == "host") < len(ops):
        pytest.skip("only meaningful when the whole module runs")
    assert set(COUNTS) == {(op, t) for op in ops for t in targets}, sorted(COUNTS)
    assert all(v >= CASES for v in COUNTS.values()), COUNTS
