"""Keyword spotting on Google Speech Commands v0.02: the one task autotiny had before the task seam.

Owns what is specific to it: the dataset (`autotiny.data.speech_commands`, built from cfg.data),
features from an audio front-end through the on-disk cache (`autotiny.data.cache`), clean, at an
SNR with the split's own background noise, or freshly augmented per epoch (`autotiny.noise`;
settings `task.noise`), the feature
shape that front-end gives, a softmax classifier trained with sparse categorical cross-entropy
and scored by int8 accuracy (`autotiny.evaluate.score`), and the console line for a DS-CNN on
MFCC candidate. The class list comes from the config (task.classes). task.dataset=folder reads a
user's folder per class of 16 kHz wav clips instead (`autotiny.data.folder.AudioFolder`; no noise model).

Must not know the board, the budget, measurement or how trials are run. Imports nothing heavy
at module level (the registry imports this module from the config-checking path).
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
    from autotiny.data.speech_commands import SpeechCommands
    from autotiny.space import CandidateSpec


SNR_SAMPLE = 256  # training clips, spread over the split, whose SNRs the search's start line reports


class KeywordSpotting(Task):
    kind = "kws"
    loss = "sparse_categorical_crossentropy"
    metric = "accuracy"
    datasets = ("speech_commands", "folder")  # what task.dataset may name

    def __init__(self, settings: TaskSettings):
        if settings.dataset not in self.datasets:
            raise ConfigError(f"task.dataset={settings.dataset}: the {self.kind} task reads "
                              f"{', '.join(self.datasets)}")
        if settings.dataset == "folder" and settings.noise.enabled:
            raise ConfigError("task.noise.enabled=true: a folder dataset has no background-noise recordings; "
                              "set task.noise.enabled=false")
        super().__init__(settings)
        self._train_waves: tuple[SpeechCommands, np.ndarray] | None = None

    # ---- data ----------------------------------------------------------------------------------
    def data_root(self, cfg: RunConfig) -> Path:
        from autotiny.data.speech_commands import resolve_root

        d = cfg.data
        if self.settings.dataset == "folder":
            from autotiny.data.folder import scan

            return scan(d.root, self.classes, (".wav",))[1].root  # a one-line error when no folder
        return resolve_root(d.root, d.url, d.sha256, d.download_dir)

    def dataset(self, cfg: RunConfig, root: Path | None = None) -> SpeechCommands:
        from autotiny.data.speech_commands import CLIP_SAMPLES, SAMPLE_RATE, SpeechCommands

        d = cfg.data
        if self.settings.dataset == "folder":
            from autotiny.data.folder import AudioFolder

            return AudioFolder(root if root is not None else d.root, self.classes, SAMPLE_RATE, CLIP_SAMPLES,
                               val_pct=d.val_pct, test_pct=d.test_pct, seed=d.seed, max_per_class=d.max_per_class)
        return SpeechCommands(self.data_root(cfg) if root is None else root, val_pct=d.val_pct,
                              test_pct=d.test_pct, seed=d.seed, max_per_class=d.max_per_class)

    # ---- features and model shape --------------------------------------------------------------
    def input_shape(self, spec: CandidateSpec) -> tuple[int, ...]:
        from autotiny.frontends import get_frontend

        return tuple(get_frontend(spec.frontend).output_shape(spec.frontend_params))

    def features(self, dataset: SpeechCommands, spec: CandidateSpec, split: str,
                 cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
        from autotiny.data.cache import cached_features

        return cached_features(dataset, split, spec.frontend, spec.frontend_params, cache_dir)

    def noisy_features(self, dataset: SpeechCommands, spec: CandidateSpec, split: str, snr_db: float,
                       cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.settings.noise.enabled:
            return None
        from autotiny.data.cache import cached_features

        draws = self.settings.noise.val_draws if split == "val" else 1  # test: one per clip, intervals count clips
        return cached_features(dataset, split, spec.frontend, spec.frontend_params, cache_dir, snr_db=snr_db,
                               draws=draws)

    def augmented_features(self, dataset: SpeechCommands, spec: CandidateSpec,
                           rng: np.random.Generator) -> np.ndarray | None:
        noise = self.settings.noise
        if not noise.enabled:
            return None
        import numpy as np

        from autotiny.data.speech_commands import SAMPLE_RATE
        from autotiny.frontends import get_frontend
        from autotiny.noise import augment

        fe = get_frontend(spec.frontend)
        params = spec.frontend_params
        if isinstance(params, dict):
            params = fe.params_type(**params)
        if self._train_waves is None or self._train_waves[0] is not dataset:  # clips read once per worker
            self._train_waves = (dataset, dataset.load("train")[0])
        mixed = augment(self._train_waves[1].copy(), dataset.noise_segments("train"), noise, SAMPLE_RATE, rng)
        return np.asarray(fe.compute(mixed, params), dtype=np.float32)

    def training_noise(self, dataset: SpeechCommands) -> str | None:
        noise = self.settings.noise
        if not noise.enabled or noise.train_prob <= 0:
            return None
        import numpy as np

        from autotiny.data.speech_commands import SILENCE_LABEL
        from autotiny.noise import describe_training_snr, training_snr_db

        # percentiles need no more than a few hundred clips: the search's start reads those, not the split
        words = [i for i, c in enumerate(dataset.clips("train")) if c.label != SILENCE_LABEL]  # silence: noise only
        sample = words[::max(1, len(words) // SNR_SAMPLE)]
        snr = training_snr_db(dataset.load("train", sample)[0], dataset.noise_segments("train"), noise,
                              np.random.default_rng(0))
        return describe_training_snr(snr, noise)

    # ---- scoring ------------------------------------------------------------------------------
    # ---- console ----------------------------------------------------------------------------
    def describe_model(self, spec: CandidateSpec) -> str:
        m = spec.model_params
        if spec.family != "ds_cnn":
            return super().describe_model(spec)
        return (f"{spec.family} b{m.n_blocks} c{m.channels} k{'x'.join(map(str, m.first_kernel))} "
                f"s{'x'.join(map(str, m.first_stride))}")

    def describe_frontend(self, spec: CandidateSpec) -> str:
        f = spec.frontend_params
        return f"{spec.frontend} w{f.window_ms} m{f.n_mels} c{f.n_mfcc}" if spec.frontend == "mfcc" else spec.frontend
