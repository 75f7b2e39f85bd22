"""Layers the architecture families share (tf_keras imported on use)."""

from __future__ import annotations


def check_positive(params, *names: str) -> None:
    for name in names:
        if getattr(params, name) < 1:
            raise ValueError(f"{name}={getattr(params, name)}: must be >= 1")


def conv_bn_relu(x, channels: int, kernel, strides=1, relu: bool = True):
    from autotiny.tf_env import tf_keras

    layers = tf_keras().layers
    x = layers.Conv2D(channels, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x) if relu else x


def dw_bn_relu(x, strides=1, kernel=3):
    from autotiny.tf_env import tf_keras

    layers = tf_keras().layers
    x = layers.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def classifier_head(x, n_classes: int, dropout: float):
    """Global average pooling, dropout while training, softmax layer."""
    from autotiny.tf_env import tf_keras

    layers = tf_keras().layers
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(n_classes, activation="softmax")(x)
