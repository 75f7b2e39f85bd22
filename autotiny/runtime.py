"""The firmware's int8 runtime compiled for the host, called through ctypes.

The same C sources as the firmware (firmware/runtime/*.c, firmware/kernels/reference/*.c) are built into a
shared library with the system C compiler, cached under
`$AUTOTINY_CACHE/build/` (default `<repo>/.cache/autotiny/build/`) keyed by a
hash of the sources and flags, so a change to any kernel rebuilds it.

    from autotiny import blob, runtime
    b = blob.from_tflite("model.tflite")
    y = runtime.run(b, x)                # x: int8 (or float32) array of the input shape
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from autotiny.blob import STATUS_NAMES, ModelBlob, load_blob
from autotiny.config import cache_root, package_dir
from autotiny.errors import AutotinyError, ModelError

RUNTIME_SRC = package_dir("firmware") / "runtime"
REFERENCE_KERNELS = package_dir("firmware") / "kernels" / "reference"  # the host runs the portable set
CFLAGS = ["-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
          "-ffp-contract=off", "-fno-strict-aliasing",
          # the host always has the optional rows (the firmware only for models that use them)
          "-DAT_WITH_16X8", "-DAT_WITH_SPARSE"]

_lock = threading.Lock()
_lib = None


def cache_dir() -> Path:
    return cache_root()


def source_hash(files: list[Path], extra: list[str]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(" ".join(extra).encode())
    return h.hexdigest()[:16]


def _compiler(what: str) -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise AutotinyError(f"C compiler '{cc}' not found: install one (e.g. `apt-get install gcc`) "
                            f"or point $CC at it; {what} is built from C at first use")
    return cc


def build_shared(name: str, sources: list[Path], headers: list[Path], cflags: list[str], what: str,
                 libs: tuple[str, ...] = (), force: bool = False) -> Path:
    """Compile C sources into lib<name>.so under the build cache, keyed by a hash of sources,
    compiler and flags; published atomically, so concurrent builders agree on the result."""
    cc = _compiler(what)
    key = source_hash(sources + headers, [cc] + cflags)
    out_dir = cache_dir() / "build" / f"{name}-{key}"
    lib = out_dir / f"lib{name}.so"
    if lib.exists() and not force:
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    cmd = [cc, *cflags, "-o", tmp, *map(str, sources), *libs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise AutotinyError(f"building {what} failed:\n{' '.join(cmd)}\n{proc.stderr}")
    os.replace(tmp, lib)
    return lib


def build_library(force: bool = False) -> Path:
    """Compile firmware/runtime/*.c and the reference kernels into the host shared library."""
    sources = sorted(RUNTIME_SRC.glob("*.c")) + sorted(REFERENCE_KERNELS.glob("*.c"))
    return build_shared("autotiny_rt", sources, sorted(RUNTIME_SRC.glob("*.h")), [*CFLAGS, "-I", str(RUNTIME_SRC)],
                        "the host runtime (firmware/runtime, firmware/kernels/reference)", libs=("-lm",), force=force)


def library() -> ctypes.CDLL:
    global _lib
    with _lock:
        if _lib is None:
            lib = ctypes.CDLL(str(build_library()))
            lib.at_host_validate.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
            lib.at_host_validate.restype = ctypes.c_int
            lib.at_host_run.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                                        ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32,
                                        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int]
            lib.at_host_run.restype = ctypes.c_int
            lib.at_op_name.argtypes = [ctypes.c_uint32]
            lib.at_op_name.restype = ctypes.c_char_p
            lib.at_status_name.argtypes = [ctypes.c_int]
            lib.at_status_name.restype = ctypes.c_char_p
            _lib = lib
        return _lib


def op_table() -> dict[int, str]:
    """The C runtime's op table (firmware/runtime/op_table.c) as {op code: name}."""
    lib = library()
    names = {code: lib.at_op_name(code) for code in range(1 << 16)}
    return {code: name.decode() for code, name in names.items() if name is not None}


def status_text(code: int) -> str:
    return f"{STATUS_NAMES.get(code, 'unknown status')} (status {code})"


class HostModel:
    """A blob loaded into the host runtime; `run(x)` is bit-exact with the firmware."""

    def __init__(self, blob: ModelBlob | bytes):
        if not isinstance(blob, ModelBlob):
            blob = load_blob(blob)
        self.blob = blob
        self._lib = library()
        # word-aligned copy of the blob, 16-aligned arena
        self._blob_buf = np.frombuffer(blob.data, dtype=np.uint32).copy()
        raw = np.zeros(max(blob.arena_size, 16) + 16, dtype=np.uint8)
        skip = (-raw.ctypes.data) % 16
        self._arena = raw[skip:skip + max(blob.arena_size, 16)]
        st = self._lib.at_host_validate(self._blob_buf.ctypes.data, self._blob_buf.nbytes)
        if st != 0:
            raise ModelError(f"runtime rejected blob {blob.source}: {status_text(st)}")

    def run(self, x: np.ndarray) -> np.ndarray:
        b = self.blob
        x = np.asarray(x)
        if x.dtype != b.input_dtype:
            raise ValueError(f"input dtype {x.dtype}, model expects {b.input_dtype}")
        if x.size != int(np.prod(b.input_shape)):
            raise ValueError(f"input has {x.size} elements, model expects shape {b.input_shape}")
        x = np.ascontiguousarray(x)
        y = np.empty(b.output_shape, dtype=b.output_dtype)
        st = self._lib.at_host_run(self._blob_buf.ctypes.data, self._blob_buf.nbytes,
                                   self._arena.ctypes.data, len(self._arena),
                                   x.ctypes.data, x.nbytes, y.ctypes.data, y.nbytes,
                                   0)  # CRC checked once in __init__; the copy is private
        if st != 0:
            raise ModelError(f"runtime failed on blob {b.source}: {status_text(st)}")
        return y

    def run_many(self, xs: np.ndarray) -> np.ndarray:
        """Run each item of a batch [N, *input_shape] -> [N, *output_shape]."""
        xs = np.asarray(xs)
        out = np.empty((len(xs), *self.blob.output_shape), dtype=self.blob.output_dtype)
        for i, x in enumerate(xs):
            out[i] = self.run(x)
        return out


def validate(blob: bytes) -> int:
    """The C loader's status for raw blob bytes (0 = ok); no Python-side checks."""
    data = bytes(blob)
    buf = np.zeros((len(data) + 3) // 4, dtype=np.uint32)  # word-aligned copy
    ctypes.memmove(buf.ctypes.data, data, len(data))
    return library().at_host_validate(buf.ctypes.data, len(data))


def run(blob: ModelBlob | bytes, x: np.ndarray) -> np.ndarray:
    """Run one input through the model; returns the output array."""
    return HostModel(blob).run(x)
