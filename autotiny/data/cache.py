"""On-disk feature cache: computing front-end features (MFCCs) once per (dataset, front-end, params, split).

Works for any dataset with `load(split)` (waveforms, labels) and `fingerprint(split)`; the
keyword-spotting task (autotiny.tasks.kws) is its user."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autotiny.frontends import get_frontend
from autotiny.noise import mix_at_snr, snr_name

if TYPE_CHECKING:
    from autotiny.data.speech_commands import SpeechCommands

CACHE_VERSION = 1  # bump when the stored arrays' meaning changes


def cache_key(dataset: SpeechCommands, split: str, frontend_name: str, params: Any,
              snr_db: float | None = None, draws: int = 1) -> str:
    payload = {
        "version": CACHE_VERSION,
        "frontend": frontend_name,
        "params": dataclasses.asdict(params),
        "data": dataset.fingerprint(split),
    }
    if snr_db is not None:  # keys of clean features stay what they were
        payload["snr_db"] = snr_db
    if draws > 1:  # ... and so do those of one draw
        payload["draws"] = draws
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _snr_seed(split: str, snr_db: float, draw: int = 0) -> int:
    """A fixed noise draw per (split, SNR, draw): every candidate is judged on the same noisy clips."""
    text = f"{split}:{snr_db:g}" + (f":{draw}" if draw else "")  # draw 0 is the single draw of old
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def cached_features(
    dataset: SpeechCommands,
    split: str,
    frontend_name: str,
    params: Any,
    cache_dir: str | Path,
    snr_db: float | None = None,
    draws: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [N, frames, coeffs], labels int64 [N]) for `split`, clean or with the
    split's own background noise mixed in at `snr_db` (a fixed draw per split and SNR),
    loaded from `cache_dir` when present, else computed and stored.  `draws` > 1 (with `snr_db`):
    that many independent noise draws of every clip, [draws * N] rows, draw by draw (the first
    is the single draw); a noisy clip judged once is a coin toss on which excerpt it got."""
    fe = get_frontend(frontend_name)
    if isinstance(params, dict):
        params = fe.params_type(**params)
    cache_dir = Path(cache_dir)
    tag = "" if snr_db is None else f"-{snr_name(snr_db)}"
    draws = draws if snr_db is not None else 1
    key = cache_key(dataset, split, frontend_name, params, snr_db, draws)
    path = cache_dir / f"{split}{tag}{f'x{draws}' if draws > 1 else ''}-{frontend_name}-{key[:24]}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return z["features"], z["labels"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # damaged file (e.g. disk full earlier): recompute and overwrite
    waves, labels = dataset.load(split)
    if snr_db is not None:
        segments = dataset.noise_segments(split)
        feats = np.concatenate([np.asarray(fe.compute(mix_at_snr(waves, segments, snr_db, np.random.default_rng(
            _snr_seed(split, snr_db, d))), params), dtype=np.float32) for d in range(draws)])
        labels = np.tile(labels, draws)
    else:
        feats = np.asarray(fe.compute(waves, params), dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # tmp + rename: concurrent workers see either no file or a complete one.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, features=feats, labels=labels)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return feats, labels
