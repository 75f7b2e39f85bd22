"""Small grayscale image classification data: MNIST's test set (idx files in
$AUTOTINY_DATA/mnist, 10,000 digits of 28×28), scikit-learn's bundled 8×8 digits (1,797
images, no download: what the tests use) and a user's folder of .png per class
(`autotiny.data.folder`'s layout).

Splits are by a stable hash of each image's index (train / val / test by data.val_pct and
data.test_pct), so a split never changes between runs or processes; a folder's are by group
(metadata.csv) or by file.  `load(split)` gives
uint8-range float32 images [N, H, W] and int64 labels, in a fixed order."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np

from autotiny.data.speech_commands import stable_fraction
from autotiny.errors import DataError

MNIST_DIR = "mnist"
MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
SPLITS = ("train", "val", "test")


def _idx(path: Path) -> np.ndarray:
    """An idx file (MNIST's format: magic, dims, big-endian sizes, then uint8 data)."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", data[:4])
        dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        if zero != 0 or dtype != 0x08:
            raise ValueError("not an unsigned-byte idx file")
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise DataError(f"{path}: unreadable idx file ({e})") from None


def mnist_root(root: str | None) -> Path:
    if root is not None:
        p = Path(root).expanduser()
    else:
        env = os.environ.get("AUTOTINY_DATA")
        p = Path(env).expanduser() / MNIST_DIR if env else Path(MNIST_DIR)
    missing = [f for f in MNIST_FILES if not (p / f).is_file()]
    if missing:
        raise DataError(f"data.root={p}: MNIST needs {', '.join(MNIST_FILES)} there (missing {', '.join(missing)}); "
                        "set data.root or AUTOTINY_DATA, or use task.dataset=digits (for a folder per class of .png: "
                        "task=images)")
    return p


class ImageDataset:
    def __init__(self, name: str, images: np.ndarray, labels: np.ndarray, root: Path, files: list[Path],
                 val_pct: float, test_pct: float, seed: int, max_per_class: int | None = None,
                 splits: list[str] | None = None):
        self.name, self.root, self._files = name, root, files
        self.val_pct, self.test_pct, self.seed, self.max_per_class = val_pct, test_pct, seed, max_per_class
        self.images, self.labels = images.astype(np.float32), labels.astype(np.int64)
        splits = np.array(splits if splits is not None else [self._split_of(i) for i in range(len(labels))])
        self._index = {s: self._limit(np.flatnonzero(splits == s)) for s in SPLITS}

    def _split_of(self, i: int) -> str:
        f = stable_fraction(f"{self.name}:{self.seed}:{i}") * 100
        return "test" if f < self.test_pct else "val" if f < self.test_pct + self.val_pct else "train"

    def _limit(self, idx: np.ndarray) -> np.ndarray:
        if self.max_per_class is None:
            return idx
        keep = [idx[self.labels[idx] == c][:self.max_per_class] for c in np.unique(self.labels)]
        return np.sort(np.concatenate(keep))

    def files(self) -> list[Path]:
        return list(self._files)

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        idx = self._index[split]
        return self.images[idx], self.labels[idx]

    def fingerprint(self, split: str) -> str:
        h = hashlib.sha256(f"{self.name}|{self.images.shape}|{self.val_pct}|{self.test_pct}|{self.seed}|"
                           f"{self.max_per_class}|{split}".encode())
        h.update(self._index[split].tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        n = {s: len(v) for s, v in self._index.items()}
        return f"ImageDataset({self.name!r}, {n})"


def mnist(root: str | None, **split) -> ImageDataset:
    p = mnist_root(root)
    images, labels = _idx(p / MNIST_FILES[0]), _idx(p / MNIST_FILES[1])
    if images.ndim != 3 or len(images) != len(labels):
        raise DataError(f"{p}: {MNIST_FILES[0]} holds {images.shape}, {MNIST_FILES[1]} {labels.shape}: "
                        "expected N images of H×W and N labels")
    return ImageDataset("mnist", images, labels, p, [p / f for f in MNIST_FILES], **split)


def digits(**split) -> ImageDataset:
    """scikit-learn's 8×8 digits (pixel values 0..16, scaled to 0..255 like MNIST)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return ImageDataset("digits", d.images * (255.0 / 16.0), d.target, Path(d.get("filename") or "sklearn"), [],
                        **split)


def folder(root: str | Path | None, classes: list[str], val_pct: float, test_pct: float, seed: int,
           max_per_class: int | None = None) -> ImageDataset:
    """A folder per class of .png (grayscale or colour, read as grayscale; one size for all)."""
    from autotiny.data.folder import content_hash, read_images, scan, split_names

    examples, problems = scan(root, classes, (".png",))
    images = read_images(examples, problems)
    problems.raise_if_any()
    files = [e.path for e in examples]
    return ImageDataset(f"folder-{content_hash(files)}", images, np.array([e.label for e in examples]),
                        problems.root, files, val_pct, test_pct, seed, max_per_class,
                        splits=split_names(examples, val_pct, test_pct, seed))
