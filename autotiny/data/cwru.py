"""CWRU bearing vibration data (drive-end accelerometer, motor load 0, 1797 RPM): loading,
resampling to one rate, windowing and leakage-free splits.

The healthy baseline was recorded at 48 kHz, the drive-end faults at 12 kHz: the healthy
recording is brought to 12 kHz with a polyphase anti-alias filter (scipy.signal.resample_poly)
before anything is mixed, or a model could learn the sample rate instead of the bearing.

Splits (nothing on both sides):
- the healthy recording (the only one) in contiguous time blocks: first 60 % train, next 20 %
  validation, last 20 % test (`HEALTHY_BLOCKS`);
- fault recordings by fault size (`SIZE_SPLIT`): every recording of a size lies in one split, so
  a size never appears on both sides; each split still holds inner race, ball and outer race.
Windows are cut inside one recording's block only, at evenly spaced starts (overlapping where a
block is short), the same number per class and split.

Two labelings: `fault` (healthy / inner_race / ball / outer_race) and `anomaly` (healthy /
fault; the training split holds healthy windows only: a one-class model never sees a fault).
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from autotiny.errors import DataError

CWRU_DIR = "cwru_bearing"
RECORDINGS_DIR = "1797_RPM"
RATE = 12_000  # Hz, every window is at this rate
HEALTHY_FILE = "1797_Normal.npz"
HEALTHY_RATE = 48_000
HEALTHY_BLOCKS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}  # fractions of the recording
SIZE_SPLIT = {"train": (7, 28), "val": (14,), "test": (21,)}  # fault diameter in mils -> split; train
# holds 7 mils for its three outer-race positions (28 mils has no outer-race recording)
SPLITS = ("train", "val", "test")
FAULT_CLASSES = ("healthy", "inner_race", "ball", "outer_race")
ANOMALY_CLASSES = ("healthy", "fault")
DEFAULT_PER_CLASS = 400  # training windows per class; validation and test get half
_NAME = re.compile(r"^1797_(IR|B|OR@\d+)_(\d+)_DE12\.npz$")
_KIND = {"IR": "inner_race", "B": "ball"}  # OR@3/@6/@12 -> outer_race


@dataclass(frozen=True)
class Recording:
    path: Path
    kind: str  # a FAULT_CLASSES name
    size_mils: int | None  # None: healthy


def cwru_root(root: str | None) -> Path:
    """data.root, else $AUTOTINY_DATA/cwru_bearing; DataError (one line) when it has no recordings."""
    if root is not None:
        p = Path(root).expanduser()
    else:
        env = os.environ.get("AUTOTINY_DATA")
        p = Path(env).expanduser() / CWRU_DIR if env else Path(CWRU_DIR)
    if not (p / RECORDINGS_DIR / HEALTHY_FILE).is_file():
        raise DataError(f"data.root={p}: CWRU bearing data needs {RECORDINGS_DIR}/{HEALTHY_FILE} and the "
                        f"*_DE12.npz fault recordings there; set data.root or AUTOTINY_DATA")
    return p


def recordings(root: Path) -> list[Recording]:
    """The healthy baseline and every drive-end 12 kHz fault recording under root, sorted by name."""
    folder = root / RECORDINGS_DIR
    out = [Recording(folder / HEALTHY_FILE, "healthy", None)]
    for path in sorted(folder.glob("*_DE12.npz")):
        m = _NAME.match(path.name)
        if m is None:
            raise DataError(f"{path}: unexpected name (expected 1797_<IR|B|OR@pos>_<size>_DE12.npz)")
        out.append(Recording(path, _KIND.get(m.group(1), "outer_race"), int(m.group(2))))
    return out


def read_signal(rec: Recording) -> np.ndarray:
    """The drive-end signal of one recording at RATE, float32."""
    try:
        with np.load(rec.path) as z:
            x = np.asarray(z["DE"], dtype=np.float64).ravel()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{rec.path}: unreadable recording ({type(e).__name__}: {e}); expected an .npz "
                        "with a 'DE' array") from None
    if x.size < RATE // 10 or not np.isfinite(x).all():
        raise DataError(f"{rec.path}: recording too short or not finite ({x.size} samples)")
    if rec.kind == "healthy":
        from scipy.signal import resample_poly

        x = resample_poly(x, RATE, HEALTHY_RATE)  # Kaiser-windowed FIR anti-alias filter, then decimation
    return x.astype(np.float32)


def _starts(length: int, window: int, n: int) -> np.ndarray:
    """n evenly spaced window starts inside [0, length - window]."""
    if length < window:
        return np.zeros(0, dtype=np.int64)
    return np.linspace(0, length - window, n).round().astype(np.int64)


class CwruBearing:
    """Windows of the CWRU recordings per split, labelled for `labeling` ("fault" or "anomaly")."""

    def __init__(self, root: Path, labeling: str = "fault", per_class: int | None = None):
        if labeling not in ("fault", "anomaly"):
            raise ValueError(f"labeling={labeling}: fault or anomaly")
        self.root = Path(root)
        self.labeling = labeling
        self.per_class = per_class or DEFAULT_PER_CLASS
        self.recordings = recordings(self.root)
        self.classes = FAULT_CLASSES if labeling == "fault" else ANOMALY_CLASSES
        for split in SPLITS:  # every split must hold every class it is scored on
            needed = {"healthy"} if (labeling == "anomaly" and split == "train") else set(FAULT_CLASSES)
            have = {r.kind for r in self.split_recordings(split)}
            if needed - have:
                raise DataError(f"{self.root / RECORDINGS_DIR}: the {split} split (fault sizes "
                                f"{SIZE_SPLIT[split]} mils) has no recording of {', '.join(sorted(needed - have))}")

    def __repr__(self) -> str:
        return (f"CwruBearing({self.root}, {self.labeling}, {len(self.recordings)} recordings at {RATE} Hz, "
                f"{self.per_class} train windows per class)")

    def files(self) -> list[Path]:
        return [r.path for r in self.recordings]

    def split_recordings(self, split: str) -> list[Recording]:
        """The recordings split `split` reads (the healthy one: its time block of it)."""
        out = [r for r in self.recordings if r.kind == "healthy"]
        if self.labeling == "fault" or split != "train":
            out += [r for r in self.recordings if r.size_mils in SIZE_SPLIT[split]]
        return out

    @cached_property
    def _signals(self) -> dict[Path, np.ndarray]:
        return {r.path: read_signal(r) for r in self.recordings}

    def _block(self, rec: Recording, split: str) -> np.ndarray:
        x = self._signals[rec.path]
        if rec.kind != "healthy":
            return x  # a fault recording belongs to one split whole
        lo, hi = HEALTHY_BLOCKS[split]
        return x[round(lo * len(x)):round(hi * len(x))]

    def _label(self, kind: str) -> int:
        return FAULT_CLASSES.index(kind) if self.labeling == "fault" else int(kind != "healthy")

    def windows(self, split: str, window: int) -> tuple[np.ndarray, np.ndarray]:
        """(float32 [N, window] at RATE, int64 labels [N]): per class `per_class` windows for train,
        half that for val and test, spread evenly over the class's recordings in this split."""
        n = self.per_class if split == "train" else max(1, self.per_class // 2)
        by_label: dict[int, list[Recording]] = {}
        for r in self.split_recordings(split):
            by_label.setdefault(self._label(r.kind), []).append(r)
        waves, labels = [], []
        for label in sorted(by_label):
            recs = by_label[label]
            for i, rec in enumerate(recs):  # n split over the class's recordings
                block = self._block(rec, split)
                for s in _starts(len(block), window, n // len(recs) + (i < n % len(recs))):
                    waves.append(block[s:s + window])
                    labels.append(label)
        if not waves:
            raise DataError(f"{self.root / RECORDINGS_DIR}: no {split} window of {window} samples fits the recordings")
        return np.stack(waves).astype(np.float32), np.asarray(labels, dtype=np.int64)

    def fingerprint(self, split: str) -> dict:
        names = sorted(r.path.name for r in self.split_recordings(split))
        digest = hashlib.sha256(",".join(f"{n}:{(self.root / RECORDINGS_DIR / n).stat().st_size}"
                                         for n in names).encode()).hexdigest()
        return {"dataset": "cwru", "labeling": self.labeling, "split": split, "per_class": self.per_class,
                "rate": RATE, "blocks": HEALTHY_BLOCKS[split], "sizes": SIZE_SPLIT[split], "files": digest}
