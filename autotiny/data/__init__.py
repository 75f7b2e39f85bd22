"""Datasets: Speech Commands loader, feature cache, download helpers."""

from autotiny.data.cache import cached_features
from autotiny.data.speech_commands import CLASSES, Clip, NoiseBlock, SpeechCommands, resolve_root

__all__ = ["CLASSES", "Clip", "NoiseBlock", "SpeechCommands", "cached_features", "resolve_root"]
