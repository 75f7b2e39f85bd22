"""tf_keras model → full-integer int8 .tflite (int8 input and output): post-training
quantisation, or quantisation-aware fine-tuning first (tensorflow-model-optimization); or
a 16x8 .tflite (TFLite's int16-activations / int8-weights mode, int16 input and output).
Magnitude pruning (tfmot) before either sets a share of each layer's weights to zero, which
the model blob then stores in its sparse encoding where that saves flash (autotiny.blob.sparse)."""

from __future__ import annotations

import warnings

import numpy as np

from autotiny.errors import ModelError
from autotiny.tf_env import quiet_stderr, tf

__all__ = ["pruned_model", "qat_model", "quiet_stderr", "size_probe_tflite", "strip_pruning", "to_int16x8_tflite",
           "to_int8_tflite", "zero_smallest"]

# Quantisation-aware fine-tuning after float training: a quarter of the float epochs (at least 2)
# at a tenth of the learning rate, the usual recipe (the int8 model then loses less accuracy).
QAT_EPOCH_SHARE, QAT_MIN_EPOCHS, QAT_LR_SCALE = 0.25, 2, 0.1


# Pruning: fine-tuning after float training, as long as QAT's (the usual prune-then-fine-tune
# recipe); tfmot recomputes each layer's magnitude mask every PRUNE_FREQUENCY steps, counted from 1,
# so a short epoch recomputes it once an epoch instead (with none at all, nothing would be pruned).
PRUNE_FREQUENCY = 20


def pruned_model(model, sparsity: float, loss: str, metric: str, learning_rate: float, steps_per_epoch: int):
    """The trained float model with tfmot's low-magnitude pruning at a constant `sparsity` per
    layer (kernels of Conv2D and Dense; tfmot leaves DepthwiseConv2D dense), compiled for fine-tuning; fit it with
    `pruning_callbacks()`, then `strip_pruning`."""
    import tensorflow_model_optimization as tfmot

    from autotiny.tf_env import tf_keras

    frequency = max(1, min(PRUNE_FREQUENCY, steps_per_epoch))
    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=frequency)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        except Exception as e:  # an unsupported layer: the trial records the message
            raise ModelError(f"magnitude pruning cannot wrap this model: {str(e).splitlines()[0]}") from e
    p.compile(optimizer=tf_keras().optimizers.Adam(learning_rate * QAT_LR_SCALE), loss=loss, metrics=[metric])
    return p


def pruning_callbacks() -> list:
    import tensorflow_model_optimization as tfmot

    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip_pruning(model):
    """The pruned model without its wrappers: plain layers whose kernels hold the zeros."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)


def zero_smallest(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """`weights` with the round(sparsity * n) smallest magnitudes set to zero: what magnitude pruning
    leaves (for size estimates of an untrained model)."""
    k = int(round(sparsity * weights.size))
    if k == 0:
        return weights
    out = weights.copy().reshape(-1)
    out[np.argsort(np.abs(out), kind="stable")[:k]] = 0
    return out.reshape(weights.shape)


def qat_refusal(model) -> str | None:
    """Why quantisation-aware training cannot wrap `model`, known before any training, or None.
    tensorflow-model-optimization wraps each layer once, so a layer called more than once (shared
    weights, e.g. ds_cnn `share`) fails in quantize_model after the float epochs."""
    shared = [layer.name for layer in model.layers if len(getattr(layer, "_inbound_nodes", ())) > 1]
    if shared:
        return (f"int8_qat cannot wrap layers used more than once ({', '.join(shared[:3])}"
                f"{', ...' if len(shared) > 3 else ''}): shared weights need int8_ptq or int16x8")
    return None


def qat_model(model, loss: str, metric: str, learning_rate: float, keep_zeros: bool = False):
    """The float model wrapped with fake-quantisation (tfmot.quantization.keras.quantize_model),
    compiled for fine-tuning; convert it with `to_int8_tflite` afterwards.  `keep_zeros`: a pruned
    model keeps its zero weights through QAT (tfmot's prune-preserving scheme)."""
    import tensorflow_model_optimization as tfmot

    from autotiny.tf_env import tf_keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if keep_zeros:
                annotated = tfmot.quantization.keras.quantize_annotate_model(model)
                q = tfmot.quantization.keras.quantize_apply(
                    annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
            else:
                q = tfmot.quantization.keras.quantize_model(model)
        except Exception as e:  # an unsupported layer: the trial records the message
            raise ModelError(f"quantisation-aware training cannot wrap this model: {str(e).splitlines()[0]}") from e
    q.compile(optimizer=tf_keras().optimizers.Adam(learning_rate * QAT_LR_SCALE), loss=loss, metrics=[metric])
    return q  # quiet_stderr: tf_env's, for older callers


def to_int8_tflite(model, representative: np.ndarray, max_samples: int = 200) -> bytes:
    """Post-training quantization calibrated on `representative` float features."""
    return _convert(model, representative, max_samples, sixteen=False)


def to_int16x8_tflite(model, representative: np.ndarray, max_samples: int = 200) -> bytes:
    """Post-training quantization to 16x8: int16 activations (symmetric, zero point 0), int8
    weights, int64 biases, int16 input and output; calibrated as `to_int8_tflite`."""
    return _convert(model, representative, max_samples, sixteen=True)


def _convert(model, representative: np.ndarray, max_samples: int, sixteen: bool) -> bytes:
    tflite = tf().lite
    samples = representative[:max_samples].astype(np.float32)
    if samples.ndim == len(model.input_shape) - 1:
        samples = samples[..., None]

    def dataset():
        for x in samples:
            yield [x[None, ...]]

    conv = tflite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tflite.Optimize.DEFAULT]
    conv.representative_dataset = dataset
    if sixteen:
        conv.target_spec.supported_ops = [tflite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        io_type, what = tf().int16, "16x8"
    else:
        conv.target_spec.supported_ops = [tflite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type, what = tf().int8, "int8"
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    with quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return conv.convert()
        except Exception as e:  # the converter raises many types; the trial records the message
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{what} conversion failed: {first}") from e


def size_probe_tflite(model, calibration: np.ndarray, seed: int = 0, quantization: str = "int8_ptq",
                      sparsity: float = 0.0) -> bytes:
    """int8 (or, for `quantization` int16x8, 16x8) model with the final sizes, from an untrained model.

    Fresh weights hold many identical tensors (BatchNorm's ones and zeros) that the converter
    stores once; perturbing them briefly keeps the size estimate equal to a trained model's.
    With `sparsity`, each kernel loses its smallest weights as magnitude pruning would.
    """
    weights = model.get_weights()
    rng = np.random.default_rng(seed)
    probe = [w + np.abs(rng.normal(0, 0.01, w.shape)).astype(w.dtype) for w in weights]
    # get_weights() keeps model.weights' order; tfmot prunes Conv2D and Dense kernels, not depthwise ones
    kernels = [v.name.rsplit("/", 1)[-1].startswith("kernel") for v in model.weights]
    model.set_weights([zero_smallest(w, sparsity) if k else w for w, k in zip(probe, kernels)])
    try:
        return (to_int16x8_tflite if quantization == "int16x8" else to_int8_tflite)(model, calibration)
    finally:
        model.set_weights(weights)
