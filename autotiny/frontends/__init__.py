"""Front-ends (audio MFCC, image resize, vibration spectra and statistics), chosen by name from the
search space (`FRONTENDS`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from autotiny.errors import ConfigError
from autotiny.frontends import image as _image
from autotiny.frontends import imu as _imu
from autotiny.frontends import mfcc as _mfcc
from autotiny.frontends import vibration as _vib


@dataclass(frozen=True)
class Frontend:
    """A named feature extractor: params record type, shape rule and compute."""

    name: str
    params_type: type
    output_shape: Callable[[Any], tuple[int, ...]]  # IMU front-ends: rows per axis (the task adds the axes)
    compute: Callable[[np.ndarray, Any], np.ndarray]


FRONTENDS: dict[str, Frontend] = {
    "mfcc": Frontend("mfcc", _mfcc.MfccParams, _mfcc.output_shape, _mfcc.mfcc),
    "image": Frontend("image", _image.ImageParams, _image.output_shape, _image.image),
    "imu_raw": Frontend("imu_raw", _imu.WindowParams, _imu.raw_shape, _imu.raw),
    "imu_stats": Frontend("imu_stats", _imu.WindowParams, _imu.stats_shape, _imu.stats),
    "imu_spectral": Frontend("imu_spectral", _imu.SpectralParams, _imu.spectral_shape, _imu.spectral),
    "fft_bands": Frontend("fft_bands", _vib.BandParams, _vib.bands_shape, _vib.fft_bands),
    "log_spectrum": Frontend("log_spectrum", _vib.SpectrumParams, _vib.spectrum_shape, _vib.log_spectrum),
    "time_stats": Frontend("time_stats", _vib.StatsParams, _vib.stats_shape, _vib.time_stats),
}


def get_frontend(name: str) -> Frontend:
    try:
        return FRONTENDS[name]
    except KeyError:
        raise ConfigError(f"unknown front-end {name!r}: available {', '.join(sorted(FRONTENDS))}") from None


__all__ = ["FRONTENDS", "Frontend", "get_frontend"]
