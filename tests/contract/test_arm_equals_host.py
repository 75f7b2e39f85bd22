"""The ARM firmware, run on the emulated boards, equals the host build of the same
runtime bit for bit: on the MLPerf Tiny reference models ($AUTOTINY_DATA) and on
random multi-op int8 models (always, when arm-none-eabi-gcc is installed), on
all three boards, with each kernel set: `reference` (the portable kernels the host runs)
and `auto` (the core's fast set, cortex_m_dsp on these M4/M7 boards).  The helpers here
(`board`, `assert_same`) also serve tests/contract/test_runtime_ops.py."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from autotiny import blob, runtime
from autotiny.config import compose
from autotiny.measure import emulator
from tests.tflite_builder import ModelBuilder, options

pytestmark = pytest.mark.needs_arm_gcc

BOARDS = ("stm32f746", "nrf52840", "stm32l4r5")
REFERENCE = ("kws_ref_model_int8", "ad01_int8", "pretrainedResnet_quant")
KERNEL_SETS = ("reference", "auto")
N_RANDOM = 12


@lru_cache(maxsize=None)
def board(name: str, kernels: str = "auto"):
    """The board record with this kernel set (cached: composing takes ~0.5 s)."""
    return compose([f"board={name}", f"board.kernels={kernels}"]).board


def inputs(shape, n: int, seed: int):
    rng = np.random.default_rng(seed)
    yield np.full(shape, -128, np.int8)
    yield np.full(shape, 127, np.int8)
    for _ in range(n - 2):
        yield rng.integers(-128, 128, size=shape, dtype=np.int8)


def assert_same(b: blob.ModelBlob, rec, x: np.ndarray, what: str, run=None) -> None:
    """The emulated run on board record `rec` equals the host runtime's output (`run`: the
    emulator's result when the caller already has it).  Bit-exactness needs no cycle model:
    the Machine without one runs faster."""
    r = run or emulator.emulate(b.data, rec, x, cycle_model=False)
    where = f"{what} on {rec.name} (kernels={rec.kernels})"
    assert r.ok, f"{where}: {r.fault or r.status_name}"
    expected = runtime.run(b, x)
    assert r.output.dtype == expected.dtype and r.output.shape == expected.shape
    diff = np.flatnonzero(r.output.reshape(-1).view(np.uint8) != expected.reshape(-1).view(np.uint8))
    assert diff.size == 0, (f"{where}: {diff.size} of {expected.size} outputs differ; first at {diff[0]}: "
                            f"ARM {r.output.reshape(-1)[diff[0]]} host {expected.reshape(-1)[diff[0]]}")


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("name", REFERENCE)
@pytest.mark.parametrize("board_name", BOARDS)
def test_reference_models(data_root, name, board_name, kernels):
    path = data_root / "mlperf_tiny" / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present")
    b = blob.from_tflite(path)
    n = 2 if name == "pretrainedResnet_quant" else 3  # IC: ~0.5 s per inference on the M4 model
    for k, x in enumerate(inputs(b.input_shape, n, seed=len(name))):
        assert_same(b, board(board_name, kernels), x, f"{name} input #{k}")


# ---------------------------------------------------------------------------
# random models: conv -> depthwise -> pool -> (add) -> fully connected -> softmax


def _scale(rng, lo=-2.5, hi=0.0) -> float:
    return float(np.float32(10 ** rng.uniform(lo, hi)))


def _out(pad: int, size: int, k: int, stride: int) -> int:
    return (size + stride - 1) // stride if pad == 0 else (size - k + stride) // stride


def random_model(seed: int) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w, c = int(rng.integers(4, 14)), int(rng.integers(4, 14)), int(rng.integers(1, 5))
    s_in, zp_in = _scale(rng), int(rng.integers(-128, 128))
    x = b.tensor((1, h, w, c), scale=s_in, zero_point=zp_in)
    cur, cur_s, cur_shape = x, s_in, (1, h, w, c)

    def conv(depthwise: bool):
        nonlocal cur, cur_s, cur_shape
        _, hh, ww, cin = cur_shape
        k, stride, pad = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
        k = min(k, hh, ww)
        cout = cin * int(rng.integers(1, 3)) if depthwise else int(rng.integers(2, 9))
        oh, ow = _out(pad, hh, k, stride), _out(pad, ww, k, stride)
        w_s = [_scale(rng, -3.5, -1.0) for _ in range(cout)]
        shape = (1, k, k, cout) if depthwise else (cout, k, k, cin)
        wt = b.tensor(shape, scale=w_s, zero_point=[0] * cout, quantized_dimension=3 if depthwise else 0,
                      data=rng.integers(-127, 128, size=shape, dtype=np.int8))
        bias = b.tensor((cout,), "INT32", scale=[float(np.float32(cur_s) * np.float32(s)) for s in w_s],
                        zero_point=[0] * cout, data=rng.integers(-5000, 5000, size=cout).astype(np.int32))
        out_s = _scale(rng, -2.0, 0.5)
        y = b.tensor((1, oh, ow, cout), scale=out_s, zero_point=int(rng.integers(-128, 128)))
        act = int(rng.choice([0, 1, 3]))
        if depthwise:
            b.op("DEPTHWISE_CONV_2D", [cur, wt, bias], [y],
                 options("DepthwiseConv2DOptionsT", padding=pad, strideH=stride, strideW=stride,
                         depthMultiplier=cout // cin, dilationHFactor=1, dilationWFactor=1,
                         fusedActivationFunction=act))
        else:
            b.op("CONV_2D", [cur, wt, bias], [y],
                 options("Conv2DOptionsT", padding=pad, strideH=stride, strideW=stride, dilationHFactor=1,
                         dilationWFactor=1, fusedActivationFunction=act))
        cur, cur_s, cur_shape = y, out_s, (1, oh, ow, cout)

    conv(False)
    conv(True)
    _, hh, ww, cc = cur_shape
    op = "MAX_POOL_2D" if rng.integers(0, 2) else "AVERAGE_POOL_2D"
    f = int(min(2, hh, ww))
    oh, ow = _out(1, hh, f, f), _out(1, ww, f, f)
    zp = int(rng.integers(-128, 128))
    # pooling keeps the quantization
    y = b.tensor((1, oh, ow, cc), scale=cur_s, zero_point=zp)
    b.tensors[cur].quantization.zeroPoint = [zp]
    b.op(op, [cur], [y], options("Pool2DOptionsT", padding=1, strideH=f, strideW=f, filterHeight=f,
                                 filterWidth=f, fusedActivationFunction=0))
    cur, cur_shape = y, (1, oh, ow, cc)
    depth = oh * ow * cc
    flat = b.tensor((1, depth), scale=cur_s, zero_point=zp)
    shape_t = b.tensor((2,), "INT32", data=np.array([1, depth], dtype=np.int32))
    b.op("RESHAPE", [cur, shape_t], [flat], options("ReshapeOptionsT", newShape=[1, depth]))
    units = int(rng.integers(2, 12))
    w_s = _scale(rng, -3.0, -1.0)
    wt = b.tensor((units, depth), scale=w_s, zero_point=0,
                  data=rng.integers(-127, 128, size=(units, depth), dtype=np.int8))
    bias = b.tensor((units,), "INT32", scale=float(np.float32(cur_s) * np.float32(w_s)), zero_point=0,
                    data=rng.integers(-2000, 2000, size=units).astype(np.int32))
    logits = b.tensor((1, units), scale=_scale(rng, -1.5, 0.5), zero_point=int(rng.integers(-128, 128)))
    b.op("FULLY_CONNECTED", [flat, wt, bias], [logits], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    probs = b.tensor((1, units), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [logits], [probs], options("SoftmaxOptionsT", beta=1.0))
    xin = rng.integers(-128, 128, size=(1, h, w, c), dtype=np.int8)
    return b.build([x], [probs]), xin


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("board_name", BOARDS)
def test_random_models(board_name, kernels):
    ran = 0
    for seed in range(N_RANDOM):
        model, x = random_model(seed)
        b = blob.from_tflite(model)
        assert_same(b, board(board_name, kernels), x, f"random model seed {seed}")
        ran += 1
    assert ran == N_RANDOM


def float_io_model(seed: int) -> tuple[bytes, np.ndarray]:
    """float32 in -> QUANTIZE -> FULLY_CONNECTED -> DEQUANTIZE -> float32 out (the FPU paths)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    depth, units = int(rng.integers(4, 40)), int(rng.integers(2, 10))
    x = b.tensor((1, depth), "FLOAT32")
    s_in = _scale(rng, -2.0, 0.0)
    q = b.tensor((1, depth), scale=s_in, zero_point=int(rng.integers(-20, 20)))
    b.op("QUANTIZE", [x], [q])
    w_s = _scale(rng, -3.0, -1.0)
    wt = b.tensor((units, depth), scale=w_s, zero_point=0,
                  data=rng.integers(-127, 128, size=(units, depth), dtype=np.int8))
    y = b.tensor((1, units), scale=_scale(rng, -1.5, 0.5), zero_point=int(rng.integers(-128, 128)))
    b.op("FULLY_CONNECTED", [q, wt, -1], [y], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    out = b.tensor((1, units), "FLOAT32")
    b.op("DEQUANTIZE", [y], [out])
    xin = (rng.standard_normal((1, depth)) * 3).astype(np.float32)
    return b.build([x], [out]), xin


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("board_name", BOARDS)
def test_float_io_models(board_name, kernels):
    for seed in range(4):
        model, x = float_io_model(seed)
        assert_same(blob.from_tflite(model), board(board_name, kernels), x, f"float I/O model seed {seed}")
