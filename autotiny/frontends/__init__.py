"""Front-ends (audio MFCC, image resize), chosen by name from the search space (`FRONTENDS`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from autotiny.errors import ConfigError
from autotiny.frontends import image as _image
from autotiny.frontends import mfcc as _mfcc


@dataclass(frozen=True)
class Frontend:
    """A named feature extractor: params record type, shape rule and compute."""

    name: str
    params_type: type
    output_shape: Callable[[Any], tuple[int, int]]
    compute: Callable[[np.ndarray, Any], np.ndarray]


FRONTENDS: dict[str, Frontend] = {
    "mfcc": Frontend("mfcc", _mfcc.MfccParams, _mfcc.output_shape, _mfcc.mfcc),
    "image": Frontend("image", _image.ImageParams, _image.output_shape, _image.image),
}


def get_frontend(name: str) -> Frontend:
    try:
        return FRONTENDS[name]
    except KeyError:
        raise ConfigError(f"unknown front-end {name!r}: available {', '.join(sorted(FRONTENDS))}") from None


__all__ = ["FRONTENDS", "Frontend", "get_frontend"]
