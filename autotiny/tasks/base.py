"""The task interface: what a search needs to know about one kind of problem, and nothing more.

A task owns its data (where it lies, how it is built and split, which files it reads), how a
candidate's front-end turns that data into features and of which shape, how many outputs the
model has, the training loss and metric, what the model is fitted to (labels, or the features
for an autoencoder), how a trained int8 model is scored, and how a candidate is described on the
console.

It must not know the board, the budget, measurement backends, Optuna, MLflow or how trials
are run: the pipeline hands it a `CandidateSpec` and asks for shapes and features; the search,
the pre-flight checks and the trial records only call the methods below. Implementations are
registered by kind in `autotiny.tasks.TASKS` and chosen by the config's `task.kind`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np

    from autotiny.config import RunConfig
    from autotiny.config import Task as TaskSettings
    from autotiny.evaluate import Scores
    from autotiny.space import CandidateSpec


class Dataset(Protocol):
    """What the rest of autotiny reads from a task's dataset object (the task reads the rest)."""

    root: Path  # named in messages about its files

    def files(self) -> list[Path]: ...  # pragma: no cover  (every file it reads, for the pre-flight check)


class Task:
    """One kind of problem. Subclasses set the class attributes and implement the methods that
    raise NotImplementedError; `settings` is the validated `task:` config group."""

    kind: ClassVar[str]  # the registry key (autotiny.tasks.TASKS), chosen by config task.kind
    loss: ClassVar[str]  # the Keras loss the model is trained with
    metric: ClassVar[str]  # the Keras metric shown while training

    def __init__(self, settings: TaskSettings):
        self.settings = settings
        self.classes: list[str] = list(settings.classes)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def n_outputs(self) -> int:
        """Width of the model's output layer."""
        return len(self.classes)

    # ---- data ----------------------------------------------------------------------------------
    def data_root(self, cfg: RunConfig) -> Path:
        """Where the data is (cfg.data.root, else a default location, else a download)."""
        raise NotImplementedError

    def dataset(self, cfg: RunConfig, root: Path | None = None) -> Dataset:
        """The dataset under `root` (default: `data_root(cfg)`) with cfg.data's split settings.
        Raises DataError or ConfigError (one line) when it cannot be built."""
        raise NotImplementedError

    def data_files(self, dataset: Dataset) -> list[Path]:
        """Every file a run will read, for the pre-flight check (autotiny.preflight decides how to
        check a file from its suffix: .wav files get a header check)."""
        return dataset.files()

    # ---- features and model shape --------------------------------------------------------------
    def input_shape(self, spec: CandidateSpec) -> tuple[int, ...]:
        """Shape of one example's features for this candidate (without batch or channel axis)."""
        raise NotImplementedError

    def features(self, dataset: Dataset, spec: CandidateSpec, split: str,
                 cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """(features float32 [N, *input_shape(spec)], labels [N]) of `split` (train, val or test)."""
        raise NotImplementedError

    def raw_shape(self, cfg: RunConfig) -> tuple[int, ...] | None:
        """Shape of one raw example as the device receives it, before the front-end, where neither
        the front-end's parameters nor the model's input say it (a picture's source height and
        width); the device front-end's cost depends on it (autotiny.frontends.device.with_frontend).
        None: the parameters and the model say all (audio clips, sensor windows)."""
        return None

    # ---- field noise: tasks whose data has background recordings override these ---------------
    def noisy_features(self, dataset: Dataset, spec: CandidateSpec, split: str, snr_db: float,
                       cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
        """`features` with the split's own background noise at `snr_db`; None: no noise model."""
        return None

    def augmented_features(self, dataset: Dataset, spec: CandidateSpec,
                           rng: np.random.Generator) -> np.ndarray | None:
        """Features of one epoch's training examples, in `features(…, "train")` order, with fresh
        noise per example; None: no augmentation."""
        return None

    def training_noise(self, dataset: Dataset) -> str | None:
        """One line for the search's start: the SNRs the augmentation trains at, and whether they
        cover the field SNR; None: no augmentation."""
        return None

    # ---- training targets ---------------------------------------------------------------------
    def fit_targets(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """What the model is fitted to on the training split: the labels for a classifier (an
        autoencoder overrides this with the features themselves)."""
        return labels

    # ---- scoring ------------------------------------------------------------------------------
    def score(self, model: bytes, features: np.ndarray, labels: np.ndarray) -> Scores:
        """The int8 .tflite `model` scored on one split; by default as a classifier (one output per
        class, labels are class indices). A task whose model is no classifier overrides this."""
        from autotiny.evaluate import score

        return score(model, features, labels, self.n_outputs)

    def scorer(self, model: bytes, train_features: np.ndarray) -> Callable[[np.ndarray, np.ndarray], Scores]:
        """How the trained int8 `model` is scored on each split: a function of (features, labels).
        A one-class task calibrates its anomaly score on the training features here; a classifier
        needs nothing beyond `score`. Scores.metrics carries figures beside accuracy (auc)."""
        return lambda features, labels: self.score(model, features, labels)

    # ---- console ----------------------------------------------------------------------------
    def describe(self, spec: CandidateSpec) -> str:
        """One short line for the console: architecture | front-end | training."""
        t = spec.training
        return (f"{self.describe_model(spec)} | {self.describe_frontend(spec)} | "
                f"ep{t.epochs} lr{t.learning_rate:.2g} bs{t.batch_size}")

    def describe_model(self, spec: CandidateSpec) -> str:
        """The family and its sampled parameters (dropout is training, not architecture)."""
        import dataclasses

        params = dataclasses.asdict(spec.model_params) if dataclasses.is_dataclass(spec.model_params) else {}
        return " ".join([spec.family] + [f"{k}={v}" for k, v in params.items() if k != "dropout"])

    def describe_frontend(self, spec: CandidateSpec) -> str:
        return spec.frontend

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.n_outputs} outputs)"


__all__ = ["Dataset", "Task"]
