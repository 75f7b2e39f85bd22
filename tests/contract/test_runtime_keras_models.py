"""Small multi-op models converted from tf_keras (post-training quantization and
QAT), covering what the TFLite converter really emits: fused activations,
folded batch norm, PAD from ZeroPadding2D, MEAN from global pooling, RESHAPE
from Flatten, QUANTIZE/DEQUANTIZE around float I/O.  Each runs through
tflite_micro and our host runtime; outputs must be equal byte for byte.

A conversion costs ~2 s, so the .tflite bytes are cached under
$AUTOTINY_CACHE/keras_models/<hash of this file + TF version>/."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import autotiny
from autotiny import blob, runtime
from autotiny.runtime import cache_dir

N_INPUTS = 10

# (name, family, kwargs, mode) ; mode: ptq | qat | 16x8, +f for float32 input/output; search(16x8):
# the search's own builder and converter
CONFIGS = [
    ("dscnn_a", "dscnn", dict(filters=8, kernel=(10, 4), stride=2, blocks=1, act="relu"), "ptq"),
    ("dscnn_b", "dscnn", dict(filters=12, kernel=(3, 3), stride=1, blocks=2, act="relu"), "ptq"),
    ("dscnn_c", "dscnn", dict(filters=8, kernel=(5, 3), stride=2, blocks=2, act="relu6"), "ptq"),
    ("dscnn_d", "dscnn", dict(filters=8, kernel=(10, 4), stride=2, blocks=1, act="relu"), "qat"),
    ("dscnn_e", "dscnn", dict(filters=16, kernel=(3, 3), stride=2, blocks=2, act="relu"), "qat"),
    ("dscnn_f", "dscnn", dict(filters=8, kernel=(4, 4), stride=2, blocks=1, act="relu"), "ptq+f"),
    ("dscnn_g", "dscnn", dict(filters=8, kernel=(3, 3), stride=1, blocks=1, act="relu6"), "qat+f"),
    ("dscnn_share", "dscnn", dict(filters=8, kernel=(3, 3), stride=1, blocks=3, act="relu", share=True), "ptq"),
    ("resnet_a", "resnet", dict(filters=8, blocks=1, act="relu"), "ptq"),
    ("resnet_b", "resnet", dict(filters=8, blocks=2, act="relu"), "ptq"),
    ("resnet_c", "resnet", dict(filters=6, blocks=1, act="relu"), "qat"),
    ("resnet_d", "resnet", dict(filters=8, blocks=2, act="relu6"), "qat"),
    ("resnet_e", "resnet", dict(filters=4, blocks=1, act="relu"), "ptq+f"),
    ("mlp_a", "mlp", dict(units=(32, 8, 32), act="relu"), "ptq"),
    ("mlp_b", "mlp", dict(units=(64, 16), act="relu"), "qat"),
    ("mlp_c", "mlp", dict(units=(24, 24, 24, 24), act="relu6"), "ptq"),
    ("mlp_d", "mlp", dict(units=(16,), act=None), "ptq+f"),
    ("mlp_e", "mlp", dict(units=(48, 8, 48), act="relu"), "qat+f"),
    ("cnn_a", "cnn", dict(filters=8, pool="max", pad="valid", act="relu"), "ptq"),
    ("cnn_b", "cnn", dict(filters=8, pool="avg", pad="same", act="relu"), "ptq"),
    ("cnn_c", "cnn", dict(filters=6, pool="max", pad="same", act="relu6"), "qat"),
    ("cnn_d", "cnn", dict(filters=8, pool="avg", pad="valid", act="relu"), "qat"),
    ("cnn_e", "cnn", dict(filters=4, pool="max", pad="valid", act=None), "ptq+f"),
    ("mobilenet_a", "mobilenet", dict(alpha=8, dm=1, act="relu6"), "ptq"),
    ("mobilenet_b", "mobilenet", dict(alpha=8, dm=2, act="relu6"), "ptq"),
    ("mobilenet_c", "mobilenet", dict(alpha=4, dm=2, act="relu"), "qat"),
    ("mobilenet_d", "mobilenet", dict(alpha=8, dm=1, act="relu"), "qat+f"),
    ("padded_a", "padded", dict(filters=8, pad=((1, 2), (2, 1))), "ptq"),
    ("padded_b", "padded", dict(filters=6, pad=((0, 1), (1, 0))), "qat"),
    ("padded_c", "padded", dict(filters=8, pad=((2, 2), (2, 2))), "ptq+f"),
    ("gap_a", "gap", dict(filters=8, flatten=False), "ptq"),
    ("gap_b", "gap", dict(filters=8, flatten=True), "ptq"),
    ("gap_c", "gap", dict(filters=12, flatten=False), "qat"),
    ("conv1d_a", "conv1d", dict(filters=8), "ptq"),
    ("conv1d_b", "conv1d", dict(filters=6), "ptq+f"),  # tfmot's QAT has no Conv1D
    ("reshape_a", "reshape", dict(units=24), "ptq"),
    ("reshape_b", "reshape", dict(units=24), "qat"),
    ("concat_a", "concat", dict(filters=6), "ptq"),
    ("concat_b", "concat", dict(filters=8), "qat"),
    # the search's own DS-CNN builder and int8 conversion (autotiny.models / autotiny.compress)
    ("search_dscnn_a", "search_dscnn", dict(n_blocks=1, channels=8), "search"),
    ("search_dscnn_b", "search_dscnn", dict(n_blocks=3, channels=12, first_stride=(1, 2)), "search"),
    # 16x8: int16 activations, int8 weights, int64 bias (TFLite's EXPERIMENTAL_..._INT16_WEIGHTS_INT8)
    ("dscnn_16x8", "dscnn", dict(filters=8, kernel=(10, 4), stride=2, blocks=1, act="relu"), "16x8"),
    ("resnet_16x8", "resnet", dict(filters=8, blocks=2, act="relu"), "16x8"),
    ("cnn_16x8", "cnn", dict(filters=8, pool="max", pad="same", act="relu6"), "16x8+f"),
    ("gap_16x8", "gap", dict(filters=8, flatten=True), "16x8"),
    ("search_dscnn_16x8", "search_dscnn", dict(n_blocks=2, channels=8), "search16x8"),
]

INPUT_SHAPES = {"dscnn": (49, 10, 1), "resnet": (16, 16, 3), "mlp": (40,), "cnn": (20, 20, 2),
                "mobilenet": (24, 24, 3), "padded": (12, 10, 2), "gap": (12, 12, 3),
                "conv1d": (32, 4), "reshape": (6, 8), "search_dscnn": (49, 10),
                "concat": (10, 10, 3)}


def _keras():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as keras

    return tf, keras


def build_model(family: str, shape, kw):
    tf, keras = _keras()
    L = keras.layers
    # Reshape with a dynamic batch makes the converter emit SHAPE/STRIDED_SLICE/PACK
    # shape arithmetic: convert such models with a fixed batch of 1
    inp = keras.Input(shape=shape, batch_size=1 if family == "reshape" else None)
    act = kw.get("act")

    def a(x):  # ReLU layers: the converter fuses them, and tfmot's QAT accepts them
        if act == "relu6":
            return L.ReLU(6.0)(x)
        return L.ReLU()(x) if act else x

    if family == "dscnn":
        x = L.Conv2D(kw["filters"], kw["kernel"], strides=kw["stride"], padding="same", use_bias=False)(inp)
        x = a(L.BatchNormalization()(x))
        block = None
        for _ in range(kw["blocks"]):
            if block is None or not kw.get("share"):  # share: every block calls the first one's layers
                block = [L.DepthwiseConv2D(3, padding="same", use_bias=False), L.BatchNormalization(),
                         L.Conv2D(kw["filters"], 1, use_bias=False), L.BatchNormalization()]
            x = a(block[1](block[0](x)))
            x = a(block[3](block[2](x)))
        x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
        x = L.Flatten()(x)
        x = L.Dense(12)(x)
        out = L.Softmax()(x)
    elif family == "resnet":
        x = a(L.BatchNormalization()(L.Conv2D(kw["filters"], 3, padding="same")(inp)))
        for i in range(kw["blocks"]):
            s = 2 if i else 1
            y = a(L.BatchNormalization()(L.Conv2D(kw["filters"], 3, strides=s, padding="same")(x)))
            y = L.BatchNormalization()(L.Conv2D(kw["filters"], 3, padding="same")(y))
            if s != 1:
                x = L.Conv2D(kw["filters"], 1, strides=s)(x)
            x = a(L.Add()([x, y]))
        x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
        x = L.Flatten()(x)
        out = L.Softmax()(L.Dense(10)(x))
    elif family == "mlp":
        x = inp
        for u in kw["units"]:
            x = a(L.Dense(u)(x))
        out = L.Dense(shape[0])(x)
    elif family == "cnn":
        x = a(L.Conv2D(kw["filters"], 3, padding=kw["pad"])(inp))
        x = (L.MaxPooling2D if kw["pool"] == "max" else L.AveragePooling2D)(2, padding=kw["pad"])(x)
        x = a(L.Conv2D(kw["filters"] * 2, 3, strides=2, padding=kw["pad"])(x))
        x = (L.MaxPooling2D if kw["pool"] == "max" else L.AveragePooling2D)(3, strides=1, padding="same")(x)
        x = L.Flatten()(x)
        out = L.Softmax()(L.Dense(5)(L.Dropout(0.2)(x)))
    elif family == "mobilenet":
        x = a(L.BatchNormalization()(L.Conv2D(kw["alpha"], 3, strides=2, padding="same", use_bias=False)(inp)))
        x = a(L.BatchNormalization()(L.DepthwiseConv2D(3, depth_multiplier=kw["dm"], padding="same",
                                                       use_bias=False)(x)))
        x = a(L.BatchNormalization()(L.Conv2D(kw["alpha"] * 2, 1, use_bias=False)(x)))
        x = a(L.BatchNormalization()(L.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False)(
            L.ZeroPadding2D(((0, 1), (0, 1)))(x))))
        x = L.GlobalAveragePooling2D()(x)
        out = L.Softmax()(L.Dense(4)(x))
    elif family == "padded":
        x = L.ZeroPadding2D(kw["pad"])(inp)
        x = L.Conv2D(kw["filters"], 3, activation="relu")(x)
        x = L.ZeroPadding2D(((1, 1), (1, 1)))(x)
        x = L.DepthwiseConv2D(3, strides=2, activation="relu")(x)
        x = L.GlobalAveragePooling2D()(x)
        out = L.Dense(3)(x)
    elif family == "gap":
        x = L.Conv2D(kw["filters"], 3, padding="same", activation="relu")(inp)
        x = L.Conv2D(kw["filters"], 3, strides=2, padding="same", activation="relu")(x)
        if kw["flatten"]:
            x = L.Flatten()(L.GlobalAveragePooling2D(keepdims=True)(x))
        else:
            x = L.GlobalAveragePooling2D()(x)
        out = L.Softmax()(L.Dense(6)(x))
    elif family == "conv1d":
        x = L.Conv1D(kw["filters"], 5, padding="same", activation="relu")(inp)
        x = L.Conv1D(kw["filters"], 3, strides=2, activation="relu")(x)
        x = L.GlobalAveragePooling1D()(x)
        out = L.Softmax()(L.Dense(4)(x))
    elif family == "reshape":
        x = L.Reshape((shape[0] * shape[1],))(inp)
        x = L.Dense(kw["units"], activation="relu")(x)
        x = L.Reshape((4, kw["units"] // 4))(x)
        x = L.Dense(6, activation="relu")(x)
        x = L.Flatten()(x)
        out = L.Softmax()(L.Dense(5)(x))
    elif family == "concat":  # inception-style branches
        x = L.Conv2D(kw["filters"], 3, strides=2, padding="same", activation="relu")(inp)
        b1 = L.Conv2D(kw["filters"], 1, activation="relu")(x)
        b2 = L.Conv2D(kw["filters"] // 2, 3, padding="same", activation="relu")(x)
        b3 = L.MaxPooling2D(3, strides=1, padding="same")(x)
        x = L.Concatenate()([b1, b2, b3])
        x = L.GlobalAveragePooling2D()(x)
        out = L.Softmax()(L.Dense(4)(x))
    else:
        raise ValueError(family)
    return keras.Model(inp, out)


def convert(name: str, family: str, kw: dict, mode: str) -> bytes:
    tf, keras = _keras()
    shape = INPUT_SHAPES[family]
    if mode in ("search", "search16x8"):
        from autotiny.compress import to_int8_tflite, to_int16x8_tflite
        from autotiny.models import ds_cnn

        model = ds_cnn.build(shape, 12, ds_cnn.DsCnnParams(**kw), seed=sum(map(ord, name)))
        rng = np.random.default_rng(sum(map(ord, name)))
        to_tflite = to_int16x8_tflite if mode == "search16x8" else to_int8_tflite
        return to_tflite(model, rng.normal(0, 1, size=(32, *shape)).astype(np.float32))
    keras.utils.set_random_seed(sum(map(ord, name)))
    model = build_model(family, shape, kw)
    rng = np.random.default_rng(sum(map(ord, name)))
    data = rng.normal(0, 1, size=(32, *shape)).astype(np.float32)
    if mode.startswith("qat"):
        import tensorflow_model_optimization as tfmot

        model = tfmot.quantization.keras.quantize_model(model)
        # one cheap training step per batch lets the fake-quant ranges settle
        model.compile(optimizer="adam", loss="mse")
        target = model.predict(data, verbose=0)
        model.fit(data, target, epochs=1, batch_size=8, verbose=0)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([d[None]] for d in data)
    if mode.startswith("16x8"):
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        io_type = tf.int16
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = tf.int8
    if not mode.endswith("+f"):
        conv.inference_input_type = io_type
        conv.inference_output_type = io_type
    return conv.convert()


def _cache_root() -> Path:
    import importlib.metadata as md

    h = hashlib.sha256(Path(__file__).read_bytes())
    for dep in ("models/ds_cnn.py", "compress.py"):  # the search's builder and converter
        dep_path = Path(autotiny.__file__).parent / dep
        if dep_path.exists():
            h.update(dep_path.read_bytes())
    h.update(md.version("tensorflow").encode())
    return cache_dir() / "keras_models" / h.hexdigest()[:16]


@pytest.fixture(scope="module")
def keras_models():
    """name -> .tflite bytes, converted once and cached on disk."""
    root = _cache_root()
    models: dict[str, bytes] = {}
    if root.parent.is_dir():  # drop caches of older versions of this file (unused for an hour)
        import shutil
        import time

        for old in root.parent.iterdir():
            if old != root and old.is_dir() and time.time() - old.stat().st_mtime > 3600:
                shutil.rmtree(old, ignore_errors=True)

    def get(name: str) -> bytes:
        if name not in models:
            path = root / f"{name}.tflite"
            if not path.exists():
                cfg = next(c for c in CONFIGS if c[0] == name)
                data = convert(*cfg)
                root.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_bytes(data)
                os.replace(tmp, path)
            models[name] = path.read_bytes()
        return models[name]

    return get


@pytest.mark.parametrize("name", [c[0] for c in CONFIGS])
def test_keras_model_bit_exact(keras_models, name):
    from tflite_micro.python.tflite_micro import runtime as tflm

    model = keras_models(name)
    b = blob.from_tflite(model, source=name)
    ours = runtime.HostModel(b)
    ref = tflm.Interpreter.from_bytes(model, arena_size=1 << 20)
    rng = np.random.default_rng(len(name))
    for k in range(N_INPUTS):
        if b.input_dtype == np.float32:
            x = rng.normal(0, 1 + k % 3, size=b.input_shape).astype(np.float32)
        else:
            info = np.iinfo(b.input_dtype)
            x = rng.integers(info.min, info.max + 1, size=b.input_shape, dtype=b.input_dtype)
        ref.set_input(x, 0)
        ref.invoke()
        expected = ref.get_output(0)
        got = ours.run(x)
        assert got.dtype == expected.dtype
        assert np.array_equal(got.reshape(-1).view(np.uint8), expected.reshape(-1).view(np.uint8)), \
            f"{name} ({', '.join(sorted(set(b.op_names)))}) input #{k} differs"


def test_keras_models_cover_the_converter_ops(keras_models):
    seen = set()  # blob ops (the op table's names), as the runtime sees them
    for name, *_ in CONFIGS:
        seen |= set(blob.load_blob(blob.from_tflite(keras_models(name)).data).op_names)
    # DECODE_SPARSE_INT8 comes from the blob's sparse encoding of pruned filters, not from a converter op
    # (tests/contract/test_sparse_blob.py)
    converter_ops = set(blob.OPCODES) - {"DECODE_SPARSE_INT8"}
    assert converter_ops <= seen, converter_ops - seen


@pytest.fixture(scope="module")
def kws_16x8(data_root):
    """The trained MLPerf Tiny KWS DS-CNN (tests/kws_reference.py) converted to 16x8 by the search's
    converter (autotiny.compress), cached like the models above (a conversion takes ~15-30 s)."""
    from tests import kws_reference

    path = _cache_root() / "kws_ref_16x8.tflite"
    if not path.exists():
        from autotiny.compress import to_int16x8_tflite

        model = kws_reference.keras_model(data_root)
        data = to_int16x8_tflite(model, kws_reference.calibration(data_root))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path.read_bytes()


def test_kws_keras_rebuild_is_the_float_reference(data_root):
    """The rebuilt Keras model answers as the float reference .tflite (which quantises its int8-stored
    layers' inputs on the fly, hence the tolerance): same class on every input, probabilities close."""
    from tests import kws_reference

    from autotiny.tf_env import tf

    model = kws_reference.keras_model(data_root)
    interp = tf().lite.Interpreter(model_path=str(data_root / kws_reference.FLOAT_MODEL))
    interp.allocate_tensors()
    for x in kws_reference.calibration(data_root, n=8, seed=1):
        interp.set_tensor(interp.get_input_details()[0]["index"], x[None])
        interp.invoke()
        ref = interp.get_tensor(interp.get_output_details()[0]["index"])
        ours = model(x[None]).numpy()
        assert ours.argmax() == ref.argmax() and np.abs(ours - ref).max() < 0.1


def test_trained_kws_16x8_bit_exact(kws_16x8):
    """A trained KWS DS-CNN in 16x8 runs bit for bit as TFLM runs it, with every op on its 16x8 row."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    b = blob.from_tflite(kws_16x8, source="kws_ref_16x8")
    names = blob.load_blob(b.data).op_names
    assert all(blob.BLOB_OPS[n].int16 for n in names), names
    ours = runtime.HostModel(b)
    ref = tflm.Interpreter.from_bytes(kws_16x8, arena_size=1 << 20)
    rng = np.random.default_rng(7)
    for k in range(N_INPUTS):
        x = rng.integers(-32768, 32768, size=b.input_shape, dtype=np.int16) if k % 2 else \
            rng.normal(0, 3000, size=b.input_shape).clip(-32768, 32767).astype(np.int16)
        ref.set_input(x, 0)
        ref.invoke()
        assert np.array_equal(ours.run(x), ref.get_output(0)), f"input #{k} differs"


@pytest.mark.needs_arm_gcc
def test_trained_kws_16x8_on_the_emulated_board(kws_16x8):
    """The same model in the stm32f746 firmware (16x8 rows linked, reference kernels) equals the host."""
    from autotiny.measure import emulator
    from tests.contract.test_arm_equals_host import assert_same, board

    b = blob.from_tflite(kws_16x8, source="kws_ref_16x8")
    x = np.random.default_rng(3).integers(-32768, 32768, size=b.input_shape, dtype=np.int16)
    assert_same(b, board("stm32f746", "auto"), x, "kws_ref_16x8")


def test_shared_blocks_are_stored_once_in_the_blob(keras_models):
    """The converter stores a shared layer's constants once and the blob keeps them shared, so the
    device gets the flash saving: 2 of 3 blocks' weights (8 channels: 3x3 depthwise + 1x1 pointwise)."""
    shared = blob.from_tflite(keras_models("dscnn_share"))
    apart = blob.from_tflite(convert("dscnn_apart", "dscnn", dict(filters=8, kernel=(3, 3), stride=1, blocks=3,
                                                                   act="relu"), "ptq"))
    assert shared.op_names == apart.op_names
    assert apart.size - shared.size >= 2 * (9 * 8 + 8 * 8)
