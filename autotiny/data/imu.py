"""Multi-axis recordings (IMU) for activity classification, split by subject and cut into windows.

Two sources: the WATCH dataset that ships inside the `seglearn` wheel (Burns et al., "Shoulder
physiotherapy exercise recognition: machine learning the inertial signals from a smartwatch",
Physiological Measurement 2018, arXiv:1802.01489: 140 recordings of 10 subjects, 7 shoulder
exercises, a wrist watch's accelerometer and gyroscope at 50 Hz), or a user's folder of .csv/.npy
recordings (`autotiny.data.folder`).  Whole subjects (groups) go to train, val or test
(`folder.group_split`): no subject is on two sides.  Windows are cut per candidate (length and hop
are front-end parameters) inside each recording, never across two; a window's label is its
recording's.  `Windows` is the view the feature cache reads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from autotiny.data.folder import SPLITS, group_split
from autotiny.errors import DataError

WATCH_CHANNELS = ("ax", "ay", "az", "wx", "wy", "wz")  # accelerometer (g), gyroscope (rad/s)
WATCH_RATE_HZ = 50
WATCH_CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")  # seglearn's y_labels, in label order


class Recordings:
    def __init__(self, name: str, signals: list[np.ndarray], labels: list[int], groups: list[str], root: Path,
                 files: list[Path], val_pct: float, test_pct: float, seed: int, max_per_class: int | None = None):
        self.name, self.root, self._files, self.max_per_class = name, root, files, max_per_class
        self.signals = [np.asarray(s, dtype=np.float32) for s in signals]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.recording_groups = list(groups)
        self.split_of_group = group_split(groups, val_pct, test_pct, seed, what="subjects")
        self._index = {s: [i for i, g in enumerate(groups) if self.split_of_group[g] == s] for s in SPLITS}
        h = hashlib.sha256(f"{name}|{val_pct}|{test_pct}|{seed}|{max_per_class}".encode())
        for s, y, g in zip(self.signals, labels, groups):
            h.update(f"{y}|{g}|{s.shape}".encode())
            h.update(s.tobytes())
        self._hash = h.hexdigest()

    @property
    def channels(self) -> int:
        return self.signals[0].shape[1]

    def files(self) -> list[Path]:
        return list(self._files)

    def groups(self, split: str) -> set[str]:
        return {self.recording_groups[i] for i in self._index[split]}

    def windows(self, split: str, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
        """(float32 [N, window, channels], labels int64 [N]): every window of `split`'s recordings
        at this hop, recording by recording; with max_per_class, that many per class, evenly spaced."""
        xs, ys = [], []
        for i in self._index[split]:
            s = self.signals[i]
            if len(s) < window:
                continue  # the folder reader refuses recordings shorter than the longest window offered
            w = np.lib.stride_tricks.sliding_window_view(s, window, axis=0)[::hop]  # [n, channels, window]
            xs.append(w.transpose(0, 2, 1))
            ys.append(np.full(len(w), self.labels[i], dtype=np.int64))
        if not xs:
            return np.zeros((0, window, self.channels), np.float32), np.zeros(0, np.int64)
        x, y = np.concatenate(xs), np.concatenate(ys)
        if self.max_per_class is not None:
            keep = []
            for c in np.unique(y):
                idx = np.flatnonzero(y == c)
                keep.append(idx[np.unique(np.linspace(0, len(idx) - 1, min(len(idx), self.max_per_class)).round()
                                          .astype(int))])
            order = np.sort(np.concatenate(keep))
            x, y = x[order], y[order]
        return np.ascontiguousarray(x, dtype=np.float32), y

    def fingerprint(self, split: str) -> str:
        return f"{self._hash}:{split}"

    def __repr__(self) -> str:
        n = {s: len(v) for s, v in self._index.items()}
        return f"Recordings({self.name!r}, {self.channels} channels, recordings per split {n})"


class Windows:
    """The windows of one (length, hop): what `autotiny.data.cache.cached_features` reads; the
    front-end parameters in the cache key carry the window, so the recordings' fingerprint serves."""

    def __init__(self, recordings: Recordings, window: int, hop: int):
        self.recordings, self.window, self.hop = recordings, window, hop

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return self.recordings.windows(split, self.window, self.hop)

    def fingerprint(self, split: str) -> str:
        return self.recordings.fingerprint(split)


def watch_file() -> Path:
    """seglearn's bundled WATCH recordings (found without importing seglearn)."""
    import importlib.util

    spec = importlib.util.find_spec("seglearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("task.dataset=watch reads the WATCH data inside the seglearn wheel, which is not installed: "
                        "pip install seglearn==1.2.5 (make setup installs it)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "watch_dataset.npy"


def watch(**split) -> Recordings:
    """WATCH through seglearn's own loader (`seglearn.datasets.load_watch`)."""
    from seglearn.datasets import load_watch

    path = watch_file()
    try:
        d = load_watch()
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: unreadable WATCH data ({e}); reinstall seglearn") from None
    if tuple(d["y_labels"]) != WATCH_CLASSES or tuple(d["X_labels"]) != WATCH_CHANNELS:
        raise DataError(f"{path}: WATCH labels {d['y_labels']} / channels {d['X_labels']} are not the ones this "
                        f"task was written for ({WATCH_CLASSES} / {WATCH_CHANNELS})")
    groups = [f"subject{int(s)}" for s in d["subject"]]
    return Recordings("watch", list(d["X"]), [int(y) for y in d["y"]], groups, path.parent, [path], **split)
