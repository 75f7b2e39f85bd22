"""Tiny synthetic Speech Commands trees for tests (no real data needed).

Each word is a distinct tone pattern (two partials under a class-specific
envelope) plus a little noise, so a small model could learn the classes.
"""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np

TARGETS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog")
NOISE_FILES = ("white_noise.wav", "pink_noise.wav", "hum.wav")
SR = 16000


def speaker_ids(n: int) -> list[str]:
    return [hashlib.sha1(f"speaker{i}".encode()).hexdigest()[:8] for i in range(n)]


def write_wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(x, -1, 1 - 1 / 32768) * 32768).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def word_signal(word_index: int, rng: np.random.Generator) -> np.ndarray:
    n = SR if rng.random() < 0.8 else int(SR * 0.85)  # some short clips exercise padding
    t = np.arange(n) / SR
    f = 250.0 * (1.25 ** (word_index % 14)) * rng.uniform(0.97, 1.03)  # speaker-like jitter
    center = 0.25 + 0.05 * (word_index % 10)
    env = np.exp(-0.5 * ((t - center) / (0.08 + 0.01 * (word_index % 3))) ** 2)
    x = env * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2.3 * f * t))
    return rng.uniform(0.3, 0.6) * x / np.abs(x).max() + 0.01 * rng.standard_normal(n)


def noise_signal(kind: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(SR * seconds)
    white = rng.standard_normal(n)
    if kind == 0:
        x = white
    elif kind == 1:
        x = np.cumsum(white)
        x -= np.convolve(x, np.ones(400) / 400, mode="same")  # brown-ish, drift removed
    else:
        x = np.sin(2 * np.pi * 50 * np.arange(n) / SR) + 0.2 * white
    return 0.3 * x / np.abs(x).max()


def make_fake_speech_commands(
    root: str | Path,
    per_class: int = 8,
    layout: str = "twelve",
    n_speakers: int = 20,
    seed: int = 0,
    noise_seconds: float = 6.0,
) -> Path:
    """Write a fake dataset under `root` in the "twelve" or "full" layout; return root."""
    if layout not in ("twelve", "full"):
        raise ValueError(f"layout must be 'twelve' or 'full', got {layout!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    spk = speaker_ids(n_speakers)
    for wi, word in enumerate(TARGETS):
        for i in range(per_class):
            s = spk[(i * 7 + wi) % n_speakers]  # spread each speaker over classes
            write_wav(root / word / f"{s}_nohash_{i}.wav", word_signal(wi, rng))
    if layout == "full":
        for ui, word in enumerate(UNKNOWN_WORDS):
            wi = len(TARGETS) + ui
            for i in range(per_class):
                s = spk[(i * 7 + wi) % n_speakers]
                write_wav(root / word / f"{s}_nohash_{i}.wav", word_signal(wi, rng))
    else:  # one mixed `_unknown_` folder, file names prefixed with the word
        for i in range(per_class):
            ui = i % len(UNKNOWN_WORDS)
            s = spk[(i * 7 + len(TARGETS)) % n_speakers]
            path = root / "_unknown_" / f"{UNKNOWN_WORDS[ui]}_{s}_nohash_{i}.wav"
            write_wav(path, word_signal(len(TARGETS) + ui, rng))
    if layout == "twelve":
        for i in range(per_class):
            write_wav(root / "_silence_" / f"{1000 + i}.wav", rng.uniform(0, 0.05) * rng.standard_normal(SR))
    for k, name in enumerate(NOISE_FILES):
        write_wav(root / "_background_noise_" / name, noise_signal(k, noise_seconds, rng))
    return root
