"""The pre-check's shape model (autotiny.probe) equals what the TFLite converter makes of the same
untrained model: the same blob size and arena, the same op sequence and MACs, and (in the
emulator) the same flash and RAM, and cycles within 3 % (timing depends a little on the
quantisation parameters: 0.02–0.08 % on DS-CNNs, 1.5 % on a ResNet with ADD) — so budget-first
rejects the candidates the converter path would (up to that timing spread), in milliseconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest

from autotiny import blob
from autotiny.compress import size_probe_tflite
from autotiny.config import compose
from autotiny.models import FAMILIES
from autotiny.probe import shape_model
from autotiny.space import load_space, suggest
from autotiny.tasks import get_task
from autotiny.tflite_model import read_tflite

N_CANDIDATES = 5  # sampled from the default KWS space (every family); each conversion takes seconds


def _candidates():
    space = load_space("kws")
    sampler = optuna.samplers.RandomSampler(seed=7)
    study = optuna.create_study(sampler=sampler)
    specs = [suggest(space, study.ask()) for _ in range(N_CANDIDATES)]
    # edges the sample may miss: no depthwise block, stride 1 everywhere
    edge = optuna.trial.FixedTrial({"frontend.window_ms": 40, "frontend.n_mels": 32, "frontend.n_mfcc": 13,
                                    "model.family": "ds_cnn", "model.ds_cnn.n_blocks": 1, "model.ds_cnn.channels": 16,
                                    "model.ds_cnn.first_kernel": "[3, 3]", "model.ds_cnn.first_stride": "[1, 1]",
                                    "training.epochs": 12, "training.learning_rate": 0.005, "training.batch_size": 32,
                                    "compression.quantization": "int8_ptq"})
    specs.append(suggest(space, edge))
    common = {"frontend.window_ms": 30, "frontend.n_mels": 40, "frontend.n_mfcc": 10, "training.epochs": 12,
              "training.learning_rate": 0.005, "training.batch_size": 32, "compression.quantization": "int8_ptq"}
    for family, params in (("mobilenet_v1", {"alpha": 0.25, "n_blocks": 7, "first_stride": "[2, 1]"}),
                           ("cnn", {"n_layers": 3, "channels": 16})):
        fixed = {**common, "model.family": family, **{f"model.{family}.{k}": v for k, v in params.items()}}
        specs.append(suggest(space, optuna.trial.FixedTrial(fixed)))
    assert {s.family for s in specs} == {"ds_cnn", "tc_resnet", "resnet", "mobilenet_v1", "cnn"}
    # ds_cnn with skip connections (an ADD after each block), on the edge candidate and on 3 blocks
    edge = specs[N_CANDIDATES]
    specs += [dataclasses.replace(edge, model_params=dataclasses.replace(edge.model_params, skip=True)),
              dataclasses.replace(edge, model_params=dataclasses.replace(edge.model_params, skip=True, n_blocks=3,
                                                                         first_stride=(2, 2)))]
    # 16x8 (int16 activations, int64 biases): a DS-CNN and a ResNet (ADD)
    specs += [dataclasses.replace(s, quantization="int16x8") for s in (specs[N_CANDIDATES],)]
    specs += [dataclasses.replace(s, quantization="int16x8") for s in specs[:N_CANDIDATES] if s.family == "resnet"][:1]
    return specs


@pytest.fixture(scope="module")
def pairs():
    task = get_task(compose([]).task)
    out = []
    for spec in _candidates():
        shape = tuple(task.input_shape(spec))
        model = FAMILIES[spec.family].build(shape, task.n_outputs, spec.model_params, seed=0)
        # the converter's post-training layout (a QAT layout needs training: tests/unit/test_pipeline.py)
        q = "int16x8" if spec.quantization == "int16x8" else "int8_ptq"
        converted = size_probe_tflite(model, np.random.default_rng(0).normal(0, 10, (8, *shape)).astype(np.float32),
                                      quantization=q)
        out.append((spec, converted, shape_model(model, quantization=q)))
    return out


def test_shape_model_blob_equals_the_converted_one(pairs):
    for spec, converted, fast in pairs:
        assert fast is not None, spec
        a, b = blob.from_tflite(converted), blob.from_tflite(fast)
        assert (b.size, b.arena_size) == (a.size, a.arena_size), spec.model_params
        assert b.op_names == a.op_names
        assert read_tflite(fast).macs() == read_tflite(converted).macs() > 0


@pytest.mark.needs_arm_gcc
def test_shape_model_measures_like_the_converted_one(pairs):
    from autotiny.measure.emulator import measure_emulated

    board = compose([]).board
    for spec, converted, fast in pairs:
        a, b = measure_emulated(converted, board), measure_emulated(fast, board)
        assert a.status == b.status == "ok"
        assert b.flash_bytes.value == a.flash_bytes.value and b.ram_bytes.value == a.ram_bytes.value
        assert b.latency_ms.value == pytest.approx(a.latency_ms.value, rel=0.03), spec.model_params


def test_an_unknown_layer_falls_back_to_the_converter():
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    inp = keras.Input((16, 4))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.LSTM(4)(inp))
    assert shape_model(keras.Model(inp, out)) is None
