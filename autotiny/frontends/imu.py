"""IMU front-ends: one window of a multi-axis signal [window, axes] → features [rows, axes].

The window itself (length in samples, overlap between neighbours) is cut by the dataset
(`autotiny.data.imu.Recordings.windows`) but searched here, as front-end parameters, because it
sets what the device buffers and computes per decision.  Three front-ends, each per axis (a
space lists several to let the search choose):
- `imu_raw`: the window as it is (rows = window samples);
- `imu_stats`: mean, standard deviation, minimum, maximum and mean-crossing rate (rows = 5);
- `imu_spectral`: power of the Hann-windowed, mean-removed spectrum in `n_bands` equal-width bands
  from the first bin above DC to Nyquist, log10 (rows = n_bands).
`output_shape` gives the rows; the task appends the axis count (task.channels).  numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-9  # floor before the log: a flat axis gives log10(EPS), not -inf
STATS = ("mean", "std", "min", "max", "crossing_rate")


@dataclass(frozen=True)
class WindowParams:
    """imu_raw and imu_stats: the window only."""

    window: int = 128  # samples (2.56 s at WATCH's 50 Hz)
    overlap: float = 0.5  # share of a window its successor repeats

    def __post_init__(self):
        if not 8 <= self.window <= 1024:
            raise ValueError(f"window={self.window}: 8..1024 samples")
        if not 0 <= self.overlap <= 0.9:
            raise ValueError(f"overlap={self.overlap}: 0..0.9 of a window")

    @property
    def hop(self) -> int:
        """Samples between the starts of neighbouring windows."""
        return max(1, round(self.window * (1 - self.overlap)))


@dataclass(frozen=True)
class SpectralParams(WindowParams):
    n_bands: int = 16

    def __post_init__(self):
        super().__post_init__()
        if not 2 <= self.n_bands <= self.window // 2:
            raise ValueError(f"n_bands={self.n_bands}: 2..window/2 ({self.window // 2})")


# Rows per axis (the task appends the axis count).
def raw_shape(p: WindowParams) -> tuple[int]:
    return (p.window,)


def stats_shape(p: WindowParams) -> tuple[int]:
    return (len(STATS),)


def spectral_shape(p: SpectralParams) -> tuple[int]:
    return (p.n_bands,)


def raw(windows: np.ndarray, p: WindowParams = WindowParams()) -> np.ndarray:
    """float32 [N, window, axes]: the windows unchanged."""
    return np.asarray(windows, dtype=np.float32)


def stats(windows: np.ndarray, p: WindowParams = WindowParams()) -> np.ndarray:
    """float32 [N, 5, axes]: per axis mean, std, min, max and the share of sample pairs that
    cross the window's mean (a sine of f Hz at rate r gives about 2f/r)."""
    x = np.asarray(windows, dtype=np.float64)
    mean = x.mean(axis=1)
    above = x > mean[:, None, :]
    crossing = (above[:, 1:] != above[:, :-1]).mean(axis=1)
    return np.stack([mean, x.std(axis=1), x.min(axis=1), x.max(axis=1), crossing], axis=1).astype(np.float32)


def spectral(windows: np.ndarray, p: SpectralParams = SpectralParams()) -> np.ndarray:
    """float32 [N, n_bands, axes]: log10 of the mean power per band of the Hann-windowed,
    mean-removed window's spectrum (bins 1..window/2 in n_bands contiguous, near-equal groups)."""
    x = np.asarray(windows, dtype=np.float64)
    x = (x - x.mean(axis=1, keepdims=True)) * np.hanning(x.shape[1])[None, :, None]
    power = np.abs(np.fft.rfft(x, axis=1)[:, 1:x.shape[1] // 2 + 1]) ** 2 / x.shape[1]
    bands = np.stack([b.mean(axis=1) for b in np.array_split(power, p.n_bands, axis=1)], axis=1)
    return np.log10(bands + EPS).astype(np.float32)
