"""Bearing fault classification on the CWRU vibration data: healthy / inner race / ball / outer
race from one window of the drive-end accelerometer at 12 kHz.

Owns what the vibration tasks share (`VibrationTask`: the dataset `autotiny.data.cwru` built
from cfg.data, a window cut to the front-end's `window` length and turned into features by a
vibration front-end through the on-disk cache) and, for this task, a softmax classifier scored
by int8 accuracy.  The split keeps every fault size on one side (autotiny.data.cwru), so the
accuracy says how a model does on a fault size it never saw.  No field-noise model.
Must not know the board, budget, measurement or how trials run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from autotiny.errors import ConfigError
from autotiny.tasks.base import Task

if TYPE_CHECKING:
    import numpy as np

    from autotiny.config import RunConfig
    from autotiny.config import Task as TaskSettings
    from autotiny.data.cwru import CwruBearing
    from autotiny.space import CandidateSpec

VIBRATION_FRONTENDS = ("fft_bands", "log_spectrum", "time_stats")


class _Windows:
    """The dataset seen at one window length: what autotiny.data.cache reads (load, fingerprint)."""

    def __init__(self, dataset: CwruBearing, window: int):
        self.dataset, self.window = dataset, window

    def load(self, split: str):
        return self.dataset.windows(split, self.window)

    def fingerprint(self, split: str) -> dict:
        return self.dataset.fingerprint(split)


class VibrationTask(Task):
    """CWRU bearing windows through a vibration front-end; subclasses set the labeling and model."""

    datasets = ("cwru",)
    labeling: str  # autotiny.data.cwru labeling: fault or anomaly
    class_names: tuple[str, ...]  # what task.classes must say, in this order (the labels' order)

    def __init__(self, settings: TaskSettings):
        if settings.dataset not in self.datasets:
            raise ConfigError(f"task.dataset={settings.dataset}: the {self.kind} task reads "
                              f"{', '.join(self.datasets)}")
        if tuple(settings.classes) != self.class_names:
            raise ConfigError(f"task.classes={list(settings.classes)}: the {self.kind} task's labels are "
                              f"{list(self.class_names)}, in that order")
        super().__init__(settings)

    def data_root(self, cfg: RunConfig) -> Path:
        from autotiny.data.cwru import cwru_root

        return cwru_root(cfg.data.root)

    def dataset(self, cfg: RunConfig, root: Path | None = None) -> CwruBearing:
        from autotiny.data.cwru import CwruBearing

        return CwruBearing(self.data_root(cfg) if root is None else root, self.labeling,
                           per_class=cfg.data.max_per_class)

    def _frontend(self, spec: CandidateSpec):
        from autotiny.frontends import get_frontend

        if spec.frontend not in VIBRATION_FRONTENDS:
            raise ConfigError(f"frontend.type={spec.frontend}: the {self.kind} task reads vibration windows; "
                              f"use one of {', '.join(VIBRATION_FRONTENDS)}")
        return get_frontend(spec.frontend)

    def input_shape(self, spec: CandidateSpec) -> tuple[int, ...]:
        """[features, 1]: a series of one sensor axis (bands, bins or frames along the first axis),
        the layout the time-series families (cnn1d) read; mlp and autoencoders flatten it."""
        return (*self._frontend(spec).output_shape(spec.frontend_params), 1)

    def features(self, dataset: CwruBearing, spec: CandidateSpec, split: str,
                 cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
        from autotiny.data.cache import cached_features

        self._frontend(spec)
        x, y = cached_features(_Windows(dataset, spec.frontend_params.window), split, spec.frontend,
                               spec.frontend_params, cache_dir)
        return x[..., None], y

    def describe_frontend(self, spec: CandidateSpec) -> str:
        import dataclasses

        return " ".join([spec.frontend] + [f"{k}={v}" for k, v in dataclasses.asdict(spec.frontend_params).items()])


class FaultClassification(VibrationTask):
    kind = "fault"
    loss = "sparse_categorical_crossentropy"
    metric = "accuracy"
    labeling = "fault"
    class_names = ("healthy", "inner_race", "ball", "outer_race")

    def input_shape(self, spec: CandidateSpec) -> tuple[int, ...]:
        from autotiny.tasks.anomaly import AUTOENCODERS

        if spec.family in AUTOENCODERS:
            raise ConfigError(f"model.family={spec.family}: an autoencoder reconstructs its input; the fault "
                              "task needs a classifier (e.g. mlp)")
        return super().input_shape(spec)

