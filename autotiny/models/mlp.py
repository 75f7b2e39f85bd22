"""Multilayer perceptron: the feature vector (a vibration spectrum or statistics) flattened,
`n_layers` fully connected ReLU layers of `units`, dropout while training, a softmax layer.
The time-series baseline: on a device it is FULLY_CONNECTED ops only."""

from __future__ import annotations

from dataclasses import dataclass

from autotiny.models.common import check_positive


@dataclass(frozen=True)
class MlpParams:
    n_layers: int = 2
    units: int = 64
    dropout: float = 0.1

    def __post_init__(self):
        check_positive(self, "n_layers", "units")
        if self.n_layers > 8 or not 0 <= self.dropout < 1:
            raise ValueError(f"n_layers={self.n_layers} (1..8), dropout={self.dropout} (0..<1)")


def build(input_shape, n_classes: int, p: MlpParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = layers.Flatten()(inp)
    for _ in range(p.n_layers):
        x = layers.Dense(p.units, activation="relu")(x)
    if p.dropout:
        x = layers.Dropout(p.dropout)(x)
    return keras.Model(inp, layers.Dense(n_classes, activation="softmax")(x), name="mlp")
