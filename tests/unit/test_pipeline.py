"""Candidate pipeline pieces that the end-to-end tests do not reach."""

import numpy as np
import optuna
import pytest

from autotiny.config import compose
from autotiny.pipeline import Timings, TrainingError, precheck, train_and_measure
from autotiny.space import load_space, suggest


class NanData:
    """Infinite features: gradients and then weights turn NaN in the first epoch."""

    classes = list(compose([]).task.classes)

    def features(self, spec, split):
        x = np.full((64, 49, 10), np.inf, np.float32)
        return x, np.arange(64) % 12

    def augmented_train_features(self, spec, rng):
        return None  # clean training: the NaN comes from the features themselves


def _spec(tiny_space):
    return suggest(load_space(str(tiny_space)), optuna.trial.FixedTrial({"model.n_blocks": 1, "model.channels": 8}))


def test_diverged_training_fails_the_trial(tiny_space):
    cfg = compose([])
    spec = _spec(tiny_space)
    pre = precheck(spec, cfg, Timings())
    with pytest.raises(TrainingError, match="training diverged at epoch 1"):
        train_and_measure(pre, spec, cfg, NanData(), Timings())


def test_precheck_sizes_equal_the_trained_model_sizes(tiny_space, fake_speech, tmp_path):
    """Budget-first is only honest if the untrained size probe predicts the final model."""
    from autotiny.pipeline import TaskData

    cfg = compose([f"data.root={fake_speech}", f"data.cache_dir={tmp_path}"])
    spec = _spec(tiny_space)
    timings = Timings()
    pre = precheck(spec, cfg, timings)
    data, epochs = TaskData(cfg), []
    augmented = data.augmented_train_features
    data.augmented_train_features = lambda spec, rng: epochs.append(augmented(spec, rng)) or epochs[-1]
    trained = train_and_measure(pre, spec, cfg, data, timings)
    # field noise: each epoch trained on its own noise draw, scored at every SNR, decided at the field SNR
    assert len(epochs) == spec.training.epochs == 2 and not np.array_equal(epochs[0], epochs[1])
    clean = data.features(spec, "train")[0]
    assert epochs[0].shape == clean.shape and not np.array_equal(epochs[0], clean)
    assert sorted(trained.noisy) == [0.0, 5.0, 10.0, 20.0] and trained.field_snr_db == 10.0
    metrics = trained.accuracy_metrics()
    assert metrics["val_accuracy_field"] == metrics["val_accuracy_10db"] == trained.noisy[10.0][0].accuracy
    assert {"test_accuracy_0db", "test_accuracy_clean"} - set(metrics) == {"test_accuracy_clean"}
    # the confusion matrix a trial keeps is the operating point's: field SNR, cost-tuned decisions
    assert trained.operating.confusion.sum() == trained.noisy[10.0][1].n
    assert trained.operating.accuracy == trained.decision_metrics["test_decision_accuracy"]
    assert trained.measurement.flash_bytes.value == pre.measurement.flash_bytes.value
    assert trained.measurement.ram_bytes.value == pre.measurement.ram_bytes.value
    # the MFCC runs on the device: both measurements carry its cost (autotiny.frontends.device)
    assert pre.measurement.frontend_latency_ms is not None
    assert trained.measurement.frontend == pre.measurement.frontend
    assert {"build", "precheck", "data", "train", "convert", "measure", "evaluate"} <= set(timings.seconds)


def test_quantisation_aware_training_gives_the_precheck_sizes(tiny_space, fake_speech, tmp_path):
    """int8_qat fine-tunes a fake-quantised copy after float training; the device graph is the
    same int8 graph, so budget-first's sizes still hold."""
    import dataclasses

    from autotiny.pipeline import TaskData

    cfg = compose([f"data.root={fake_speech}", f"data.cache_dir={tmp_path}", "task.noise.enabled=false"])
    spec = dataclasses.replace(_spec(tiny_space), quantization="int8_qat")
    timings = Timings()
    pre = precheck(spec, cfg, timings)
    trained = train_and_measure(pre, spec, cfg, TaskData(cfg), timings)
    assert trained.epochs_run == spec.training.epochs + 2  # float epochs, then at least 2 QAT epochs
    assert trained.measurement.flash_bytes.value == pre.measurement.flash_bytes.value
    assert trained.measurement.ram_bytes.value == pre.measurement.ram_bytes.value
    assert 0 <= trained.val.accuracy <= 1


def test_16x8_gives_the_precheck_sizes(tiny_space, fake_speech, tmp_path):
    """int16x8 converts the trained model with int16 activations (autotiny.compress); the pre-check's
    shape model lays out the same 16x8 graph, so budget-first's sizes hold, and it is scored as int8 is."""
    import dataclasses

    from autotiny import blob
    from autotiny.pipeline import TaskData

    cfg = compose([f"data.root={fake_speech}", f"data.cache_dir={tmp_path}", "task.noise.enabled=false"])
    spec = dataclasses.replace(_spec(tiny_space), quantization="int16x8")
    timings = Timings()
    pre = precheck(spec, cfg, timings)
    trained = train_and_measure(pre, spec, cfg, TaskData(cfg), timings)
    assert all(blob.BLOB_OPS[n].int16 or n == "RESHAPE"
               for n in blob.load_blob(blob.from_tflite(trained.tflite).data).op_names)
    assert trained.measurement.flash_bytes.value == pre.measurement.flash_bytes.value
    assert trained.measurement.ram_bytes.value == pre.measurement.ram_bytes.value
    assert 0 <= trained.val.accuracy <= 1


def _filter_zero_shares(tflite: bytes, ops=("CONV_2D", "FULLY_CONNECTED")) -> list[float]:
    from autotiny.tflite_model import read_tflite

    m = read_tflite(tflite)
    return [float(np.mean(m.constant(op.inputs[1]) == 0)) for op in m.ops if op.name in ops]


@pytest.mark.parametrize("quantization,sparsity", [("int8_ptq", 0.5), ("int8_qat", 0.75)])
def test_pruning_leaves_its_share_of_zero_weights_in_every_filter(tiny_space, fake_speech, tmp_path, quantization,
                                                                  sparsity):
    """compression.sparsity: magnitude pruning (tfmot) fine-tunes the trained model; the int8 filters of
    every convolution and fully connected layer keep the zeros through BatchNorm folding, quantisation and
    (prune-preserving) QAT; depthwise filters stay dense (tfmot does not prune them); the pre-check's
    shape model prunes its random weights alike."""
    import dataclasses

    from autotiny.pipeline import TaskData
    from autotiny.probe import shape_model

    cfg = compose([f"data.root={fake_speech}", f"data.cache_dir={tmp_path}", "task.noise.enabled=false"])
    spec = dataclasses.replace(_spec(tiny_space), quantization=quantization, sparsity=sparsity)
    timings = Timings()
    pre = precheck(spec, cfg, timings)
    trained = train_and_measure(pre, spec, cfg, TaskData(cfg), timings)
    fine_tune = 2  # at least 2 epochs each, after the float epochs
    assert trained.epochs_run == spec.training.epochs + fine_tune * (1 + (quantization == "int8_qat"))
    shares = _filter_zero_shares(trained.tflite)
    assert len(shares) >= 2 and min(shares) >= sparsity - 0.02, shares
    assert max(_filter_zero_shares(trained.tflite, ("DEPTHWISE_CONV_2D",))) < 0.2
    probe = shape_model(pre.model, 0, quantization, sparsity)
    assert len(_filter_zero_shares(probe)) == len(shares) and min(_filter_zero_shares(probe)) >= sparsity - 0.01
    assert max(_filter_zero_shares(probe, ("DEPTHWISE_CONV_2D",))) < 0.05
    dense = _filter_zero_shares(shape_model(pre.model, 0, quantization, 0.0))
    assert max(dense) < 0.05  # the zeros come from pruning, not from the writer


def test_a_sparsity_outside_0_to_0_95_is_refused_naming_the_key(tmp_path):
    from autotiny.errors import ConfigError

    for bad in ("1.2", "-0.1", "'half'", "{choices: [0.0, 0.99]}"):
        path = tmp_path / "space.yaml"
        path.write_text(f"frontend: {{type: mfcc}}\nmodel: {{type: ds_cnn}}\ncompression: {{sparsity: {bad}}}\n")
        with pytest.raises(ConfigError, match=r"compression.sparsity: .* valid: a number from 0 \(dense\) to 0.95"):
            load_space(str(path))


def test_modes_the_runtime_cannot_run_yet_are_refused_with_the_reason(tmp_path):
    from autotiny.errors import ConfigError

    for mode, why in (("int8_pruned", "compression.sparsity"),):
        path = tmp_path / f"{mode}.yaml"
        path.write_text(f"frontend: {{type: mfcc}}\nmodel: {{type: ds_cnn}}\ncompression: {{quantization: {mode}}}\n")
        with pytest.raises(ConfigError, match=f"{mode} is not available: .*{why}.*available: int8_ptq, int8_qat, "
                                              "int16x8"):
            load_space(str(path))


def test_a_pruned_candidate_is_measured_with_its_filters_stored_sparse(tiny_space, fake_speech, tmp_path):
    """compression.sparsity > 0: the device blob stores the pruned filters in the sparse encoding (decoded
    by the firmware) where that shrinks flash net of the decoder; the pre-check's pruned shape model
    predicts it (never below: quantisation can only add zeros), and the dense blob of the same model
    would take more flash."""
    import dataclasses

    from autotiny.measure.emulator import measure_emulated
    from autotiny.pipeline import TaskData

    cfg = compose([f"data.root={fake_speech}", f"data.cache_dir={tmp_path}", "task.noise.enabled=false"])
    small = _spec(tiny_space)  # 64 channels: filters of ~7 KB, so the encoding pays for the decoder
    spec = dataclasses.replace(small, model_params=dataclasses.replace(small.model_params, channels=64), sparsity=0.75)
    timings = Timings()
    pre = precheck(spec, cfg, timings)
    trained = train_and_measure(pre, spec, cfg, TaskData(cfg), timings)
    for m in (pre.measurement, trained.measurement):
        assert any(n.startswith("weights: pruned filters stored sparse") for n in m.notes), m.notes
    dense = measure_emulated(trained.tflite, cfg.board, seed=0)
    assert not any(n.startswith("weights:") for n in dense.notes)
    fe = trained.measurement.frontend_flash_bytes
    trained_net = trained.measurement.flash_bytes.value - (fe.value if fe else 0)
    assert dense.flash_bytes.value - trained_net > 4096  # 75 % of ~7 KB of filters, in each of the two slots
    assert 0 <= pre.measurement.flash_bytes.value - trained.measurement.flash_bytes.value < 256
    assert trained.measurement.ram_bytes.value > dense.ram_bytes.value  # the decoded filter needs arena room
