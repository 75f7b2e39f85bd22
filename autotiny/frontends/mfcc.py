"""MFCC front-end matching the MLPerf Tiny KWS reference recipe (NOTES §3).

Defaults reproduce the reference model's 49x10 input: peak-normalised 1 s clip,
480-sample periodic Hann window, hop 320, rfft 512, magnitude spectrum,
TF-style HTK mel matrix (40 bins, 20-4000 Hz), log(x + 1e-6), DCT-II scaled by
1/sqrt(2 * n_mels), first 10 coefficients. Pure numpy, vectorised over clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LOG_OFFSET = 1e-6
# Clips per rfft batch: bounds peak memory (~chunk * frames * fft_size * 8 B).
_CHUNK = 256


@dataclass(frozen=True)
class MfccParams:
    sample_rate: int = 16000
    clip_ms: int = 1000
    window_ms: float = 30
    hop_ms: float = 20
    fft_size: int | None = None  # None: next power of two >= window (512 for the 30 ms default)
    n_mels: int = 40
    n_mfcc: int = 10
    fmin_hz: float = 20.0
    fmax_hz: float = 4000.0
    normalize_peak: bool = True

    def __post_init__(self) -> None:
        def bad(field: str, why: str) -> ValueError:
            return ValueError(f"MfccParams.{field}={getattr(self, field)!r}: {why}")

        if self.sample_rate <= 0:
            raise bad("sample_rate", "must be > 0")
        if self.clip_ms <= 0:
            raise bad("clip_ms", "must be > 0")
        if self.window_ms <= 0 or self.window_samples < 2:
            raise bad("window_ms", "window must span at least 2 samples")
        if self.hop_ms <= 0 or self.hop_samples < 1:
            raise bad("hop_ms", "hop must span at least 1 sample")
        if self.hop_samples > self.window_samples:
            raise bad("hop_ms", f"hop ({self.hop_ms} ms) larger than window ({self.window_ms} ms)")
        if self.window_samples > self.clip_samples:
            raise bad("window_ms", f"window longer than the clip ({self.clip_ms} ms)")
        if self.fft_size is not None and self.fft_size < self.window_samples:
            raise bad("fft_size", f"smaller than the window ({self.window_samples} samples)")
        if self.n_mels < 1:
            raise bad("n_mels", "must be >= 1")
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise bad("n_mfcc", f"must be in 1..n_mels ({self.n_mels})")
        if self.fmin_hz < 0:
            raise bad("fmin_hz", "must be >= 0")
        if self.fmax_hz > self.sample_rate / 2:
            raise bad("fmax_hz", f"above Nyquist ({self.sample_rate / 2} Hz)")
        if self.fmin_hz >= self.fmax_hz:
            raise bad("fmin_hz", f"must be below fmax_hz ({self.fmax_hz})")

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_ms / 1000))

    @property
    def window_samples(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def n_fft(self) -> int:
        if self.fft_size is not None:
            return self.fft_size
        return 1 << (self.window_samples - 1).bit_length()


def frame_count(p: MfccParams) -> int:
    """Frames of an unpadded STFT over one clip (TF stft with pad_end=False)."""
    return 1 + (p.clip_samples - p.window_samples) // p.hop_samples


def output_shape(p: MfccParams) -> tuple[int, int]:
    """(frames, n_mfcc): known before any audio, so a search can size its models."""
    return frame_count(p), p.n_mfcc


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # HTK formula, as tf.signal uses (1127 * ln(1 + f/700)).
    return 1127.0 * np.log1p(hz / 700.0)


def mel_centers_hz(p: MfccParams) -> np.ndarray:
    """Centre frequency of each mel band (Hz)."""
    edges = np.linspace(_hz_to_mel(np.float64(p.fmin_hz)), _hz_to_mel(np.float64(p.fmax_hz)), p.n_mels + 2)
    return 700.0 * np.expm1(edges[1:-1] / 1127.0)


@lru_cache(maxsize=32)
def mel_matrix(n_fft: int, n_mels: int, sample_rate: int, fmin_hz: float, fmax_hz: float) -> np.ndarray:
    """[n_fft//2+1, n_mels] triangular weights, same construction as
    tf.signal.linear_to_mel_weight_matrix (triangles in mel space, DC row zero)."""
    n_bins = n_fft // 2 + 1
    bin_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2, n_bins))[1:, None]
    edges = np.linspace(_hz_to_mel(np.float64(fmin_hz)), _hz_to_mel(np.float64(fmax_hz)), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    w = np.maximum(0.0, np.minimum(rising, falling))
    w = np.vstack([np.zeros((1, n_mels)), w])  # DC bin carries no mel energy
    w.setflags(write=False)
    return w


@lru_cache(maxsize=32)
def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """[n_mels, n_mfcc] DCT-II basis scaled like tf.signal.mfccs_from_log_mel_spectrograms:
    2*sum(x cos(...)) / sqrt(2N), i.e. sqrt(2/N) for every k (k=0 included)."""
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    # Periodic Hann (tf.signal.hann_window default), not numpy's symmetric np.hanning.
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    w.setflags(write=False)
    return w


def fit_length(waveforms: np.ndarray, samples: int) -> np.ndarray:
    """Zero-pad at the end or crop to `samples` (the reference pads at the end)."""
    n = waveforms.shape[-1]
    if n == samples:
        return waveforms
    if n > samples:
        return waveforms[..., :samples]
    pad = [(0, 0)] * (waveforms.ndim - 1) + [(0, samples - n)]
    return np.pad(waveforms, pad)


def _prepare(waveforms: np.ndarray, p: MfccParams) -> np.ndarray:
    x = np.asarray(waveforms)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"waveforms must be [N, samples], got shape {x.shape}")
    return fit_length(x.astype(np.float64, copy=False), p.clip_samples)


def _log_mel_chunk(x: np.ndarray, p: MfccParams) -> np.ndarray:
    """[n, frames, n_mels] log-mel energies of clips already fitted to clip length."""
    if p.normalize_peak:
        # Reference divides by the positive peak max(x); guard all-silent clips.
        peak = x.max(axis=1, keepdims=True)
        x = x / np.where(peak > 0, peak, 1.0)
    frames, win, hop = frame_count(p), p.window_samples, p.hop_samples
    framed = np.lib.stride_tricks.sliding_window_view(x, win, axis=1)[:, : frames * hop : hop]
    spec = np.abs(np.fft.rfft(framed * _hann(win), n=p.n_fft, axis=-1))
    mel = mel_matrix(p.n_fft, p.n_mels, p.sample_rate, float(p.fmin_hz), float(p.fmax_hz))
    return np.log(spec @ mel + LOG_OFFSET)


def log_mel(waveforms: np.ndarray, p: MfccParams = MfccParams()) -> np.ndarray:
    """float32 [N, frames, n_mels]: the stage before the DCT (for inspection/tests)."""
    x = _prepare(waveforms, p)
    out = np.empty((x.shape[0], frame_count(p), p.n_mels), dtype=np.float32)
    for i in range(0, x.shape[0], _CHUNK):
        out[i : i + _CHUNK] = _log_mel_chunk(x[i : i + _CHUNK], p)
    return out


def mfcc(waveforms: np.ndarray, p: MfccParams = MfccParams()) -> np.ndarray:
    """float32 [N, frames, n_mfcc] from float32 [N, samples] in [-1, 1]."""
    x = _prepare(waveforms, p)
    dct = dct_matrix(p.n_mels, p.n_mfcc)
    out = np.empty((x.shape[0], frame_count(p), p.n_mfcc), dtype=np.float32)
    for i in range(0, x.shape[0], _CHUNK):
        out[i : i + _CHUNK] = _log_mel_chunk(x[i : i + _CHUNK], p) @ dct
    return out


def quantize(features: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 features by the reference model's rule trunc(x/scale + zp).

    Truncation (not rounding) because the MLPerf Tiny KWS pipeline casts the
    float value straight to int8 and the reference model was calibrated on
    inputs made that way; rounding shifts half the values by 1 LSB. Values are
    clipped to [-128, 127] first so out-of-range features saturate, not wrap.
    """
    q = np.trunc(np.asarray(features, dtype=np.float64) / scale + zero_point)
    return np.clip(q, -128, 127).astype(np.int8)
