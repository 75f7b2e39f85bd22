"""Google Speech Commands v0.02 as 12 KWS classes, speaker-disjoint splits.

Two on-disk layouts are recognised automatically:
  * twelve: one folder per class (10 words + `_silence_` + `_unknown_`), as the
    MLPerf Tiny / shared test subset ships it;
  * full:   the 35 word folders of the official archive; non-target words
    become `_unknown_` (subsampled) and `_silence_` is cut from the
    background-noise recordings.
Both may hold `_background_noise_/`, which is split into time blocks per
split so no test noise ever reaches training (silence or augmentation).
"""

from __future__ import annotations

import hashlib
import os
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotiny.errors import ConfigError, DataError

# Reference model output order; label = index.
CLASSES = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_", "_unknown_")
TARGET_WORDS = CLASSES[:10]
SILENCE, UNKNOWN = "_silence_", "_unknown_"
SILENCE_LABEL, UNKNOWN_LABEL = CLASSES.index(SILENCE), CLASSES.index(UNKNOWN)
BACKGROUND = "_background_noise_"
SPLITS = ("train", "val", "test")
SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # 1 s
NOISE_BLOCKS = 10  # time blocks per background recording (fewer if it is short)

LAYOUT_HELP = (
    "expected Speech Commands v0.02: either 12 folders "
    f"({' '.join(CLASSES)}) or the full archive's word folders (incl. {' '.join(TARGET_WORDS)}), "
    f"optionally with {BACKGROUND}/"
)
_WORD_DIR = re.compile(r"^[a-z]+$")


@dataclass(frozen=True)
class Clip:
    """One 1 s example. Generated silence has `offset` set: it is the 1 s crop
    of the noise recording `path` starting at `offset`, scaled by `gain`."""

    path: Path
    label: int
    speaker: str
    split: str
    offset: int | None = None
    gain: float = 1.0


@dataclass(frozen=True)
class NoiseBlock:
    """A contiguous [start, stop) sample range of one background recording."""

    path: Path
    start: int
    stop: int
    split: str


def stable_fraction(key: str) -> float:
    """Deterministic value in [0, 1) from a string (hashlib: stable across runs, unlike hash())."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def speaker_of(file_name: str) -> str:
    """Speaker hash from `SPEAKER_nohash_N.wav` or `WORD_SPEAKER_nohash_N.wav`; '' if none."""
    head, sep, _ = file_name.partition("_nohash_")
    return head.rsplit("_", 1)[-1] if sep else ""


def split_of(key: str, val_pct: float, test_pct: float) -> str:
    # Test is taken first so changing val_pct never moves clips into/out of test.
    pct = stable_fraction(key) * 100
    if pct < test_pct:
        return "test"
    if pct < test_pct + val_pct:
        return "val"
    return "train"


def read_wav(path: Path) -> np.ndarray:
    """float32 samples in [-1, 1) of a 16-bit PCM mono 16 kHz wav."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE:
                raise DataError(
                    f"{path}: expected 16-bit PCM mono {SAMPLE_RATE} Hz wav, got {w.getnchannels()} channel(s), "
                    f"{8 * w.getsampwidth()}-bit, {w.getframerate()} Hz"
                )
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise DataError(f"{path}: not a readable 16-bit PCM wav ({e})") from None
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def _frames_in(path: Path) -> int:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes()
    except (wave.Error, EOFError, OSError) as e:
        raise DataError(f"{path}: not a readable 16-bit PCM wav ({e})") from None


def _fit(x: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


class SpeechCommands:
    def __init__(
        self,
        root: str | Path,
        val_pct: float = 10,
        test_pct: float = 10,
        seed: int = 0,
        max_per_class: int | None = None,
    ) -> None:
        if not (0 <= val_pct and 0 <= test_pct and val_pct + test_pct < 100):
            raise ConfigError(f"val_pct={val_pct}, test_pct={test_pct}: need both >= 0 and a sum < 100")
        if max_per_class is not None and max_per_class < 1:
            raise ConfigError(f"max_per_class={max_per_class}: must be >= 1 or None")
        self.root = Path(root).expanduser().resolve()
        self.val_pct, self.test_pct, self.seed, self.max_per_class = val_pct, test_pct, seed, max_per_class
        self.layout, self._words = self._detect_layout()
        self._noise_cache: dict[Path, np.ndarray] = {}
        self._blocks = self._make_noise_blocks()
        self._clips = self._index()

    # ---- layout and indexing -------------------------------------------------
    def _detect_layout(self) -> tuple[str, list[str]]:
        if not self.root.is_dir():
            raise DataError(f"Speech Commands root {self.root} is not a folder: {LAYOUT_HELP}")
        dirs = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        words = [d for d in dirs if d != BACKGROUND]
        if SILENCE in words or UNKNOWN in words:
            missing = [c for c in CLASSES if c not in words]
            extra = [d for d in words if d not in CLASSES]
            if missing or extra:
                what = f"missing {', '.join(missing)}" if missing else f"unexpected folder {extra[0]!r}"
                raise DataError(f"{self.root}: {what} in the 12-folder layout; {LAYOUT_HELP}")
            return "twelve", words
        missing = [w for w in TARGET_WORDS if w not in words]
        if missing:
            raise DataError(f"{self.root}: no folder {', '.join(missing)}; {LAYOUT_HELP}")
        odd = [d for d in words if not _WORD_DIR.match(d)]
        if odd:
            raise DataError(f"{self.root}: unexpected folder {odd[0]!r}; {LAYOUT_HELP}")
        if not (self.root / BACKGROUND).is_dir():
            raise DataError(f"{self.root}: full layout needs {BACKGROUND}/ to generate {SILENCE} clips")
        return "full", words

    def _word_clips(self, folder: str, label: int) -> list[Clip]:
        out = []
        for f in sorted((self.root / folder).glob("*.wav")):
            spk = speaker_of(f.name)
            # Clips without a speaker id (e.g. `_silence_/1024.wav`) split by file name.
            key = spk if spk else f"{folder}/{f.name}"
            out.append(Clip(f, label, spk, split_of(key, self.val_pct, self.test_pct)))
        return out

    def _index(self) -> dict[str, list[Clip]]:
        clips: list[Clip] = []
        for i, word in enumerate(TARGET_WORDS):
            clips += self._word_clips(word, i)
        if self.layout == "twelve":
            clips += self._word_clips(UNKNOWN, UNKNOWN_LABEL)
            clips += self._word_clips(SILENCE, SILENCE_LABEL)
        else:
            unknown = [c for w in self._words if w not in TARGET_WORDS for c in self._word_clips(w, UNKNOWN_LABEL)]
            for split in SPLITS:
                # Balance: unknown and silence get about an average target class each.
                n = round(sum(c.split == split for c in clips) / len(TARGET_WORDS))
                pool = [c for c in unknown if c.split == split]
                pool.sort(key=lambda c: stable_fraction(f"{self.seed}:{c.path.parent.name}/{c.path.name}"))
                clips += pool[:n]
                clips += self._silence_clips(split, n)
        by_split: dict[str, list[Clip]] = {s: [] for s in SPLITS}
        for c in clips:
            by_split[c.split].append(c)
        if self.max_per_class is not None:
            for s in SPLITS:
                by_split[s] = self._limit(by_split[s], s)
        return by_split

    def _limit(self, clips: list[Clip], split: str) -> list[Clip]:
        # Deterministic slice spread over speakers (hash order), kept in label order.
        ranked = sorted(clips, key=lambda c: stable_fraction(f"{self.seed}:{split}:{c.path.name}:{c.offset}"))
        taken: dict[int, int] = {}
        keep = set()
        for c in ranked:
            if taken.get(c.label, 0) < self.max_per_class:
                taken[c.label] = taken.get(c.label, 0) + 1
                keep.add(id(c))
        return [c for c in clips if id(c) in keep]

    # ---- background noise ----------------------------------------------------
    def _noise_files(self) -> list[Path]:
        d = self.root / BACKGROUND
        return sorted(d.glob("*.wav")) if d.is_dir() else []

    def _make_noise_blocks(self) -> list[NoiseBlock]:
        blocks: list[NoiseBlock] = []
        for f in self._noise_files():
            n = _frames_in(f)
            k = min(NOISE_BLOCKS, n // CLIP_SAMPLES)
            if k < 3:
                continue  # too short to give each split a 1 s block
            n_test = max(1, round(k * self.test_pct / 100)) if self.test_pct > 0 else 0
            n_val = max(1, round(k * self.val_pct / 100)) if self.val_pct > 0 else 0
            # Which blocks go where depends only on the file name: stable across seeds.
            order = sorted(range(k), key=lambda i: stable_fraction(f"{f.name}:{i}"))
            split_of_block = {i: "test" for i in order[:n_test]}
            split_of_block.update({i: "val" for i in order[n_test : n_test + n_val]})
            edges = np.linspace(0, n, k + 1).astype(int)
            for i in range(k):
                blocks.append(NoiseBlock(f, int(edges[i]), int(edges[i + 1]), split_of_block.get(i, "train")))
        return blocks

    def noise_blocks(self, split: str | None = None) -> list[NoiseBlock]:
        return [b for b in self._blocks if split is None or b.split == split]

    def _noise(self, path: Path) -> np.ndarray:
        if path not in self._noise_cache:
            self._noise_cache[path] = read_wav(path)
        return self._noise_cache[path]

    def noise_segments(self, split: str) -> list[np.ndarray]:
        """float32 background-noise blocks reserved for `split` (for augmentation)."""
        self._check_split(split)
        return [self._noise(b.path)[b.start : b.stop].copy() for b in self.noise_blocks(split)]

    def _silence_clips(self, split: str, count: int) -> list[Clip]:
        blocks = self.noise_blocks(split)
        if count == 0 or not blocks:
            return []
        rng = np.random.default_rng([self.seed, SPLITS.index(split)])
        out = []
        for _ in range(count):
            b = blocks[rng.integers(len(blocks))]
            start = int(rng.integers(b.start, b.stop - CLIP_SAMPLES + 1))
            out.append(Clip(b.path, SILENCE_LABEL, "", split, offset=start, gain=float(rng.uniform(0.0, 1.0))))
        return out

    # ---- public access -------------------------------------------------------
    def _check_split(self, split: str) -> None:
        if split not in SPLITS and split != "all":
            raise ConfigError(f"unknown split {split!r}: use one of {', '.join(SPLITS)} or all")

    def clips(self, split: str) -> list[Clip]:
        self._check_split(split)
        if split == "all":
            return [c for s in SPLITS for c in self._clips[s]]
        return list(self._clips[split])

    def files(self) -> list[Path]:
        """Every file this dataset reads (clips of all splits and background noise), once each, sorted."""
        return sorted({c.path for s in SPLITS for c in self._clips[s]} | set(self._noise_files()))

    def load(self, split: str, which: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(waveforms float32 [N, 16000], labels int64 [N]) in `clips(split)` order; `which`: only
        those positions of `clips(split)`, in that order."""
        clips = self.clips(split)
        if which is not None:
            clips = [clips[i] for i in which]
        x = np.zeros((len(clips), CLIP_SAMPLES), dtype=np.float32)
        for i, c in enumerate(clips):
            if c.offset is None:
                x[i] = _fit(read_wav(c.path))
            else:
                x[i] = self._noise(c.path)[c.offset : c.offset + CLIP_SAMPLES] * np.float32(c.gain)
        y = np.array([c.label for c in clips], dtype=np.int64)
        return x, y

    def settings(self) -> dict:
        """Everything besides the file list that decides what `load` returns."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "val_pct": self.val_pct,
            "test_pct": self.test_pct,
            "seed": self.seed,
            "max_per_class": self.max_per_class,
        }

    def fingerprint(self, split: str) -> str:
        """Hash of settings + the split's clips (name, size, crop): a cache key."""
        h = hashlib.sha256(repr(sorted(self.settings().items())).encode())
        for c in self.clips(split):
            rel = c.path.relative_to(self.root).as_posix()
            h.update(f"{rel}|{c.path.stat().st_size}|{c.label}|{c.offset}|{c.gain!r}\n".encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(self._clips[s])}" for s in SPLITS)
        return f"SpeechCommands({self.root}, layout={self.layout}, {sizes})"


DEFAULT_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
DATASET_DIR = "speech_commands_v0.02"


def resolve_root(
    root: str | Path | None,
    url: str | None = None,
    sha256: str | None = None,
    download_dir: str | Path = ".cache/datasets",
    timeout: float = 30.0,
) -> Path:
    """Where the data is: explicit `root`, else $AUTOTINY_DATA/speech_commands_v0.02,
    else an earlier download in `download_dir`, else download `url` there."""
    from autotiny.data.download import fetch_and_extract  # lazy: tqdm only when needed

    if root is not None:
        p = Path(root).expanduser()
        if not p.is_dir():
            raise DataError(f"data.root={p} does not exist; {LAYOUT_HELP}")
        return p
    env = os.environ.get("AUTOTINY_DATA")
    if env and (Path(env).expanduser() / DATASET_DIR).is_dir():
        return Path(env).expanduser() / DATASET_DIR
    target = Path(download_dir).expanduser() / DATASET_DIR
    if target.is_dir():
        return target
    url = url or DEFAULT_URL
    try:
        return fetch_and_extract(url, target, sha256, timeout)
    except DataError as e:
        raise DataError(
            f"Speech Commands not found: set data.root=PATH or AUTOTINY_DATA=DIR containing {DATASET_DIR}/ "
            f"(12 class folders or the full archive's word folders), {e}"
        ) from None
