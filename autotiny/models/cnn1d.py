"""1-D temporal CNN for time series (IMU windows, vibration spectra): convolutions run along the
first feature axis (time, or frequency bands), the second axis (sensor axes / features) becomes the
channels at the first layer — the plain stack of Wang et al., "Time Series Classification from
Scratch with Deep Neural Networks" (2017), made small.

Lowered with ops the int8 runtime has: the first Conv2D has a k×C kernel, VALID, over the
[T, C, 1] features (the same as a 1-D convolution over C input channels, without a RESHAPE),
later ones k×1 kernels over [T', 1, channels], 2×1 max pools between them, then global average
pooling and a softmax layer."""

from __future__ import annotations

from dataclasses import dataclass

from autotiny.models.common import check_positive, classifier_head, conv_bn_relu


@dataclass(frozen=True)
class Cnn1dParams:
    n_layers: int = 3
    channels: int = 32
    kernel: int = 5
    pool_every: int = 1  # a 2×1 max pool along time after every n-th convolution (0: none)
    dropout: float = 0.2

    def __post_init__(self):
        check_positive(self, "n_layers", "channels", "kernel")
        if self.n_layers > 12 or self.pool_every < 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"n_layers={self.n_layers} (1..12), pool_every={self.pool_every} (>= 0), "
                             f"dropout={self.dropout} (0..1)")


def build(input_shape, n_classes: int, p: Cnn1dParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    steps, axes = input_shape
    inp = keras.Input(shape=(steps, axes, 1), name="features")
    x = layers.Conv2D(p.channels, (min(p.kernel, steps), axes), use_bias=False)(inp)  # spans every axis
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for i in range(p.n_layers):
        if i:
            x = conv_bn_relu(x, p.channels, (p.kernel, 1))
        if p.pool_every and (i + 1) % p.pool_every == 0 and x.shape[1] >= 2:
            x = layers.MaxPooling2D((2, 1))(x)
    return keras.Model(inp, classifier_head(x, n_classes, p.dropout), name="cnn1d")
