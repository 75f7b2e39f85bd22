"""One candidate's journey: build → budget pre-check → train → int8 → measure → score.

Knows nothing about Optuna or MLflow: `autotiny.trial.run_candidate` drives it (in the trial worker),
and `autotiny.results` records what it produced. Knows no
task either: the dataset, feature shapes and features, the number of outputs, the loss and the
score come from the task the config names (`autotiny.tasks.get_task(cfg.task)`).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotiny import stages
from autotiny.config import RunConfig
from autotiny.errors import AutotinyError
from autotiny.evaluate import Scores
from autotiny.measure import BudgetCheck, Measurement
from autotiny.space import CandidateSpec
from autotiny.tasks import Task, get_task


class TrainingError(AutotinyError):
    """Training diverged (NaN/inf loss) or could not run."""


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


@dataclass
class PreCheck:
    """The untrained candidate, measured: sizes do not depend on weight values."""

    input_shape: tuple[int, ...]
    measurement: Measurement
    check: BudgetCheck
    model: object  # tf_keras model, reused for training when feasible


@dataclass
class Trained:
    tflite: bytes
    measurement: Measurement
    check: BudgetCheck
    val: Scores
    test: Scores
    epochs_run: int
    final_loss: float
    decision: dict  # the cost-weighted decision rule tuned on validation data (autotiny.decisions)
    decision_metrics: dict[str, float]  # val_/test_ cost per 1,000, decision accuracy, macro-F1, per class
    noisy: dict[float, tuple[Scores, Scores]]  # SNR (dB) -> (val, test) with the splits' own noise
    field_snr_db: float | None  # where selection and decisions look (None: clean)
    operating: Scores  # the test split decided by the tuned rule at the field SNR (its confusion matrix)

    @property
    def field(self) -> tuple[Scores, Scores]:
        return self.noisy.get(self.field_snr_db, (self.val, self.test))

    def accuracy_metrics(self) -> dict[str, float]:
        """Clean, per-SNR and field accuracy (and the task's other figures, e.g. auc) of both splits,
        named as the trial record stores them: val_accuracy, test_auc_10db, val_auc_field, ..."""
        from autotiny.noise import snr_name

        out: dict[str, float] = {}
        for suffix, (v, t) in [("", (self.val, self.test)),
                               *((f"_{snr_name(snr)}", vt) for snr, vt in self.noisy.items()),
                               ("_field", self.field)]:
            for name, value in v.figures().items():
                out[f"val_{name}{suffix}"], out[f"test_{name}{suffix}"] = value, t.figures()[name]
        return out


class TaskData:
    """The task's dataset (built from cfg.data unless given) and its features per split."""

    def __init__(self, cfg: RunConfig, dataset=None):
        self.task: Task = get_task(cfg.task)
        self.dataset = self.task.dataset(cfg) if dataset is None else dataset
        self.cache_dir = cfg.data.cache_dir
        self.classes = list(self.task.classes)


    def features(self, spec: CandidateSpec, split: str) -> tuple[np.ndarray, np.ndarray]:
        return self.task.features(self.dataset, spec, split, self.cache_dir)

    def noisy_features(self, spec: CandidateSpec, split: str, snr_db: float):
        return self.task.noisy_features(self.dataset, spec, split, snr_db, self.cache_dir)

    def augmented_train_features(self, spec: CandidateSpec, rng: np.random.Generator) -> np.ndarray | None:
        """One epoch's training features with fresh noise (None: the task does not augment)."""
        return self.task.augmented_features(self.dataset, spec, rng)


def precheck(spec: CandidateSpec, cfg: RunConfig, timings: Timings, seed: int = 0) -> PreCheck:
    """Measure the untrained model (its shape model: the converter's layout with random weights,
    or, for a layer autotiny.probe does not know, a conversion): milliseconds to seconds."""
    from autotiny.compress import qat_refusal, size_probe_tflite
    from autotiny.errors import ModelError
    from autotiny.measure.backend import check_budget, measure
    from autotiny.models import FAMILIES
    from autotiny.probe import shape_model

    task = get_task(cfg.task)
    shape = tuple(task.input_shape(spec))
    stages.enter("build")
    with timings.stage("build"):
        model = FAMILIES[spec.family].build(shape, task.n_outputs, spec.model_params, seed=seed)
    if spec.quantization == "int8_qat" and (why := qat_refusal(model)):
        raise ModelError(why)  # a failed trial in seconds, not after the float epochs
    stages.enter("precheck")
    with timings.stage("precheck"):
        tflite = shape_model(model, seed, spec.quantization, spec.sparsity)  # milliseconds; the converter's layout
        if tflite is None:  # a layer the shape writer does not know: convert (seconds)
            calibration = np.random.default_rng(seed).normal(0.0, 10.0, size=(8, *shape)).astype(np.float32)
            tflite = size_probe_tflite(model, calibration, seed, spec.quantization, spec.sparsity)
        stages.enter("emulate")
        m = measure(tflite, cfg, seed=seed, spec=spec)  # + the front-end on the device, where it runs there
    return PreCheck(shape, m, check_budget(m, cfg.budget, cfg.board), model)


class _NanGuard:
    """Stop at the first non-finite loss or weight: a diverged candidate is a failed trial, not a 10 % one."""

    def __init__(self):
        self.bad_epoch: int | None = None
        self.loss: float | None = None

    def callback(self):
        from autotiny.tf_env import tf_keras

        guard = self

        class Guard(tf_keras().callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                loss = (logs or {}).get("loss")
                # Keras clips probabilities, so a diverged model can still report a finite loss:
                # check the weights too (cheap for models that fit a microcontroller).
                if (loss is not None and not math.isfinite(loss)) or not all(
                        np.isfinite(w).all() for w in self.model.get_weights()):
                    guard.bad_epoch, guard.loss = epoch + 1, loss
                    self.model.stop_training = True

        return Guard()


def train_and_measure(pre: PreCheck, spec: CandidateSpec, cfg: RunConfig, data: TaskData,
                      timings: Timings, verbose: int = 0, seed: int = 0) -> Trained:
    from autotiny.compress import to_int8_tflite, to_int16x8_tflite
    from autotiny.measure.backend import check_budget, measure
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    task = get_task(cfg.task)
    stages.enter("data")
    with timings.stage("data"):
        x_train, y_train = data.features(spec, "train")
        x_val, y_val = data.features(spec, "val")
        x_test, y_test = data.features(spec, "test")
        y_fit = task.fit_targets(x_train, y_train)  # labels, or the features themselves (autoencoders)
    if len(x_train) == 0 or len(x_val) == 0:
        raise TrainingError(f"empty split: train={len(x_train)} val={len(x_val)} clips; use more data "
                            "(data.max_per_class) or other data.val_pct/test_pct")
    model = pre.model
    guard = _NanGuard()
    stages.enter("train")
    with timings.stage("train"):
        # Cosine decay: short budgets of epochs converge better than with a constant rate.
        steps = spec.training.epochs * -(-len(x_train) // spec.training.batch_size)
        lr = keras.optimizers.schedules.CosineDecay(spec.training.learning_rate, steps, alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(lr),
                      loss=task.loss, metrics=[task.metric])
        if cfg.search.first_fidelity > 0 and stages.judging():
            with timings.stage("first_fidelity"):
                value = _first_fidelity(keras, model, spec, cfg, data, x_train, y_fit, x_val, y_val, seed)
            if stages.epoch_end(0, value):  # epoch 0: the first-fidelity run (autotiny.pruning.Judge)
                from autotiny.pruning import Pruned

                raise Pruned(0, value, f"first fidelity: validation accuracy {value:.3f}")
        rng = np.random.default_rng([seed, 1])
        stopped = []  # (epoch, value) when the search said stop between epochs (search.pruner)
        judge = ([_epoch_judge(keras, spec, cfg, data, x_val, y_val, stopped.append)]
                 if stages.judging() and cfg.search.pruner != "none" else [])
        losses = _fit(model, spec.training.epochs, spec, data, x_train, y_fit, guard, rng, verbose, judge)
        if stopped and guard.bad_epoch is None:
            from autotiny.pruning import Pruned

            raise Pruned(*stopped[0], f"stopped after epoch {stopped[0][0]} of {spec.training.epochs}")
        from autotiny.compress import QAT_EPOCH_SHARE, QAT_MIN_EPOCHS

        fine_tune_epochs = max(QAT_MIN_EPOCHS, round(spec.training.epochs * QAT_EPOCH_SHARE))
        if spec.sparsity > 0 and guard.bad_epoch is None:
            from autotiny.compress import pruned_model, pruning_callbacks, strip_pruning

            pruned = pruned_model(model, spec.sparsity, task.loss, task.metric, spec.training.learning_rate,
                                  steps_per_epoch=-(-len(x_train) // spec.training.batch_size))
            losses += _fit(pruned, fine_tune_epochs, spec, data, x_train, y_fit, guard, rng, verbose,
                           pruning_callbacks())
            model = strip_pruning(pruned)
        if spec.quantization == "int8_qat" and guard.bad_epoch is None:
            from autotiny.compress import qat_model

            model = qat_model(model, task.loss, task.metric, spec.training.learning_rate, keep_zeros=spec.sparsity > 0)
            losses += _fit(model, fine_tune_epochs, spec, data, x_train, y_fit, guard, rng, verbose)
    if guard.bad_epoch is not None:
        raise TrainingError(f"training diverged at epoch {guard.bad_epoch} (loss {guard.loss}, non-finite "
                            f"weights or loss; learning_rate={spec.training.learning_rate:g})")
    stages.enter("convert")
    with timings.stage("convert"):
        convert = to_int16x8_tflite if spec.quantization == "int16x8" else to_int8_tflite
        tflite = convert(model, x_train[np.random.default_rng(0).permutation(len(x_train))])
    stages.enter("emulate")
    with timings.stage("measure"):
        m = measure(tflite, cfg, spec=spec)
    stages.enter("evaluate")
    with timings.stage("evaluate"):
        score = task.scorer(tflite, x_train)
        val = score(x_val, y_val)
        test = score(x_test, y_test) if len(x_test) else val
        noisy = _score_noisy(score, spec, cfg, data)
        field_snr = cfg.task.noise.field_snr_db if noisy else None
        decision, figures, operating = decide(*noisy.get(field_snr, (val, test)), cfg, clips=val.n)
    return Trained(tflite, m, check_budget(m, cfg.budget, cfg.board), val, test,
                   epochs_run=len(losses), final_loss=float(losses[-1]), decision=decision,
                   decision_metrics=figures, noisy=noisy, field_snr_db=field_snr, operating=operating)


def _judged_val(spec: CandidateSpec, cfg: RunConfig, data: TaskData, x_val, y_val):
    """What the search judges training by: validation data at the field SNR where the task has noise
    (what selection looks at), else clean."""
    snr = cfg.task.noise.field_snr_db if cfg.task.noise.eval_snr_db else None
    noisy = data.noisy_features(spec, "val", snr) if snr is not None else None
    return noisy if noisy is not None else (x_val, y_val)


def _epoch_judge(keras, spec: CandidateSpec, cfg: RunConfig, data: TaskData, x_val, y_val, on_stop):
    """The per-epoch question to the search (autotiny.pruning)."""
    from autotiny.pruning import epoch_callback

    return epoch_callback(keras, *_judged_val(spec, cfg, data, x_val, y_val), on_stop)


def _first_fidelity(keras, model, spec: CandidateSpec, cfg: RunConfig, data: TaskData, x_train, y_fit,
                    x_val, y_val, seed: int) -> float:
    """Train a copy of the untrained model (same initial weights) for `first_fidelity_epochs` on a random
    `first_fidelity` share of the clean training data; its validation metric. The copy is thrown away,
    so a trial that goes on trains exactly as without this run."""
    s, task = cfg.search, get_task(cfg.task)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.compile(optimizer=keras.optimizers.Adam(spec.training.learning_rate), loss=task.loss, metrics=[task.metric])
    n = min(len(x_train), max(spec.training.batch_size, round(s.first_fidelity * len(x_train))))
    pick = np.random.default_rng([seed, 2]).choice(len(x_train), n, replace=False)
    copy.fit(x_train[pick][..., None], y_fit[pick], batch_size=spec.training.batch_size,
             epochs=s.first_fidelity_epochs, shuffle=True, verbose=0)
    xv, yv = _judged_val(spec, cfg, data, x_val, y_val)
    scores = copy.evaluate(xv[..., None], yv, verbose=0, batch_size=256, return_dict=True)
    return float(next(v for k, v in scores.items() if k != "loss"))


def _fit(model, epochs: int, spec: CandidateSpec, data: TaskData, x_train: np.ndarray, y_train: np.ndarray,
         guard: _NanGuard, rng: np.random.Generator, verbose: int, extra: list = ()) -> list[float]:
    """Train; with augmentation, each epoch on freshly noised examples (one fit call per epoch, so
    the optimiser and the learning-rate schedule carry on across epochs). `extra`: more callbacks."""
    t = spec.training
    x_epoch = data.augmented_train_features(spec, rng)
    if x_epoch is None:
        hist = model.fit(x_train[..., None], y_train, batch_size=t.batch_size, epochs=epochs, shuffle=True,
                         verbose=verbose, callbacks=[guard.callback(), *extra])
        return hist.history.get("loss", [float("nan")])
    losses: list[float] = []
    for epoch in range(epochs):
        if epoch:
            x_epoch = data.augmented_train_features(spec, rng)
        hist = model.fit(x_epoch[..., None], y_train, batch_size=t.batch_size, initial_epoch=epoch, epochs=epoch + 1,
                         shuffle=True, verbose=verbose, callbacks=[guard.callback(), *extra])
        losses += hist.history.get("loss", [float("nan")])
        if guard.bad_epoch is not None or (extra and model.stop_training):
            break
    return losses or [float("nan")]


def _score_noisy(score, spec: CandidateSpec, cfg: RunConfig, data: TaskData) -> dict[float, tuple[Scores, Scores]]:
    """(val, test) scores at each of the task's evaluation SNRs; {} when the task has no noise."""
    out: dict[float, tuple[Scores, Scores]] = {}
    for snr in cfg.task.noise.eval_snr_db:
        val = data.noisy_features(spec, "val", snr)
        if val is None:
            return {}
        test = data.noisy_features(spec, "test", snr)
        scored_val = score(*val)
        out[snr] = (scored_val, score(*test) if len(test[0]) else scored_val)
    return out


def decide(val: Scores, test: Scores, cfg: RunConfig, clips: int | None = None) -> tuple[dict, dict[str, float], Scores]:
    """Tune the decision rule on validation data under the task's costs; judge it on both splits.
    `clips`: how many validation clips the rows come from (noisy rows are the clips' draws, one after
    the other), so cross-validation keeps a clip's draws together. Also returns the test split's
    decisions as Scores: the confusion at the operating point."""
    from autotiny.decisions import cost_matrix, decision_metrics, tune

    classes = list(cfg.task.classes)
    cost = cost_matrix(cfg.task.costs, classes)
    rows = len(val.labels)
    rule = tune(val.probs, val.labels, cost, groups=np.arange(rows) % clips if clips else None)
    figures = decision_metrics(val.labels, rule.decide(val.probs), cost, classes, "val")
    decided = rule.decide(test.probs)
    figures.update(decision_metrics(test.labels, decided, cost, classes, "test"))
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (test.labels, decided), 1)
    operating = Scores(accuracy=figures["test_decision_accuracy"], n=len(decided), confusion=confusion)
    return rule.to_dict(classes), figures, operating


def write_c_header(model: bytes, path: Path, symbol: str = "autotiny_model") -> None:
    path.write_text(c_header(model, symbol))


def c_header(model: bytes, symbol: str = "autotiny_model") -> str:
    """The model as a C byte array, aligned for word loads, for linking into firmware."""
    lines = [f"/* Generated by autotiny: int8 TFLite model, {len(model)} bytes. */",
             "#include <stdint.h>", "",
             f"const unsigned int {symbol}_len = {len(model)}u;",
             f"__attribute__((aligned(16))) const uint8_t {symbol}[] = {{"]
    for i in range(0, len(model), 16):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in model[i:i + 16]) + ",")
    lines.append("};")
    return "\n".join(lines) + "\n"
