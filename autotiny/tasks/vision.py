"""Tiny grayscale image classification: MNIST digits (the shared data's 10,000-image test set,
split three ways), scikit-learn's 8×8 digits (bundled: no download; what the tests use), or a
user's folder of .png per class (task.dataset=folder, e.g. task=object_present: absent/ and
present/; README 'Bring your own data').

Owns the datasets (`autotiny.data.images`), features from the image front-end (resize, scale to
[0, 1]) through the on-disk cache, a softmax classifier scored by int8 accuracy.  No field noise:
`noisy_features`/`augmented_features` keep the base class's None.  Must not know the board,
budget, measurement or how trials run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from autotiny.errors import ConfigError, DataError
from autotiny.tasks.base import Task

if TYPE_CHECKING:
    import numpy as np

    from autotiny.config import RunConfig
    from autotiny.config import Task as TaskSettings
    from autotiny.data.images import ImageDataset
    from autotiny.space import CandidateSpec


class ImageClassification(Task):
    kind = "vision"
    loss = "sparse_categorical_crossentropy"
    metric = "accuracy"
    datasets = ("mnist", "digits", "folder")

    def __init__(self, settings: TaskSettings):
        if settings.dataset not in self.datasets:
            raise ConfigError(f"task.dataset={settings.dataset}: the {self.kind} task reads "
                              f"{', '.join(self.datasets)}")
        super().__init__(settings)

    def data_root(self, cfg: RunConfig) -> Path:
        from autotiny.data.images import mnist_root

        if self.settings.dataset == "folder":
            from autotiny.data.folder import scan

            return scan(cfg.data.root, self.classes, (".png",))[1].root  # a one-line error when no folder
        return mnist_root(cfg.data.root) if self.settings.dataset == "mnist" else Path("sklearn")

    def dataset(self, cfg: RunConfig, root: Path | None = None) -> ImageDataset:
        from autotiny.data import images

        d = cfg.data
        split = dict(val_pct=d.val_pct, test_pct=d.test_pct, seed=d.seed, max_per_class=d.max_per_class)
        if self.settings.dataset == "digits":
            return images.digits(**split)
        if self.settings.dataset == "folder":
            return images.folder(root if root is not None else d.root, self.classes, **split)
        return images.mnist(str(root) if root is not None else d.root, **split)

    def input_shape(self, spec: CandidateSpec) -> tuple[int, ...]:
        from autotiny.frontends import get_frontend

        return tuple(get_frontend(spec.frontend).output_shape(spec.frontend_params))

    def features(self, dataset: ImageDataset, spec: CandidateSpec, split: str,
                 cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
        from autotiny.data.cache import cached_features

        return cached_features(dataset, split, spec.frontend, spec.frontend_params, cache_dir)

    def raw_shape(self, cfg: RunConfig) -> tuple[int, int]:
        """The picture the device resizes (height, width): 8×8 digits, MNIST's idx header (28×28), a
        folder's first .png (all share one size, autotiny.data.folder.read_images checks)."""
        if self.settings.dataset == "digits":
            return (8, 8)  # scikit-learn's load_digits: 8×8 images
        if self.settings.dataset == "folder":
            from PIL import Image

            from autotiny.data.folder import scan

            examples, problems = scan(cfg.data.root, self.classes, (".png",))
            if not examples:
                problems.raise_if_any()
                raise DataError(f"data.root={problems.root}: no .png files in {', '.join(self.classes)}")
            with Image.open(examples[0].path) as im:
                return (im.height, im.width)
        import gzip
        import struct

        from autotiny.data.images import MNIST_FILES, mnist_root

        path = mnist_root(cfg.data.root) / MNIST_FILES[0]
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(16)  # magic (0, 8, 3) and the big-endian sizes N, H, W
            return struct.unpack(">II", head[8:16])
        except (OSError, struct.error, EOFError) as e:
            raise DataError(f"{path}: unreadable idx file ({e})") from None

    def describe_frontend(self, spec: CandidateSpec) -> str:
        return f"{spec.frontend} {spec.frontend_params.size}x{spec.frontend_params.size}"
