"""Architecture families, registered by name. Params types import no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from autotiny.models.autoencoder import ConvAutoencoderParams, FcAutoencoderParams
from autotiny.models.cnn import CnnParams
from autotiny.models.cnn1d import Cnn1dParams
from autotiny.models.ds_cnn import DsCnnParams
from autotiny.models.mlp import MlpParams
from autotiny.models.mobilenet import MobileNetParams
from autotiny.models.resnet import ResNetParams
from autotiny.models.tc_resnet import TcResNetParams


@dataclass(frozen=True)
class Family:
    params_type: type
    builder: str  # "module:function", imported only when a model is built (TensorFlow is slow to import)

    def build(self, input_shape: tuple[int, ...], n_classes: int, params: Any, seed: int = 0):
        import importlib

        module, fn = self.builder.split(":")
        build: Callable = getattr(importlib.import_module(module), fn)
        return build(input_shape, n_classes, params, seed=seed)


FAMILIES: dict[str, Family] = {
    "ds_cnn": Family(DsCnnParams, "autotiny.models.ds_cnn:build"),
    "cnn": Family(CnnParams, "autotiny.models.cnn:build"),
    "cnn1d": Family(Cnn1dParams, "autotiny.models.cnn1d:build"),
    "mobilenet_v1": Family(MobileNetParams, "autotiny.models.mobilenet:build"),
    "resnet": Family(ResNetParams, "autotiny.models.resnet:build"),
    "tc_resnet": Family(TcResNetParams, "autotiny.models.tc_resnet:build"),
    "mlp": Family(MlpParams, "autotiny.models.mlp:build"),
    "fc_autoencoder": Family(FcAutoencoderParams, "autotiny.models.autoencoder:build_fc"),
    "conv_autoencoder": Family(ConvAutoencoderParams, "autotiny.models.autoencoder:build_conv"),
}
