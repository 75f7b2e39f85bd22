"""Import TensorFlow the one way tfmot works: Keras 2 (tf_keras) via TF_USE_LEGACY_KERAS."""

from __future__ import annotations

import os
import sys


def tf():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        # TF's C++ start-up banners (oneDNN, CUDA probing) ignore TF_CPP_MIN_LOG_LEVEL: keep them
        # out of the trial log, but show them if the import itself fails.
        from autotiny.compress import quiet_stderr

        err: dict = {}
        try:
            with quiet_stderr() as err:
                import tensorflow  # noqa: F401
        except Exception:
            sys.stderr.write(err.get("text", ""))
            raise
    import tensorflow

    return tensorflow


def tf_keras():
    tf()
    import tf_keras as keras

    return keras
