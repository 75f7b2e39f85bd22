"""Vibration front-ends: one window of an accelerometer signal → a feature vector.

Three, each with a searchable window length (samples at the data's rate, a power of two so a
device FFT is a radix-2 one):
- `fft_bands`: energy of the Hann-windowed spectrum of the whole window in `n_bands` equal-width
  bands from DC to Nyquist, log10;
- `log_spectrum`: Welch's averaged power spectrum (frames of `fft_size`, hop fft_size/2, Hann),
  log10 per bin (fft_size/2 bins, DC dropped);
- `time_stats`: per sub-frame (window cut into `n_frames`): RMS, peak, crest factor, kurtosis,
  skewness, shape and impulse factors — the condition-monitoring classics;
  the positive ones as log10 so a single int8 input scale suits them all.
numpy only, and kept to operations a device port does one for one: mean removal, a Hann
window, a real FFT, sums of squares, a log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-12  # floor before a log: silence gives log10(EPS), not -inf
STATS = ("rms", "peak", "crest", "kurtosis", "skewness", "shape", "impulse")
_LOGGED = {"skewness": False}  # every other statistic is positive and stored as log10


def _check_window(window: int, low: int = 64, high: int = 16384) -> None:
    if not low <= window <= high or window & (window - 1):
        raise ValueError(f"window={window}: a power of two in {low}..{high} (samples)")


@dataclass(frozen=True)
class BandParams:
    window: int = 1024
    n_bands: int = 32

    def __post_init__(self):
        _check_window(self.window)
        if not 2 <= self.n_bands <= self.window // 2:
            raise ValueError(f"n_bands={self.n_bands}: 2..window/2 ({self.window // 2})")


@dataclass(frozen=True)
class SpectrumParams:
    window: int = 1024
    fft_size: int = 128

    def __post_init__(self):
        _check_window(self.window)
        _check_window(self.fft_size, 16, self.window)


@dataclass(frozen=True)
class StatsParams:
    window: int = 1024
    n_frames: int = 4

    def __post_init__(self):
        _check_window(self.window)
        if not 1 <= self.n_frames <= self.window // 16 or self.window % self.n_frames:
            raise ValueError(f"n_frames={self.n_frames}: divides window={self.window}, frames of >= 16 samples")


def _frames(x: np.ndarray, window: int) -> np.ndarray:
    """The first `window` samples of each example, mean removed (a sensor's DC offset says nothing)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.shape[1] < window:
        raise ValueError(f"examples have {x.shape[1]} samples; the front-end needs window={window}")
    x = x[:, :window]
    return x - x.mean(axis=1, keepdims=True)


def power_spectrum(x: np.ndarray) -> np.ndarray:
    """Hann-windowed one-sided power spectrum of the last axis [..., n/2 + 1], normalised by the
    window's energy (a sine of amplitude A puts ~A²/2 in its bins, whatever n)."""
    n = x.shape[-1]
    w = np.hanning(n + 1)[:n]  # periodic Hann
    spec = np.abs(np.fft.rfft(x * w, axis=-1)) ** 2 / (w ** 2).sum()
    spec[..., 1:(n + 1) // 2] *= 2.0  # one-sided: fold the negative frequencies
    return spec / n


def band_edges(n_bins: int, n_bands: int) -> np.ndarray:
    """Integer bin edges of n_bands equal-width bands over bins 0..n_bins-1 (what the device uses)."""
    return (np.arange(n_bands + 1) * n_bins) // n_bands


def fft_bands(x: np.ndarray, p: BandParams = BandParams()) -> np.ndarray:
    spec = power_spectrum(_frames(x, p.window))[:, :p.window // 2]  # DC .. just below Nyquist
    edges = band_edges(spec.shape[1], p.n_bands)
    energy = np.add.reduceat(spec, edges[:-1], axis=1)
    return np.log10(energy + EPS).astype(np.float32)


def log_spectrum(x: np.ndarray, p: SpectrumParams = SpectrumParams()) -> np.ndarray:
    x = _frames(x, p.window)
    hop = p.fft_size // 2
    starts = range(0, p.window - p.fft_size + 1, hop)
    spec = np.mean([power_spectrum(x[:, s:s + p.fft_size]) for s in starts], axis=0)
    return np.log10(spec[:, 1:p.fft_size // 2 + 1] + EPS).astype(np.float32)


def statistics(x: np.ndarray) -> dict[str, np.ndarray]:
    """The STATS of each row of x (mean removed first), raw (not logged)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    m2 = (x ** 2).mean(axis=-1)
    rms = np.sqrt(m2)
    peak = np.abs(x).max(axis=-1)
    mean_abs = np.abs(x).mean(axis=-1)
    safe_m2, safe_abs = np.maximum(m2, EPS), np.maximum(mean_abs, EPS)
    return {"rms": rms, "peak": peak, "crest": peak / np.maximum(rms, EPS),
            "kurtosis": (x ** 4).mean(axis=-1) / safe_m2 ** 2, "skewness": (x ** 3).mean(axis=-1) / safe_m2 ** 1.5,
            "shape": rms / safe_abs, "impulse": peak / safe_abs}


def time_stats(x: np.ndarray, p: StatsParams = StatsParams()) -> np.ndarray:
    x = _frames(x, p.window)
    frames = x.reshape(len(x), p.n_frames, p.window // p.n_frames)
    s = statistics(frames)  # each [N, n_frames]
    cols = [s[k] if not _LOGGED.get(k, True) else np.log10(s[k] + EPS) for k in STATS]
    return np.stack(cols, axis=-1).reshape(len(x), -1).astype(np.float32)  # frame-major


def bands_shape(p: BandParams) -> tuple[int]:
    return (p.n_bands,)


def spectrum_shape(p: SpectrumParams) -> tuple[int]:
    return (p.fft_size // 2,)


def stats_shape(p: StatsParams) -> tuple[int]:
    return (p.n_frames * len(STATS),)
