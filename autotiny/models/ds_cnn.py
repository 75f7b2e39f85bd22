"""Depthwise-separable CNN (Zhang et al., "Hello Edge"), the MLPerf Tiny KWS family."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DsCnnParams:
    n_blocks: int = 4
    channels: int = 64
    first_kernel: tuple[int, int] = (10, 4)
    first_stride: tuple[int, int] = (2, 2)
    dropout: float = 0.2
    skip: bool = False  # identity shortcut (ADD) around each depthwise-separable block, as in ResNets
    share: bool = False  # blocks 2..n_blocks reuse block 1's layers: one set of weights in flash, n_blocks times the work

    def __post_init__(self):
        if not 0 <= self.n_blocks <= 16:
            raise ValueError(f"n_blocks={self.n_blocks}: must be 0..16")
        if not 1 <= self.channels <= 1024:
            raise ValueError(f"channels={self.channels}: must be 1..1024")
        for name in ("first_kernel", "first_stride"):
            v = tuple(getattr(self, name))
            if len(v) != 2 or min(v) < 1:
                raise ValueError(f"{name}={list(v)}: must be two positive integers [rows, cols]")
            object.__setattr__(self, name, v)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout}: must be in [0, 1)")
        for name in ("skip", "share"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r}: must be true or false")


def build(input_shape, n_classes: int, p: DsCnnParams, seed: int = 0):
    """tf_keras functional model: features [frames, coeffs] → class probabilities."""
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = layers.Conv2D(p.channels, p.first_kernel, strides=p.first_stride, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    block = None
    for _ in range(p.n_blocks):
        if block is None or not p.share:
            block = [layers.DepthwiseConv2D(3, padding="same", use_bias=False), layers.BatchNormalization(),
                     layers.ReLU(), layers.Conv2D(p.channels, 1, use_bias=False), layers.BatchNormalization()]
        y = x
        for layer in block:
            y = layer(y)
        # a block keeps shape (stride 1, same channels), so its input can be added back unchanged
        x = layers.ReLU()(layers.Add()([y, x]) if p.skip else y)
    x = layers.GlobalAveragePooling2D()(x)
    if p.dropout:
        x = layers.Dropout(p.dropout)(x)
    out = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="ds_cnn")
