"""Import TensorFlow the one way tfmot works: Keras 2 (tf_keras) via TF_USE_LEGACY_KERAS."""

from __future__ import annotations

import os


def tf():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep trial output readable
    import tensorflow

    return tensorflow


def tf_keras():
    tf()
    import tf_keras as keras

    return keras
