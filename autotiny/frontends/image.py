"""Image front-end: resize to size × size (bilinear, PIL) and scale pixel values to [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageParams:
    size: int = 28

    def __post_init__(self):
        if not 4 <= self.size <= 256:
            raise ValueError(f"ImageParams.size={self.size}: must be 4..256")


def output_shape(p: ImageParams) -> tuple[int, int]:
    return (p.size, p.size)


def image(images: np.ndarray, p: ImageParams = ImageParams()) -> np.ndarray:
    """float32 [N, size, size] in [0, 1] from [N, H, W] pixel values in [0, 255]."""
    from PIL import Image

    x = np.asarray(images, dtype=np.float32)
    if x.shape[1:] == (p.size, p.size):
        return x / 255.0
    out = np.empty((len(x), p.size, p.size), dtype=np.float32)
    for i, im in enumerate(x):
        out[i] = np.asarray(Image.fromarray(im, mode="F").resize((p.size, p.size), Image.BILINEAR))
    return np.clip(out / 255.0, 0.0, 1.0)
