"""Score an int8 model on features: accuracy, confusion matrix and class probabilities of the
quantized model itself (the probabilities feed the cost-weighted decision rule, autotiny.decisions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Scores:
    accuracy: float
    n: int
    confusion: np.ndarray  # [true, predicted] counts (argmax decisions)
    probs: np.ndarray | None = None  # [N, classes] dequantized model outputs
    labels: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # the task's figures beside accuracy (auc)

    def figures(self) -> dict[str, float]:
        """accuracy and the task's other figures, by the name the trial record stores them under."""
        return {"accuracy": self.accuracy, **self.metrics}

    def per_class_recall(self) -> np.ndarray:
        totals = self.confusion.sum(axis=1)
        return np.divide(np.diag(self.confusion), totals, out=np.zeros(len(totals)), where=totals > 0)


def quantize_input(features: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Features quantised to the model's input type (int8, or int16 for a 16x8 model)."""
    info = np.iinfo(dtype)
    q = np.round(features / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def predict_int8(model: bytes, features: np.ndarray, batch: int = 256) -> np.ndarray:
    """Output scores [N, classes] from LiteRT, input quantized with the model's own parameters,
    the int8 outputs dequantized with the model's output parameters (the order is the int8 order)."""
    from ai_edge_litert.interpreter import Interpreter

    from autotiny.compress import quiet_stderr

    with quiet_stderr():  # LiteRT announces its XNNPACK delegate on fd 2 when it first allocates
        interp = Interpreter(model_content=model)
        interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    scale, zp = inp["quantization"]
    x = quantize_input(features.reshape((len(features), *inp["shape"][1:])), scale, zp, inp["dtype"])
    out = interp.get_output_details()[0]
    out_index, (out_scale, out_zp) = out["index"], out["quantization"]
    outputs = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        interp.resize_tensor_input(inp["index"], [len(chunk), *inp["shape"][1:]])
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], chunk)
        interp.invoke()
        outputs.append(interp.get_tensor(out_index).copy())
    q = np.concatenate(outputs) if outputs else np.zeros((0, 0), np.int8)
    return ((q.astype(np.float32) - out_zp) * (out_scale or 1.0)).astype(np.float32)


def score(model: bytes, features: np.ndarray, labels: np.ndarray, n_classes: int) -> Scores:
    probs = predict_int8(model, features)
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return Scores(accuracy=float((predicted == labels).mean()) if len(labels) else 0.0,
                  n=len(labels), confusion=confusion, probs=probs, labels=np.asarray(labels))


def confusion_png(scores: Scores, classes: list[str], path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(scores.confusion, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), v in np.ndenumerate(scores.confusion):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > scores.confusion.max() / 2 else "black")
    ax.set_title(title or f"int8 accuracy {scores.accuracy:.3f} (n={scores.n})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
