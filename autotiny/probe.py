"""The budget pre-check's shape model: an untrained tf_keras model written straight to an int8
.tflite with the ops, shapes and tensor sizes the TFLite converter would give it, in milliseconds
instead of the converter's seconds.

Flash, RAM and cycles do not depend on the weights, only on the op graph, the shapes and the
per-channel quantisation layout, so the pre-check can measure this model instead of a converted
one.  What the converter does and this writer copies (checked equal, blob for blob, by
tests/contract/test_probe.py): BatchNormalization folded into the preceding convolution's bias,
a ReLU/ReLU6 after a convolution, dense layer or add fused into it, GlobalAveragePooling2D as
MEAN over axes 1 and 2, Flatten/Reshape as RESHAPE, Dropout gone, Dense's softmax as a SOFTMAX
op; per-channel int8 weights (conv, depthwise, dense), int32 biases, int8 activations — or, for
`int16x8`, int16 activations (zero point 0), int64 biases and softmax's 1/32768 output scale.

A layer this module does not know returns None (`shape_model`), and the pre-check falls back to
the converter.  Weights are random; quantisation scales are chosen so every requantisation
multiplier is below 1, as a trained model's are.
"""

from __future__ import annotations

import numpy as np

from autotiny.compress import zero_smallest
from autotiny.tflite_writer import ModelBuilder, options

ACT_SCALE = 0.05  # activations
W_SCALE = 0.01  # weights, every channel
SAME, VALID = 0, 1  # schema.Padding
NONE, RELU, RELU6 = 0, 1, 3  # schema.ActivationFunctionType


class _Unsupported(Exception):
    pass


def _producer(kt) -> str:
    return kt._keras_history.layer.name


def _inputs(layer) -> list:
    x = layer.input
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _shape(kt) -> tuple[int, ...]:
    return (1, *(int(d) for d in kt.shape[1:]))


class _Writer:
    def __init__(self, seed: int, quantization: str, sparsity: float = 0.0):
        # quantisation-aware training (tfmot's default scheme) quantises Dense weights per tensor;
        # the converter's post-training path per output channel
        self.dense_channels = 1 if quantization == "int8_qat" else None
        self.int16 = quantization == "int16x8"  # 16x8: symmetric int16 activations, int64 biases
        self.sparsity = sparsity  # pruned weights: their zeros decide the sparse encoding's size
        self.b = ModelBuilder()
        self.rng = np.random.default_rng(seed)
        self.tensor_of: dict[str, int] = {}  # keras layer name -> tflite tensor of its output
        self.op_of: dict[int, object] = {}  # tflite tensor -> options of the op that wrote it (fusing)
        self.users: dict[str, int] = {}

    def activation(self, shape, scale=ACT_SCALE, zero_point=0) -> int:
        if self.int16:
            return self.b.tensor(shape, "INT16", scale=scale, zero_point=0)
        return self.b.tensor(shape, scale=scale, zero_point=zero_point)

    def like(self, src: int, shape) -> int:
        """An activation quantised as `src` (pooling and reshape keep their input's scale)."""
        q = self.b.tensors[src].quantization
        return self.activation(shape, scale=q.scale[0], zero_point=q.zeroPoint[0])

    def weights(self, shape, channels: int, dim: int = 0, prunable: bool = True) -> int:
        data = self.rng.integers(-127, 128, shape, dtype=np.int8)
        if prunable:  # tfmot prunes Conv2D and Dense kernels, not DepthwiseConv2D's
            data = zero_smallest(data, self.sparsity)
        return self.b.tensor(shape, scale=[W_SCALE] * channels, zero_point=[0] * channels, quantized_dimension=dim,
                             data=data)

    def bias(self, n: int, scales: int | None = None) -> int:
        dtype = "INT64" if self.int16 else "INT32"
        data = self.rng.integers(-1000, 1000, n).astype(np.int64 if self.int16 else np.int32)
        k = n if scales is None else scales
        return self.b.tensor((n,), dtype, scale=[ACT_SCALE * W_SCALE] * k, zero_point=[0] * k, data=data)

    def fuse(self, src: int, relu6: bool) -> None:
        opts = self.op_of.get(src)
        if opts is None or getattr(opts, "fusedActivationFunction", None) != NONE:
            raise _Unsupported("activation without an op to fuse into")
        opts.fusedActivationFunction = RELU6 if relu6 else RELU
        # the converter gives a ReLU's output the range [0, max]: zero point -128 (the clamp's
        # lower bound, which decides how often the kernels' clamp branch is taken); int16 stays symmetric
        if not self.int16:
            self.b.tensors[src].quantization.zeroPoint = [-128]

    def layer(self, layer) -> None:
        kind = type(layer).__name__
        out_shape = _shape(layer.output)
        if kind == "InputLayer":
            self.tensor_of[layer.name] = self.activation(out_shape, scale=0.5, zero_point=83)
            return
        ins = [self.tensor_of[_producer(kt)] for kt in _inputs(layer)]
        cfg = layer.get_config()
        if kind in ("BatchNormalization", "Dropout"):  # folded into the bias / gone at inference
            self.tensor_of[layer.name] = ins[0]
            return
        if kind == "ReLU" or (kind == "Activation" and cfg.get("activation") in ("relu", "relu6")):
            relu6 = cfg.get("max_value") == 6 or cfg.get("activation") == "relu6"
            self.fuse(ins[0], relu6)
            self.tensor_of[layer.name] = ins[0]
            return
        if kind in ("Conv2D", "DepthwiseConv2D"):
            self.conv(layer, kind, ins[0], out_shape, cfg)
        elif kind == "Dense":
            self.dense(layer, ins[0], out_shape, cfg)
        elif kind == "GlobalAveragePooling2D" and not cfg.get("keepdims"):
            axes = self.b.tensor((2,), "INT32", data=np.array([1, 2], np.int32))
            y = self.activation(out_shape)
            self.b.op("MEAN", [ins[0], axes], [y], options("ReducerOptionsT", keepDims=False))
            self.tensor_of[layer.name] = y
        elif kind in ("AveragePooling2D", "MaxPooling2D"):
            y = self.like(ins[0], out_shape)
            ph, pw = cfg["pool_size"]
            sh, sw = cfg["strides"] or cfg["pool_size"]
            self.b.op("AVERAGE_POOL_2D" if kind.startswith("Average") else "MAX_POOL_2D", [ins[0]], [y],
                      options("Pool2DOptionsT", padding=SAME if cfg["padding"] == "same" else VALID, strideH=sh,
                              strideW=sw, filterHeight=ph, filterWidth=pw))
            self.tensor_of[layer.name] = y
        elif kind in ("Flatten", "Reshape"):
            shape = self.b.tensor((len(out_shape),), "INT32", data=np.array(out_shape, np.int32))
            y = self.like(ins[0], out_shape)
            self.b.op("RESHAPE", [ins[0], shape], [y], options("ReshapeOptionsT", newShape=list(out_shape)))
            self.tensor_of[layer.name] = y
        elif kind == "Add" and len(ins) == 2:
            y = self.activation(out_shape)
            opts = options("AddOptionsT", fusedActivationFunction=NONE)
            self.b.op("ADD", ins, [y], opts)
            self.op_of[y], self.tensor_of[layer.name] = opts, y
        else:
            raise _Unsupported(kind)

    def conv(self, layer, kind: str, x: int, out_shape, cfg) -> None:
        if cfg.get("dilation_rate", (1, 1)) != (1, 1) or cfg.get("groups", 1) != 1:
            raise _Unsupported("dilated or grouped convolution")
        if cfg.get("activation") not in ("linear", None):
            raise _Unsupported("activation inside the convolution layer")
        kh, kw = cfg["kernel_size"]
        sh, sw = cfg["strides"]
        cin, cout = int(layer.input.shape[-1]), out_shape[-1]
        pad = SAME if cfg["padding"] == "same" else VALID
        if kind == "Conv2D":
            w = self.weights((cout, kh, kw, cin), cout)
            opts = options("Conv2DOptionsT", padding=pad, strideH=sh, strideW=sw, dilationHFactor=1,
                           dilationWFactor=1, fusedActivationFunction=NONE)
            op = "CONV_2D"
        else:
            w = self.weights((1, kh, kw, cout), cout, dim=3, prunable=False)
            opts = options("DepthwiseConv2DOptionsT", padding=pad, strideH=sh, strideW=sw,
                           depthMultiplier=cout // cin, dilationHFactor=1, dilationWFactor=1,
                           fusedActivationFunction=NONE)
            op = "DEPTHWISE_CONV_2D"
        y = self.activation(out_shape)
        self.b.op(op, [x, w, self.bias(cout)], [y], opts)
        self.op_of[y], self.tensor_of[layer.name] = opts, y

    def dense(self, layer, x: int, out_shape, cfg) -> None:
        units, n_in = out_shape[-1], int(layer.input.shape[-1])
        if len(out_shape) != 2:
            raise _Unsupported("Dense on more than one axis")
        act = cfg.get("activation")
        opts = options("FullyConnectedOptionsT", fusedActivationFunction=RELU if act == "relu" else NONE,
                       keepNumDims=False)
        y = self.activation(out_shape)
        scales = self.dense_channels or units
        self.b.op("FULLY_CONNECTED", [x, self.weights((units, n_in), scales), self.bias(units, scales)], [y], opts)
        self.op_of[y] = opts
        if act == "softmax":
            probs = (self.activation(out_shape, scale=1.0 / 32768) if self.int16 else
                     self.activation(out_shape, scale=1.0 / 256, zero_point=-128))
            self.b.op("SOFTMAX", [y], [probs], options("SoftmaxOptionsT", beta=1.0))
            y = probs
        elif act not in ("linear", "relu", None):
            raise _Unsupported(f"Dense activation {act}")
        self.tensor_of[layer.name] = y


def shape_model(model, seed: int = 0, quantization: str = "int8_ptq", sparsity: float = 0.0) -> bytes | None:
    """The int8 (16x8) .tflite of an untrained tf_keras model as the converter would lay it out after
    `quantization` (autotiny.space.QUANTIZATION_MODES) and magnitude pruning to `sparsity`, or None
    when a layer is not one this writer knows (the caller converts instead)."""
    w = _Writer(seed, quantization, sparsity)
    try:
        for layer in model.layers:
            w.layer(layer)
        inputs = [w.tensor_of[_producer(kt)] for kt in model.inputs]
        outputs = [w.tensor_of[_producer(kt)] for kt in model.outputs]
    except (_Unsupported, KeyError, AttributeError, TypeError, ValueError):
        return None
    return w.b.build(inputs, outputs)
