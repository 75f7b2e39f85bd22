"""The trained MLPerf Tiny KWS DS-CNN as a tf_keras model, rebuilt from the float reference
model in the shared data (`mlperf_tiny/kws_ref_model_float32.tflite`: BatchNorm already folded,
some weights stored as int8 with their scales), so that it can be converted again, e.g. to 16x8.
Used by tests/contract/test_runtime_keras_models.py and bench/int16x8.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FLOAT_MODEL = "mlperf_tiny/kws_ref_model_float32.tflite"
INT8_MODEL = "mlperf_tiny/kws_ref_model_int8.tflite"


def _weights(m, idx: int) -> np.ndarray:
    t = m.tensors[idx]
    w = m.constant(idx)
    if t.dtype == "FLOAT32":
        return w.astype(np.float32)
    scale = np.asarray(t.scale, np.float32).reshape((-1,) + (1,) * (w.ndim - 1))  # per output channel (dim 0)
    return (w.astype(np.float32) * scale).astype(np.float32)


def keras_model(data_root: Path):
    """tf_keras DS-CNN with the reference model's trained weights (conv/depthwise with fused ReLU,
    average pool over the whole map, dense, softmax), checked equal to the float .tflite by the test."""
    from autotiny.tf_env import tf_keras
    from autotiny.tflite_model import read_tflite

    keras = tf_keras()
    L = keras.layers
    m = read_tflite(data_root / FLOAT_MODEL)
    inp = keras.Input(shape=m.tensors[m.inputs[0]].shape[1:], batch_size=1)
    x, weights = inp, []
    for op in m.ops:
        o = op.options
        if op.name == "CONV_2D":
            w = _weights(m, op.inputs[1])  # [out, kh, kw, in]
            layer = L.Conv2D(w.shape[0], w.shape[1:3], strides=(o.strideH, o.strideW),
                             padding="same" if o.padding == 0 else "valid", activation="relu")
            x = layer(x)
            weights.append((layer, [w.transpose(1, 2, 3, 0), _weights(m, op.inputs[2])]))
        elif op.name == "DEPTHWISE_CONV_2D":
            w = _weights(m, op.inputs[1])  # [1, kh, kw, out]
            layer = L.DepthwiseConv2D(w.shape[1:3], strides=(o.strideH, o.strideW),
                                      padding="same" if o.padding == 0 else "valid", activation="relu")
            x = layer(x)
            weights.append((layer, [w[0][..., None], _weights(m, op.inputs[2])]))
        elif op.name == "AVERAGE_POOL_2D":
            x = L.AveragePooling2D((o.filterHeight, o.filterWidth))(x)
        elif op.name == "RESHAPE":
            x = L.Flatten()(x)
        elif op.name == "FULLY_CONNECTED":
            w = _weights(m, op.inputs[1])  # [out, in]
            layer = L.Dense(w.shape[0])
            x = layer(x)
            weights.append((layer, [w.T, _weights(m, op.inputs[2])]))
        elif op.name == "SOFTMAX":
            x = L.Softmax()(x)
        else:
            raise ValueError(f"unexpected op {op.name} in {FLOAT_MODEL}")
    model = keras.Model(inp, x, name="kws_ref_ds_cnn")
    for layer, w in weights:
        layer.set_weights(w)
    return model


def calibration(data_root: Path, n: int = 64, seed: int = 0) -> np.ndarray:
    """Inputs spread over the range the int8 reference model quantises its input to (its scale
    and zero point): enough for a calibration whose result is then checked bit for bit."""
    from autotiny.tflite_model import read_tflite

    m = read_tflite(data_root / INT8_MODEL)
    t = m.tensors[m.inputs[0]]
    lo, hi = (np.array([-128, 127]) - t.zero_point[0]) * t.scale[0]
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=(n, *t.shape[1:])).astype(np.float32)
