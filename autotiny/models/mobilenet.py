"""MobileNetV1-style network (Howard et al. 2017): a strided 3×3 convolution, then blocks of
depthwise 3×3 + pointwise 1×1, each with batch norm and ReLU; channel counts follow MobileNetV1's
schedule scaled by the width multiplier `alpha` (the MLPerf Tiny visual wake words model is
alpha 0.25 with all 13 blocks)."""

from __future__ import annotations

from dataclasses import dataclass

from autotiny.models.common import classifier_head, conv_bn_relu, dw_bn_relu

# MobileNetV1's pointwise widths and strides, block by block
SCHEDULE = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
            (512, 1), (1024, 2), (1024, 1))


@dataclass(frozen=True)
class MobileNetParams:
    alpha: float = 0.25
    n_blocks: int = 7
    first_stride: tuple[int, int] = (2, 2)
    dropout: float = 0.2

    def __post_init__(self):
        if not 0 < self.alpha <= 2:
            raise ValueError(f"alpha={self.alpha}: must be in (0, 2]")
        if not 1 <= self.n_blocks <= len(SCHEDULE):
            raise ValueError(f"n_blocks={self.n_blocks}: must be 1..{len(SCHEDULE)}")
        object.__setattr__(self, "first_stride", tuple(self.first_stride))

    def width(self, channels: int) -> int:
        return max(8, int(channels * self.alpha + 4) // 8 * 8)  # multiples of 8, as MobileNet rounds


def build(input_shape, n_classes: int, p: MobileNetParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = conv_bn_relu(inp, p.width(32), 3, strides=p.first_stride)
    for channels, stride in SCHEDULE[:p.n_blocks]:
        # stride only along axes still longer than 1 (a short spectrogram runs out of rows first)
        s = tuple(stride if d > 1 else 1 for d in x.shape[1:3])
        x = dw_bn_relu(x, strides=s)
        x = conv_bn_relu(x, p.width(channels), 1)
    return keras.Model(inp, classifier_head(x, n_classes, p.dropout), name="mobilenet_v1")
