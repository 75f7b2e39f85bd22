"""Architecture families, registered by name. Params types import no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from autotiny.models.cnn import CnnParams
from autotiny.models.ds_cnn import DsCnnParams
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
    "mobilenet_v1": Family(MobileNetParams, "autotiny.models.mobilenet:build"),
    "resnet": Family(ResNetParams, "autotiny.models.resnet:build"),
    "tc_resnet": Family(TcResNetParams, "autotiny.models.tc_resnet:build"),
}
