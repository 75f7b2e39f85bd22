"""TC-ResNet (Choi et al., "Temporal Convolution for Real-time Keyword Spotting on Mobile
Devices", 2019): the features' frequency axis becomes the channel axis, so every convolution is
a 1-D temporal one (k×1 kernels) over few, wide channels — the strongest small KWS family in
the literature.  TC-ResNet8 = 3 blocks, widths 16·24·32·48 × `width`, first kernel 3, blocks 9."""

from __future__ import annotations

from dataclasses import dataclass

from autotiny.models.common import conv_bn_relu

WIDTHS = (16, 24, 32, 48, 64, 96)


@dataclass(frozen=True)
class TcResNetParams:
    width: float = 1.0
    n_blocks: int = 3
    kernel: int = 9
    first_kernel: int = 3
    dropout: float = 0.2

    def __post_init__(self):
        if not 0 < self.width <= 4:
            raise ValueError(f"width={self.width}: must be in (0, 4]")
        if not 1 <= self.n_blocks <= len(WIDTHS) - 1:
            raise ValueError(f"n_blocks={self.n_blocks}: must be 1..{len(WIDTHS) - 1}")
        if self.kernel < 1 or self.first_kernel < 1:
            raise ValueError(f"kernel={self.kernel}, first_kernel={self.first_kernel}: must be >= 1")

    def channels(self, i: int) -> int:
        return max(4, int(round(WIDTHS[i] * self.width)))


def build(input_shape, n_classes: int, p: TcResNetParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    frames, coeffs = input_shape
    inp = keras.Input(shape=(frames, coeffs, 1), name="features")
    # A first kernel spanning every coefficient, VALID: the same as TC-ResNet's reshape to
    # time × 1 × frequency-as-channels and a k×1 convolution, without a RESHAPE op (the converter
    # makes Reshape a dynamic SHAPE op); time shrinks by first_kernel - 1 frames.
    x = layers.Conv2D(p.channels(0), (min(p.first_kernel, frames), coeffs), use_bias=False)(inp)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for i in range(1, p.n_blocks + 1):
        stride = (2 if x.shape[1] > 1 else 1, 1)
        y = conv_bn_relu(x, p.channels(i), (p.kernel, 1), strides=stride)
        y = conv_bn_relu(y, p.channels(i), (p.kernel, 1), relu=False)
        shortcut = conv_bn_relu(x, p.channels(i), 1, strides=stride)  # TC-ResNet's projection has a ReLU
        x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    if p.dropout:
        x = layers.Dropout(p.dropout)(x)
    return keras.Model(inp, layers.Dense(n_classes, activation="softmax")(x), name="tc_resnet")
