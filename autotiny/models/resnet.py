"""Tiny ResNet (He et al. 2016), in the shape of the MLPerf Tiny image-classification ResNet-8:
a 3×3 stem, then stages of residual blocks (3×3 conv, 3×3 conv, identity or strided 1×1
shortcut, add, ReLU), channels doubling and resolution halving per stage."""

from __future__ import annotations

from dataclasses import dataclass

from autotiny.models.common import check_positive, classifier_head, conv_bn_relu


@dataclass(frozen=True)
class ResNetParams:
    channels: int = 16
    n_stages: int = 3
    blocks_per_stage: int = 1
    dropout: float = 0.0

    def __post_init__(self):
        check_positive(self, "channels", "n_stages", "blocks_per_stage")
        if self.n_stages > 4 or self.blocks_per_stage > 3:
            raise ValueError(f"n_stages={self.n_stages} (1..4), blocks_per_stage={self.blocks_per_stage} (1..3)")


def residual_block(x, channels: int, strides):
    from autotiny.tf_env import tf_keras

    layers = tf_keras().layers
    y = conv_bn_relu(x, channels, 3, strides=strides)
    y = conv_bn_relu(y, channels, 3, relu=False)
    shortcut = x
    if strides != (1, 1) or x.shape[-1] != channels:
        shortcut = conv_bn_relu(x, channels, 1, strides=strides, relu=False)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def build(input_shape, n_classes: int, p: ResNetParams, seed: int = 0):
    from autotiny.tf_env import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = conv_bn_relu(inp, p.channels, 3)
    for stage in range(p.n_stages):
        for block in range(p.blocks_per_stage):
            down = 2 if stage and not block else 1
            strides = tuple(down if d > 1 else 1 for d in x.shape[1:3])
            x = residual_block(x, p.channels * 2 ** stage, strides)
    return keras.Model(inp, classifier_head(x, n_classes, p.dropout), name="resnet")
