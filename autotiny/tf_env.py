"""Import TensorFlow the one way tfmot works: Keras 2 (tf_keras) via TF_USE_LEGACY_KERAS;
and quiet_stderr, which keeps what C++ (TensorFlow, its converter, TFLM) prints to fd 2
out of the trial log.  Imports nothing of autotiny: the converter (compress) and the
measurements import it, never the other way round."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager


@contextmanager
def quiet_stderr():
    """Capture what C++ code (TF's start-up, the converter, TFLM) prints straight to fd 2: the
    trial output stays readable, and the text is in the yielded dict's "text" afterwards."""
    captured = {"text": ""}
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            captured["text"] = f.read().decode(errors="replace")


def tf():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        # TF's C++ start-up banners (oneDNN, CUDA probing) ignore TF_CPP_MIN_LOG_LEVEL: keep them
        # out of the trial log, but show them if the import itself fails.
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
