"""Autoencoders for one-class anomaly detection: trained to reconstruct normal feature vectors;
the reconstruction error is the anomaly score (autotiny.tasks.anomaly).

- `fc_autoencoder`: the MLPerf Tiny anomaly-detection shape — fully connected ReLU layers of
  `units` down to a `bottleneck`, mirrored back up, a linear output as wide as the input.
- `conv_autoencoder`: strided k×1 convolutions along the feature axis as the encoder, a
  bottleneck and a fully connected decoder (the runtime has no transposed convolution or
  up-sampling, so the decoder stays dense).
The output is the flat feature vector ([batch, features]); `n_classes` is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from autotiny.models.common import check_positive


@dataclass(frozen=True)
class FcAutoencoderParams:
    n_layers: int = 2  # per side, bottleneck not counted
    units: int = 64
    bottleneck: int = 8

    def __post_init__(self):
        check_positive(self, "n_layers", "units", "bottleneck")
        if self.n_layers > 6 or self.bottleneck > self.units:
            raise ValueError(f"n_layers={self.n_layers} (1..6), bottleneck={self.bottleneck} (<= units={self.units})")


@dataclass(frozen=True)
class ConvAutoencoderParams:
    n_layers: int = 2  # strided convolutions
    channels: int = 8
    kernel: int = 5
    bottleneck: int = 8
    units: int = 64  # the decoder's hidden layer

    def __post_init__(self):
        check_positive(self, "n_layers", "channels", "kernel", "bottleneck", "units")
        if self.n_layers > 5:
            raise ValueError(f"n_layers={self.n_layers}: 1..5")


def _flat_size(input_shape) -> int:
    n = 1
    for d in input_shape:
        n *= int(d)
    return n


def build_fc(input_shape, n_classes: int, p: FcAutoencoderParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = layers.Flatten()(inp)
    for _ in range(p.n_layers):
        x = layers.Dense(p.units, activation="relu")(x)
    x = layers.Dense(p.bottleneck, activation="relu")(x)
    for _ in range(p.n_layers):
        x = layers.Dense(p.units, activation="relu")(x)
    out = layers.Dense(_flat_size(input_shape), name="reconstruction")(x)
    return keras.Model(inp, out, name="fc_autoencoder")


def build_conv(input_shape, n_classes: int, p: ConvAutoencoderParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    if len(input_shape) != 2 or input_shape[1] != 1:
        raise ValueError(f"conv_autoencoder takes a [features, 1] series, not shape {tuple(input_shape)}")
    x = inp  # [features, 1, 1]: k×1 convolutions along the feature axis, CONV_2D on the device
    for _ in range(p.n_layers):
        if x.shape[1] < 2:
            break
        x = layers.Conv2D(p.channels, (p.kernel, 1), strides=(2, 1), padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(p.bottleneck, activation="relu")(x)
    x = layers.Dense(p.units, activation="relu")(x)
    out = layers.Dense(_flat_size(input_shape), name="reconstruction")(x)
    return keras.Model(inp, out, name="conv_autoencoder")
