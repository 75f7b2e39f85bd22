"""Bring your own data: one layout for every modality, and splits that keep a group on one side.

    <data.root>/
      <class>/<name>.wav|.csv|.npy|.png   one file per example (audio clip, image) or per recording
                                          (time series: windows are cut from it), directly in the
                                          folder of its class; the folders are task.classes
      metadata.csv                        optional: a `file` column (path under data.root, e.g.
                                          yes/a1.wav) and a group column named group, speaker,
                                          subject or machine: files of one group stay in one split

Every problem is collected first and raised as one DataError naming each bad file and why
(unreadable, wrong rate, wrong length or shape, empty or missing class folder, a folder that is no
class, a data file outside the class folders, a file metadata.csv does not list): nothing is
skipped silently.  Hidden files (.DS_Store, ...) are ignored.

Owns the layout and `group_split`, which the IMU dataset also uses for WATCH's subjects.  The
readers give arrays; the datasets that hold them live beside their modality (images.py, imu.py,
`AudioFolder` here).  Knows no task, front-end or model.
"""

from __future__ import annotations

import csv
import hashlib
import wave
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotiny.data.speech_commands import read_wav, stable_fraction
from autotiny.errors import DataError

SPLITS = ("train", "val", "test")
METADATA = "metadata.csv"
GROUP_COLUMNS = ("group", "speaker", "subject", "machine")
SHOWN = 8  # bad files named in the message
LAYOUT = "README 'Bring your own data'"


@dataclass(frozen=True)
class Example:
    path: Path
    label: int
    group: str


@dataclass
class Problems:
    """Bad files found so far; `raise_if_any` turns them into one DataError."""

    root: Path
    found: list[tuple[Path, str]] = field(default_factory=list)

    def add(self, path: Path, why: str) -> None:
        self.found.append((path, why))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        shown = "; ".join(f"{p} ({why})" for p, why in self.found[:SHOWN])
        more = f"; and {len(self.found) - SHOWN} more" if len(self.found) > SHOWN else ""
        n = len(self.found)
        raise DataError(f"data.root={self.root}: {n} problem{'s' if n > 1 else ''}: {shown}{more}; fix or remove "
                        f"{'them' if n > 1 else 'it'} (layout: {LAYOUT})")


def group_split(groups: list[str], val_pct: float, test_pct: float, seed: int, what: str = "groups") -> dict[str, str]:
    """Each group → train, val or test, whole: groups in a seeded hash order, the first
    round(n·test_pct/100) (at least one) to test, the next round(n·val_pct/100) (at least one) to
    val, the rest to train.  Needs at least three groups."""
    order = sorted(set(groups), key=lambda g: (stable_fraction(f"{seed}:{g}"), g))
    n = len(order)
    n_test, n_val = max(1, round(n * test_pct / 100)), max(1, round(n * val_pct / 100))
    if n_test + n_val >= n:
        raise DataError(f"{n} {what} cannot make train, val and test splits without one {what[:-1]} on two sides "
                        f"(data.test_pct={test_pct:g}, data.val_pct={val_pct:g} take {n_test} + {n_val}); "
                        "need more, or give each file its own group (no metadata.csv)")
    return {g: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, g in enumerate(order)}


def scan(root: str | Path | None, classes: list[str], suffixes: tuple[str, ...]) -> tuple[list[Example], Problems]:
    """The examples under `root` in class order (label = index in `classes`), with their groups,
    and the layout's problems (not raised: the reader adds its own per-file ones first)."""
    suffix = "/".join(suffixes)
    if root is None:
        raise DataError(f"data.root is not set: a folder dataset reads a folder per class of {suffix} files "
                        f"({LAYOUT}); set data.root=PATH")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"data.root={root}: not a folder; expected a folder per class of {suffix} files ({LAYOUT})")
    problems = Problems(root)
    entries = [p for p in sorted(root.iterdir()) if not p.name.startswith(".")]
    for p in entries:
        if p.is_dir() and p.name not in classes:
            problems.add(p, f"a folder that is not one of task.classes {classes}")
        elif p.is_file() and p.suffix.lower() in suffixes:
            problems.add(p, "a data file outside the class folders")
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            problems.add(folder, f"missing: every class in task.classes needs a folder of {suffix} files")
            continue
        n = 0
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_dir():
                problems.add(p, "a subfolder: put the files directly in the class folder")
            elif p.suffix.lower() not in suffixes:
                problems.add(p, f"not a {suffix} file")
            else:
                files.append((p, label))
                n += 1
        if n == 0:
            problems.add(folder, f"empty class: no {suffix} files")
    groups = _groups(root, [p for p, _ in files], problems)
    return [Example(p, label, groups.get(p, p.relative_to(root).as_posix())) for p, label in files], problems


def _groups(root: Path, files: list[Path], problems: Problems) -> dict[Path, str]:
    """metadata.csv's group per file ({} without one)."""
    meta = root / METADATA
    if not meta.is_file():
        return {}
    try:
        with open(meta, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        problems.add(meta, f"unreadable: {e}")
        return {}
    columns = list(rows[0]) if rows else []
    column = next((c for c in GROUP_COLUMNS if c in columns), None)
    if "file" not in columns or column is None:
        problems.add(meta, f"needs a header with a file column and one of {', '.join(GROUP_COLUMNS)} (has {columns})")
        return {}
    out: dict[Path, str] = {}
    for i, row in enumerate(rows, start=2):
        path = (root / (row["file"] or "").strip()).resolve()
        group = (row[column] or "").strip()
        if not group:
            problems.add(meta, f"line {i}: no {column} for {row['file']}")
        out[path] = group
    known = set(files)
    for p in files:
        if p not in out:
            problems.add(p, f"not listed in {METADATA}")
    for p in out:
        if p not in known:
            problems.add(meta, f"lists {p.relative_to(root) if p.is_relative_to(root) else p}, which is not a data "
                               "file in a class folder")
    return out


def split_names(examples: list[Example], val_pct: float, test_pct: float, seed: int) -> list[str]:
    split = group_split([e.group for e in examples], val_pct, test_pct, seed, what="groups of files")
    return [split[e.group] for e in examples]


def content_hash(paths: list[Path]) -> str:
    """A short hash of the files' bytes: a cache key that changes when a file does."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


# ---- readers: (arrays, problems added) -----------------------------------------------------------

def read_series(examples: list[Example], channels: int, min_samples: int, problems: Problems) -> list[np.ndarray]:
    """Each .csv (numbers, comma-separated, one row per time step, an optional header row) or .npy
    ([time steps, channels], or [time steps] for one channel) as float32 [time steps, channels]."""
    out = []
    for e in examples:
        try:
            if e.path.suffix.lower() == ".npy":
                x = np.load(e.path, allow_pickle=False)
            else:
                with open(e.path) as f:
                    first = f.readline()
                try:
                    [float(v) for v in first.split(",")]
                    header = 0
                except ValueError:
                    header = 1  # a row of column names
                x = np.loadtxt(e.path, delimiter=",", skiprows=header, ndmin=2, dtype=np.float64)
        except (OSError, ValueError, UnicodeDecodeError, EOFError) as err:
            problems.add(e.path, f"unreadable: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
            out.append(np.zeros((0, channels), np.float32))
            continue
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != channels or not np.issubdtype(x.dtype, np.number):
            problems.add(e.path, f"wrong shape {x.shape} {x.dtype}: expected [time steps, {channels}] numbers "
                                 f"(task.channels={channels})")
        elif len(x) < min_samples:
            problems.add(e.path, f"wrong length: {len(x)} time steps, shorter than the longest window the "
                                 f"search space offers ({min_samples})")
        elif not np.isfinite(x).all():
            problems.add(e.path, "holds NaN or infinite values")
        out.append(np.asarray(x, dtype=np.float32))
    return out


def read_images(examples: list[Example], problems: Problems) -> np.ndarray:
    """Every .png as grayscale [N, H, W] (0..255); all must share one size."""
    from PIL import Image, UnidentifiedImageError

    images: list[np.ndarray | None] = []
    for e in examples:
        try:
            with Image.open(e.path) as im:
                images.append(np.asarray(im.convert("L"), dtype=np.float32))
        except (OSError, UnidentifiedImageError, ValueError) as err:
            problems.add(e.path, f"unreadable image: {err}")
            images.append(None)
    sizes = Counter(im.shape for im in images if im is not None)
    if not sizes:
        return np.zeros((0, 1, 1), np.float32)
    size = sizes.most_common(1)[0][0]
    for e, im in zip(examples, images):
        if im is not None and im.shape != size:
            problems.add(e.path, f"wrong size {im.shape[1]}x{im.shape[0]}: the others are {size[1]}x{size[0]}")
    return np.stack([im if im is not None and im.shape == size else np.zeros(size, np.float32) for im in images])


def check_wavs(examples: list[Example], rate: int, max_samples: int, problems: Problems) -> None:
    """Headers only: 16-bit PCM mono at `rate`, 1..max_samples frames (shorter clips are zero-padded)."""
    for e in examples:
        try:
            with wave.open(str(e.path), "rb") as w:
                ch, width, r, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        except (wave.Error, EOFError, OSError) as err:
            problems.add(e.path, f"unreadable wav: {err or 'empty or truncated'}")
            continue
        if r != rate:
            problems.add(e.path, f"wrong rate: {r} Hz, expected {rate} Hz")
        elif ch != 1 or width != 2:
            problems.add(e.path, f"expected 16-bit PCM mono, got {ch} channel(s), {8 * width}-bit")
        elif n == 0:
            problems.add(e.path, "empty: no audio frames")
        elif n > max_samples:
            problems.add(e.path, f"wrong length: {n} samples, longer than the {max_samples / rate:g} s clip "
                                 f"({max_samples} samples)")


class AudioFolder:
    """A folder per class of 16 kHz mono wav clips, for the keyword-spotting task: what
    `autotiny.data.cache.cached_features` reads (load, fingerprint) and the pre-flight check (files)."""

    def __init__(self, root: str | Path | None, classes: list[str], rate: int, clip_samples: int,
                 val_pct: float, test_pct: float, seed: int, max_per_class: int | None = None):
        examples, problems = scan(root, classes, (".wav",))
        check_wavs(examples, rate, clip_samples, problems)
        problems.raise_if_any()
        self.root, self.clip_samples = problems.root, clip_samples
        self.settings = (val_pct, test_pct, seed, max_per_class, rate, clip_samples)
        splits = split_names(examples, val_pct, test_pct, seed)
        self._index = {s: limit([e for e, sp in zip(examples, splits) if sp == s], max_per_class) for s in SPLITS}

    def files(self) -> list[Path]:
        return sorted(e.path for s in SPLITS for e in self._index[s])

    def groups(self, split: str) -> set[str]:
        return {e.group for e in self._index[split]}

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(waveforms float32 [N, clip_samples], zero-padded; labels int64 [N])."""
        ex = self._index[split]
        x = np.zeros((len(ex), self.clip_samples), dtype=np.float32)
        for i, e in enumerate(ex):
            w = read_wav(e.path)[:self.clip_samples]
            x[i, :len(w)] = w
        return x, np.array([e.label for e in ex], dtype=np.int64)

    def fingerprint(self, split: str) -> str:
        h = hashlib.sha256(repr(self.settings).encode())
        for e in self._index[split]:
            st = e.path.stat()
            h.update(f"{e.path}|{st.st_size}|{st.st_mtime_ns}|{e.label}\n".encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"AudioFolder({self.root}, {({s: len(v) for s, v in self._index.items()})})"


def limit(examples: list[Example], max_per_class: int | None) -> list[Example]:
    """The first max_per_class examples of each class (the scan's sorted order)."""
    if max_per_class is None:
        return examples
    taken: Counter = Counter()
    out = []
    for e in examples:
        if taken[e.label] < max_per_class:
            taken[e.label] += 1
            out.append(e)
    return out
