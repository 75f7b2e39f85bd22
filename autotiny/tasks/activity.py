"""Activity classification from multi-axis sensor windows (IMU): WATCH (inside the seglearn wheel,
10 subjects, 7 shoulder exercises, 6 axes at 50 Hz) or a user's folder of .csv/.npy recordings
(task.dataset=folder, README 'Bring your own data').

Owns the datasets (`autotiny.data.imu`: split by subject, windows cut per candidate), features from
an IMU front-end (`autotiny.frontends.imu`: raw window, per-axis statistics, band powers) through the
on-disk cache, a softmax classifier scored by int8 accuracy.  The feature shape is the front-end's
rows × task.channels.  No field noise.  Must not know the board, budget, measurement or how trials run.
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
    from autotiny.data.imu import Recordings
    from autotiny.space import CandidateSpec

SUFFIXES = (".csv", ".npy")


class ActivityClassification(Task):
    kind = "activity"
    loss = "sparse_categorical_crossentropy"
    metric = "accuracy"
    datasets = ("watch", "folder")

    def __init__(self, settings: TaskSettings):
        if settings.dataset not in self.datasets:
            raise ConfigError(f"task.dataset={settings.dataset}: the {self.kind} task reads "
                              f"{', '.join(self.datasets)}")
        if settings.noise.enabled:
            raise ConfigError(f"task.noise.enabled=true: the {self.kind} task has no noise model; set it to false")
        if settings.dataset == "watch":
            from autotiny.data.imu import WATCH_CHANNELS, WATCH_CLASSES

            if settings.channels not in (None, len(WATCH_CHANNELS)):
                raise ConfigError(f"task.channels={settings.channels}: WATCH has {len(WATCH_CHANNELS)} "
                                  f"({', '.join(WATCH_CHANNELS)})")
            if list(settings.classes) != list(WATCH_CLASSES):
                raise ConfigError(f"task.classes={list(settings.classes)}: WATCH's classes are "
                                  f"[{','.join(WATCH_CLASSES)}] in that order")
        elif settings.channels is None:
            raise ConfigError("task.channels has no value: a folder of recordings needs the number of values per "
                              "time step (columns of each .csv, last axis of each .npy), e.g. task.channels=3")
        super().__init__(settings)
        self.channels = settings.channels or 6

    # ---- data ----------------------------------------------------------------------------------
    def data_root(self, cfg: RunConfig) -> Path:
        if self.settings.dataset == "watch":
            from autotiny.data.imu import watch_file

            if cfg.data.root is not None:  # not ignored silently: the user meant their own data
                raise ConfigError(f"data.root={cfg.data.root}: task.dataset=watch reads the WATCH recordings inside "
                                  "the seglearn wheel; for a folder of your own recordings use task=series "
                                  "(or task.dataset=folder)")
            return watch_file().parent
        from autotiny.data.folder import scan

        return scan(cfg.data.root, self.classes, SUFFIXES)[1].root  # a one-line error when no folder

    def dataset(self, cfg: RunConfig, root: Path | None = None) -> Recordings:
        from autotiny.data import imu

        d = cfg.data
        split = dict(val_pct=d.val_pct, test_pct=d.test_pct, seed=d.seed, max_per_class=d.max_per_class)
        if self.settings.dataset == "watch":
            return imu.watch(**split)
        from autotiny.data.folder import read_series, scan

        examples, problems = scan(root if root is not None else d.root, self.classes, SUFFIXES)
        signals = read_series(examples, self.channels, longest_window(cfg), problems)
        problems.raise_if_any()
        return imu.Recordings(f"folder:{problems.root}", signals, [e.label for e in examples],
                              [e.group for e in examples], problems.root, [e.path for e in examples], **split)

    # ---- features and model shape --------------------------------------------------------------
    def input_shape(self, spec: CandidateSpec) -> tuple[int, ...]:
        from autotiny.frontends import get_frontend

        return (*get_frontend(spec.frontend).output_shape(spec.frontend_params), self.channels)

    def features(self, dataset: Recordings, spec: CandidateSpec, split: str,
                 cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
        from autotiny.data.cache import cached_features
        from autotiny.data.imu import Windows

        p = spec.frontend_params
        return cached_features(Windows(dataset, p.window, p.hop), split, spec.frontend, p, cache_dir)

    # ---- console ----------------------------------------------------------------------------
    def describe_frontend(self, spec: CandidateSpec) -> str:
        p = spec.frontend_params
        bands = f" b{p.n_bands}" if hasattr(p, "n_bands") else ""
        return f"{spec.frontend} w{p.window} o{p.overlap:g}{bands}"


def longest_window(cfg: RunConfig) -> int:
    """The longest window the run's search space offers: every recording must hold one."""
    from autotiny.frontends.imu import WindowParams
    from autotiny.space import load_space

    longest = 0
    for params in load_space(cfg.search.space or cfg.task.space).frontend.choices().values():
        raw = (params or {}).get("window", WindowParams.window)
        if isinstance(raw, dict):
            raw = max(raw["choices"]) if "choices" in raw else raw["high"]
        longest = max(longest, int(raw))
    return longest
