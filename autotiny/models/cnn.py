"""Plain CNN: stacked 3×3 (or k×k) convolutions with batch norm and ReLU, max pooling between
stages, global average pooling and a softmax layer — the baseline every small-model paper
starts from."""

from __future__ import annotations

from dataclasses import dataclass

from autotiny.models.common import check_positive, classifier_head, conv_bn_relu


@dataclass(frozen=True)
class CnnParams:
    n_layers: int = 3
    channels: int = 32
    kernel: int = 3
    pool_every: int = 1  # a 2×2 max pool after every n-th convolution (0: none)
    dropout: float = 0.2

    def __post_init__(self):
        check_positive(self, "n_layers", "channels", "kernel")
        if self.n_layers > 12 or self.pool_every < 0:
            raise ValueError(f"n_layers={self.n_layers} (1..12), pool_every={self.pool_every} (>= 0)")


def build(input_shape, n_classes: int, p: CnnParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = inp
    for i in range(p.n_layers):
        x = conv_bn_relu(x, p.channels, p.kernel)
        if p.pool_every and (i + 1) % p.pool_every == 0 and min(x.shape[1], x.shape[2]) >= 2:
            x = keras.layers.MaxPooling2D(2)(x)
    return keras.Model(inp, classifier_head(x, n_classes, p.dropout), name="cnn")
