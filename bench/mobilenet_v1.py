"""A MobileNetV1-0.25 96x96 int8 model with random weights, for the VWW-like figure of
bench/runtime_ops.py (no MLPerf VWW model in the shared data).  Written with
tests/tflite_builder.py in a fraction of a second: no TensorFlow conversion.

    from bench.mobilenet_v1 import mobilenet_v1_025_96
    tflite_bytes = mobilenet_v1_025_96(seed=0)
"""

from __future__ import annotations

import numpy as np

from tests.tflite_builder import ModelBuilder, options


def mobilenet_v1_025_96(seed: int = 0) -> bytes:
    """MobileNetV1 alpha 0.25 on a 96x96x3 int8 input with random weights, the architecture of the
    MLPerf Tiny visual wake words benchmark (7.49 M MACs): a 3x3 stride-2 convolution with 8 filters,
    13 blocks of depthwise 3x3 + pointwise 1x1, SAME padding, fused ReLU6 (our choice), global
    average pool, 2-way fully connected, softmax.  Latency does not depend on the weights; each
    output scale is the input scale x sqrt(fan-in) / 8 (about half the spread of a sum of fan-in
    products of values ~64 and weights ~64 x 0.5/127) so activations stay in range."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    s = 1.0 / 128
    x = b.tensor((1, 96, 96, 3), scale=s, zero_point=0)
    cur, shape = x, (1, 96, 96, 3)

    def layer(kind: str, k: int, stride: int, cout: int) -> None:
        nonlocal cur, s, shape
        _, h, w, cin = shape
        oh, ow = -(-h // stride), -(-w // stride)
        fan_in = k * k * (1 if kind == "dw" else cin)
        w_s = [float(np.float32(0.5 / 127 * rng.uniform(0.5, 1.5))) for _ in range(cout)]
        wshape = (1, k, k, cout) if kind == "dw" else (cout, k, k, cin)
        wt = b.tensor(wshape, scale=w_s, zero_point=[0] * cout, quantized_dimension=3 if kind == "dw" else 0,
                      data=rng.integers(-127, 128, size=wshape, dtype=np.int8))
        bias = b.tensor((cout,), "INT32", scale=[float(np.float32(s) * np.float32(v)) for v in w_s],
                        zero_point=[0] * cout, data=rng.integers(-1000, 1000, size=cout).astype(np.int32))
        out_s = float(np.float32(s * np.sqrt(fan_in) / 8))
        y = b.tensor((1, oh, ow, cout), scale=out_s, zero_point=-128)
        if kind == "dw":
            b.op("DEPTHWISE_CONV_2D", [cur, wt, bias], [y],
                 options("DepthwiseConv2DOptionsT", padding=0, strideH=stride, strideW=stride, depthMultiplier=1,
                         dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=3))
        else:
            b.op("CONV_2D", [cur, wt, bias], [y],
                 options("Conv2DOptionsT", padding=0, strideH=stride, strideW=stride, dilationHFactor=1,
                         dilationWFactor=1, fusedActivationFunction=3))
        cur, s, shape = y, out_s, (1, oh, ow, cout)

    layer("conv", 3, 2, 8)
    for stride, cout in [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128), (1, 128), (1, 128), (1, 128),
                         (1, 128), (1, 128), (2, 256), (1, 256)]:
        layer("dw", 3, stride, shape[3])
        layer("conv", 1, 1, cout)
    _, h, w, c = shape
    pooled = b.tensor((1, 1, 1, c), scale=s, zero_point=-128)
    b.op("AVERAGE_POOL_2D", [cur], [pooled], options("Pool2DOptionsT", padding=1, strideH=1, strideW=1,
                                                     filterHeight=h, filterWidth=w, fusedActivationFunction=0))
    flat = b.tensor((1, c), scale=s, zero_point=-128)
    shape_t = b.tensor((2,), "INT32", data=np.array([1, c], dtype=np.int32))
    b.op("RESHAPE", [pooled, shape_t], [flat], options("ReshapeOptionsT", newShape=[1, c]))
    w_s = float(np.float32(0.5 / 127))
    wt = b.tensor((2, c), scale=w_s, zero_point=0, data=rng.integers(-127, 128, size=(2, c), dtype=np.int8))
    bias = b.tensor((2,), "INT32", scale=float(np.float32(s) * np.float32(w_s)), zero_point=0,
                    data=np.zeros(2, dtype=np.int32))
    logits = b.tensor((1, 2), scale=float(np.float32(max(s * np.sqrt(c) / 4, 1 / 16))), zero_point=0)
    b.op("FULLY_CONNECTED", [flat, wt, bias], [logits], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    probs = b.tensor((1, 2), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [logits], [probs], options("SoftmaxOptionsT", beta=1.0))
    return b.build([x], [probs])
