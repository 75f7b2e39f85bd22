"""Bearing anomaly detection on the CWRU vibration data: a one-class model trained on healthy
windows only (an autoencoder, `autotiny.models.autoencoder`), the anomaly score its int8
reconstruction error, judged by the area under the ROC curve (healthy vs any fault) on
validation and test splits that hold healthy time blocks and fault recordings of sizes the
other splits do not have (autotiny.data.cwru).

The score becomes two-class probabilities so the cost-weighted decision rule of
`autotiny.decisions` tunes the alarm threshold on validation data under task.costs exactly as it
does for classifiers: p(fault) = 1 / (1 + (ref / error)^SHARPNESS), with `ref` the 99th
percentile of the training windows' errors (so argmax alarms above what 1 % of healthy training
windows reach; the tuned rule moves the threshold in steps of 2^(1/8) around it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from autotiny.errors import ConfigError
from autotiny.tasks.fault import VibrationTask

if TYPE_CHECKING:
    import numpy as np

    from autotiny.evaluate import Scores
    from autotiny.space import CandidateSpec

AUTOENCODERS = ("fc_autoencoder", "conv_autoencoder")
REFERENCE_QUANTILE = 0.99  # of the training windows' errors: where p(fault) = 0.5
SHARPNESS = 4.0  # odds = (error / ref)^4: the decision rule's 2^(1/2) weight steps are 2^(1/8) in error
CALIBRATION_WINDOWS = 400  # training windows the reference error is taken from


def reconstruction_errors(model: bytes, features: np.ndarray) -> np.ndarray:
    """Mean squared error per window between the int8 model's dequantised output and its input."""
    import numpy as np

    from autotiny.evaluate import predict_int8

    flat = features.reshape(len(features), -1).astype(np.float32)
    out = predict_int8(model, features).reshape(len(features), -1)
    return ((out - flat) ** 2).mean(axis=1)


def scores_from_errors(errors: np.ndarray, labels: np.ndarray, ref: float) -> Scores:
    """Scores of one split: AUC of the errors, and two-class probabilities for the decision rule."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from autotiny.evaluate import Scores

    labels = np.asarray(labels, dtype=np.int64)
    with np.errstate(divide="ignore", over="ignore"):
        p = 1.0 / (1.0 + (max(ref, 1e-30) / errors) ** SHARPNESS)
    probs = np.stack([1.0 - p, p], axis=1).astype(np.float32)
    predicted = (p > 0.5).astype(np.int64)
    confusion = np.zeros((2, 2), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    auc = float(roc_auc_score(labels, errors)) if len(set(labels.tolist())) == 2 else float("nan")
    return Scores(accuracy=float((predicted == labels).mean()) if len(labels) else 0.0, n=len(labels),
                  confusion=confusion, probs=probs, labels=labels, metrics={"auc": auc})


class AnomalyDetection(VibrationTask):
    kind = "anomaly"
    loss = "mse"
    metric = "mse"
    labeling = "anomaly"
    class_names = ("healthy", "fault")

    def input_shape(self, spec: CandidateSpec) -> tuple[int, ...]:
        if spec.family not in AUTOENCODERS:
            raise ConfigError(f"model.family={spec.family}: the anomaly task trains a one-class model on healthy "
                              f"data; use one of {', '.join(AUTOENCODERS)}")
        return super().input_shape(spec)

    def fit_targets(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return features.reshape(len(features), -1)  # reconstruct the input

    def scorer(self, model: bytes, train_features: np.ndarray) -> Callable[[np.ndarray, np.ndarray], Scores]:
        import numpy as np

        step = max(1, len(train_features) // CALIBRATION_WINDOWS)
        ref = float(np.quantile(reconstruction_errors(model, train_features[::step]), REFERENCE_QUANTILE))
        return lambda features, labels: scores_from_errors(reconstruction_errors(model, features), labels, ref)

    def score(self, model: bytes, features: np.ndarray, labels: np.ndarray) -> Scores:
        """Scored against this split's own healthy windows' reference (the search uses `scorer`,
        which takes the reference from the training split)."""
        import numpy as np

        errors = reconstruction_errors(model, features)
        healthy = errors[np.asarray(labels) == 0]
        return scores_from_errors(errors, labels, float(np.quantile(healthy if len(healthy) else errors,
                                                                    REFERENCE_QUANTILE)))
