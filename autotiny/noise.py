"""Field noise: background noise mixed into clips, for training (augmentation) and for
evaluation at a given signal-to-noise ratio.

Owns the mixing rules only; which noise a split may use is the dataset's business (the
Speech Commands loader cuts each noise recording into time blocks per split, so test noise
never reaches training) and which splits get which treatment is the pipeline's.

Training follows the MLPerf Tiny KWS recipe (mlcommons/tiny, keyword_spotting/kws_util.py):
noise on `prob` of the clips, its amplitude scaled by a volume drawn uniformly from `volume`,
the sum clipped to ±1, and a random time shift of up to `time_shift_ms`.  Unlike that script
(its numpy draw inside `Dataset.map` is traced once, so one draw serves the whole run), every
clip gets its own draw every time `augment` is called: call it once per epoch.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-10


def _noise_clips(segments: list[np.ndarray], n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """n noise excerpts of `length` samples, each from a random segment at a random offset."""
    usable = [s for s in segments if len(s) >= length]
    if not usable:
        raise ValueError(f"no noise segment is {length} samples long (have {[len(s) for s in segments]})")
    which = rng.integers(0, len(usable), n)
    out = np.empty((n, length), dtype=np.float32)
    for i, k in enumerate(which):
        start = rng.integers(0, len(usable[k]) - length + 1)
        out[i] = usable[k][start:start + length]
    return out


def power(x: np.ndarray) -> np.ndarray:
    """Mean square per clip."""
    return np.mean(np.square(x, dtype=np.float64), axis=-1)


def mix_at_snr(clean: np.ndarray, segments: list[np.ndarray], snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Each clip plus noise scaled so that 10·log10(P_clip / P_noise) = snr_db, clipped to ±1.
    A silent clip (P_clip = 0) is returned unchanged: it has no level to set the noise by."""
    noise = _noise_clips(segments, len(clean), clean.shape[1], rng)
    gain = np.sqrt(power(clean) / (np.maximum(power(noise), _EPS) * 10.0 ** (snr_db / 10.0)))
    return np.clip(clean + noise * gain[:, None].astype(np.float32), -1.0, 1.0).astype(np.float32)


def time_shift(x: np.ndarray, max_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Each clip shifted by a uniform random amount in [-max, max] samples, zero-filled."""
    if max_samples <= 0:
        return x
    out = np.zeros_like(x)
    n = x.shape[1]
    for i, s in enumerate(rng.integers(-max_samples, max_samples + 1, len(x))):
        if s >= 0:
            out[i, s:] = x[i, :n - s]
        else:
            out[i, :n + s] = x[i, -s:]
    return out


def augment(clean: np.ndarray, segments: list[np.ndarray], settings, sample_rate: int,
            rng: np.random.Generator) -> np.ndarray:
    """One epoch's training clips: time shift, then noise on a `settings.train_prob` share of
    them at a volume (or SNR, if `settings.train_snr_db` is set) drawn per clip."""
    x = time_shift(clean, int(round(settings.time_shift_ms * sample_rate / 1000)), rng)
    if not segments or settings.train_prob <= 0:
        return x
    chosen = np.flatnonzero(rng.random(len(x)) < settings.train_prob)
    if len(chosen) == 0:
        return x
    noise = _noise_clips(segments, len(chosen), x.shape[1], rng)
    if settings.train_snr_db is not None:
        lo, hi = settings.train_snr_db
        snr = rng.uniform(lo, hi, len(chosen))
        gain = np.sqrt(power(x[chosen]) / (np.maximum(power(noise), _EPS) * 10.0 ** (snr / 10.0)))
    else:
        lo, hi = settings.train_volume
        gain = rng.uniform(lo, hi, len(chosen))
    x[chosen] = np.clip(x[chosen] + noise * gain[:, None].astype(np.float32), -1.0, 1.0)
    return x


def snr_name(snr_db: float | None) -> str:
    """The suffix of metrics at that SNR: 'clean', '10db', 'm5db' (m: minus)."""
    return "clean" if snr_db is None else f"{snr_db:g}".replace("-", "m") + "db"
