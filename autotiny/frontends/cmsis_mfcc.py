"""The KWS MFCC as CMSIS-DSP computes it: the C sources the device compiles, the tables the
device needs (from a candidate's `MfccParams`), and the same computation on the host through
CMSIS-DSP's Python wheel (`cmsisdsp`, pinned in requirements.txt), the reference the device's C
front-end (firmware/frontends/mfcc.c: arm_mfcc_f32's steps on CMSIS-DSP's real FFT, without its
per-frame |max| scaling and its magnitudes of bins no filter reads) is held to within `TOLERANCE`.

CMSIS-DSP (Arm, Apache-2.0) ships its C sources in the PyPI sdist; `sources()` fetches it once
by pinned version and sha256 into the build cache (never the repository).  The wheel is 1.10.1
(the newest with a CPython 3.11 x86-64 wheel); PyPI keeps no 1.10.1 sdist, so the device compiles
1.10.3's sources: the RFFT files the device takes are matched here within
`TOLERANCE` (tests/unit/test_frontend_device.py), not assumed identical.

What `arm_mfcc_f32` does per frame (Source/TransformFunctions/arm_mfcc_f32.c): scale by the
frame's |max| (undone after the FFT), window, real FFT, magnitude (the Nyquist bin dropped),
sparse mel filters, log(x + 1e-6) through `arm_vlog_f32` (a libm `logf` per value in the wheel's
build; the device calls `logf` itself), DCT-II.  The window and mel/DCT constructions are the
numpy front-end's (periodic Hann, HTK mel, sqrt(2/N) DCT), so the two differ only by float32
arithmetic (bench/frontend_cost.py reports by how much).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from autotiny.errors import AutotinyError
from autotiny.frontends.mfcc import MfccParams, fit_length, frame_count

CMSIS_DSP_VERSION = "1.10.3"
CMSIS_DSP_URL = ("https://files.pythonhosted.org/packages/2c/ec/0decbb48985d2eb98739a9bbf4ba090278cc492a7c1a5d5b907e8baf67b5/"
                 f"cmsisdsp-{CMSIS_DSP_VERSION}.tar.gz")
CMSIS_DSP_SHA256 = "307d32298faa7c58db912851027fce35f886fec7eb1a27c4b309ce1a97f47519"
CMSIS_DSP_LICENSE = "Apache-2.0"

# The files CMSIS-DSP's 2^k real FFT needs (Source/ relative): all the MFCC compiles (firmware/frontends/
# mfcc.c does the rest of arm_mfcc_f32's steps itself), and the IMU and vibration front-ends' FFT.
RFFT_F32_SOURCES = ("TransformFunctions/arm_rfft_fast_f32.c", "TransformFunctions/arm_rfft_fast_init_f32.c",
                    "TransformFunctions/arm_cfft_f32.c", "TransformFunctions/arm_cfft_init_f32.c",
                    "TransformFunctions/arm_cfft_radix8_f32.c", "TransformFunctions/arm_bitreversal2.c",
                    "CommonTables/arm_common_tables.c", "CommonTables/arm_const_structs.c")
# Real FFT lengths CMSIS-DSP's arm_rfft_fast_f32 has tables for.
FFT_LENGTHS = (32, 64, 128, 256, 512, 1024, 2048, 4096)

# C front-end on the device vs the cmsisdsp wheel on the host, float features (same algorithm,
# 1.10.3 vs 1.10.1 sources, arm-gcc vs the wheel's compiler): max |diff| 7.6e-6 on 40 Speech
# Commands clips (bench/frontend_cost.py --match 40); bound with margin.
TOLERANCE = 1e-3


def sdist_dir() -> Path:
    from autotiny.runtime import cache_dir

    return cache_dir() / "cmsis-dsp" / f"cmsisdsp-{CMSIS_DSP_VERSION}"


def sources(fetch: bool = True) -> Path:
    """The unpacked CMSIS-DSP sdist (Include/, PrivateInclude/, Source/), fetched and checked
    against its pinned sha256 on first use."""
    root = sdist_dir()
    if (root / ".complete").exists():
        return root
    if not fetch:
        raise AutotinyError(f"CMSIS-DSP {CMSIS_DSP_VERSION} sources missing at {root}: run `make setup`")
    try:
        with urllib.request.urlopen(CMSIS_DSP_URL, timeout=120) as r:
            data = r.read()
    except OSError as e:
        raise AutotinyError(f"cannot fetch CMSIS-DSP sources from {CMSIS_DSP_URL}: {e}") from None
    got = hashlib.sha256(data).hexdigest()
    if got != CMSIS_DSP_SHA256:
        raise AutotinyError(f"CMSIS-DSP sdist sha256 {got} != pinned {CMSIS_DSP_SHA256} ({CMSIS_DSP_URL})")
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cmsis-", dir=root.parent))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        t.extractall(work, filter="data")
    (work / f"cmsisdsp-{CMSIS_DSP_VERSION}" / ".complete").write_text(CMSIS_DSP_SHA256 + "\n")
    try:
        os.replace(work / f"cmsisdsp-{CMSIS_DSP_VERSION}", root)  # a concurrent fetcher may have won
    except OSError:
        pass
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return root


def fft_length(p: MfccParams) -> int:
    n = p.n_fft
    if n not in FFT_LENGTHS:
        raise AutotinyError(f"MFCC fft_size {n}: the device front-end (CMSIS-DSP rfft) takes {FFT_LENGTHS}")
    return n


def window(p: MfccParams) -> np.ndarray:
    """float32 [n_fft]: periodic Hann over the window's samples, zeros after (the numpy front-end
    pads the windowed frame with zeros to n_fft: the same product)."""
    n, w = fft_length(p), p.window_samples
    out = np.zeros(n, dtype=np.float32)
    out[:w] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(w) / w)
    return out


def tables(p: MfccParams) -> dict:
    """The constants arm_mfcc_f32 takes, from CMSIS-DSP's own Python helpers (cmsisdsp.mfcc)."""
    import cmsisdsp.datatype as dt
    import cmsisdsp.mfcc as cm

    n = fft_length(p)
    lengths, positions, coefs = cm.melFilterMatrix(dt.F32, float(p.fmin_hz), float(p.fmax_hz), p.n_mels,
                                                   p.sample_rate, n)
    dct = cm.dctMatrix(dt.F32, p.n_mfcc, p.n_mels)
    return {"fft_len": n, "window": window(p), "filter_len": np.asarray(lengths, dtype=np.uint32),
            "filter_pos": np.asarray(positions, dtype=np.uint32), "filter_coefs": np.asarray(coefs, dtype=np.float32),
            "dct": np.asarray(dct, dtype=np.float32)}


def bin_range(t: dict) -> tuple[int, int]:
    """[lo, hi): the spectrum bins the mel filters read, the only magnitudes the device computes."""
    pos, length = t["filter_pos"].astype(np.int64), t["filter_len"].astype(np.int64)
    return int(pos.min()), int((pos + length).max())


def _c_floats(a: np.ndarray) -> str:
    vals = [float(v).hex() + "f" if v != 0 else "0.0f" for v in np.asarray(a, dtype=np.float32).astype(np.float64)]
    return ",\n  ".join(", ".join(vals[i:i + 6]) for i in range(0, len(vals), 6))


def _c_ints(a: np.ndarray) -> str:
    vals = [str(int(v)) + "u" for v in a]
    return ",\n  ".join(", ".join(vals[i:i + 12]) for i in range(0, len(vals), 12))


def header(p: MfccParams) -> str:
    """mfcc_tables.h for firmware/frontends/mfcc.c: sizes as defines, tables as const arrays
    (flash), floats as C99 hex literals (exact)."""
    t = tables(p)
    lo, hi = bin_range(t)
    return "\n".join([
        f"/* Generated by autotiny.frontends.cmsis_mfcc from {p!r}; do not edit. */",
        "#ifndef AT_MFCC_TABLES_H", "#define AT_MFCC_TABLES_H", "#include <stdint.h>",
        f"#define FE_CLIP_SAMPLES {p.clip_samples}u", f"#define FE_WINDOW_SAMPLES {p.window_samples}u",
        f"#define FE_HOP_SAMPLES {p.hop_samples}u", f"#define FE_FRAMES {frame_count(p)}u",
        f"#define FE_FFT_LEN {t['fft_len']}u", f"#define FE_N_MELS {p.n_mels}u", f"#define FE_N_MFCC {p.n_mfcc}u",
        f"#define FE_NORMALIZE_PEAK {int(p.normalize_peak)}",
        f"#define FE_RFFT_INIT arm_rfft_fast_init_{t['fft_len']}_f32",
        f"#define FE_BIN_LO {lo}u", f"#define FE_BIN_HI {hi}u",
        f"static const float fe_window[{len(t['window'])}] = {{\n  {_c_floats(t['window'])}\n}};",
        f"static const uint32_t fe_filter_pos[{p.n_mels}] = {{\n  {_c_ints(t['filter_pos'])}\n}};",
        f"static const uint32_t fe_filter_len[{p.n_mels}] = {{\n  {_c_ints(t['filter_len'])}\n}};",
        f"static const float fe_filter_coefs[{len(t['filter_coefs'])}] = {{\n  {_c_floats(t['filter_coefs'])}\n}};",
        f"static const float fe_dct[{len(t['dct'])}] = {{\n  {_c_floats(t['dct'])}\n}};",
        "#endif", ""])


def mfcc(waveforms: np.ndarray, p: MfccParams = MfccParams()) -> np.ndarray:
    """float32 [N, frames, n_mfcc] computed by CMSIS-DSP's C code through the `cmsisdsp` wheel,
    framed and peak-normalised as the device front-end does (firmware/frontends/mfcc.c)."""
    import cmsisdsp as dsp

    t = tables(p)
    inst = dsp.arm_mfcc_instance_f32()
    status = dsp.arm_mfcc_init_f32(inst, t["fft_len"], p.n_mels, p.n_mfcc, t["dct"], t["filter_pos"],
                                   t["filter_len"], t["filter_coefs"], t["window"])
    if status != 0:
        raise AutotinyError(f"cmsisdsp arm_mfcc_init_f32 failed ({status}) for {p}")
    x = np.asarray(waveforms, dtype=np.float32)
    x = fit_length(x[None, :] if x.ndim == 1 else x, p.clip_samples)
    n, frames, win, hop = t["fft_len"], frame_count(p), p.window_samples, p.hop_samples
    out = np.empty((x.shape[0], frames, p.n_mfcc), dtype=np.float32)
    tmp = np.zeros(2 * n, dtype=np.float32)
    for i, clip in enumerate(x):
        if p.normalize_peak:
            peak = np.float32(clip.max())
            clip = clip * (np.float32(1.0) / peak) if peak > 0 else clip
        for f in range(frames):
            frame = np.zeros(n, dtype=np.float32)
            frame[:win] = clip[f * hop:f * hop + win]
            out[i, f] = dsp.arm_mfcc_f32(inst, frame, tmp)
    return out


if __name__ == "__main__":  # `make setup`: fetch the sources once
    print(f"CMSIS-DSP {CMSIS_DSP_VERSION} ({CMSIS_DSP_LICENSE}) sources at {sources()}")
