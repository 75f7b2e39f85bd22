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
    gain = _train_gains(x[chosen], noise, settings, rng)
    x[chosen] = np.clip(x[chosen] + noise * gain[:, None].astype(np.float32), -1.0, 1.0)
    return x


def _train_gains(clean: np.ndarray, noise: np.ndarray, settings, rng: np.random.Generator) -> np.ndarray:
    """The amplitude gain of each clip's noise: from an SNR drawn in `train_snr_db`, else a volume
    drawn in `train_volume`."""
    if settings.train_snr_db is not None:
        lo, hi = settings.train_snr_db
        snr = rng.uniform(lo, hi, len(clean))
        return np.sqrt(power(clean) / (np.maximum(power(noise), _EPS) * 10.0 ** (snr / 10.0)))
    lo, hi = settings.train_volume
    return rng.uniform(lo, hi, len(clean))


def training_snr_db(clean: np.ndarray, segments: list[np.ndarray], settings,
                    rng: np.random.Generator) -> np.ndarray:
    """The SNR (dB) at which `augment` mixes noise into each of `clean`'s clips (those with any
    signal), as one draw of it would: what training actually hears.  A volume recipe is an absolute
    gain, so its SNRs depend on how loud the recordings are; an SNR range does not."""
    x = clean[power(clean) > 0]
    noise = _noise_clips(segments, len(x), x.shape[1], rng)
    gain = _train_gains(x, noise, settings, rng).astype(np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(power(x) / np.maximum(gain ** 2 * power(noise), _EPS * _EPS))


def describe_training_snr(snr_db: np.ndarray, settings) -> str:
    """One line: the training SNRs (10th-90th percentile), and a warning when the field SNR lies
    outside them (training then hardly ever hears the condition candidates are chosen by)."""
    lo, hi = np.percentile(snr_db, [10, 90])
    line = (f"training noise: {settings.train_prob:.0%} of clips at SNR {lo:.0f}..{hi:.0f} dB "
            f"(10th-90th percentile; {'train_snr_db' if settings.train_snr_db is not None else 'train_volume'} "
            f"{list(settings.train_snr_db if settings.train_snr_db is not None else settings.train_volume)})")
    field = settings.field_snr_db
    if field is not None and not lo - 1 <= field <= hi + 1:
        line += (f"; the field SNR {field:g} dB is outside it, so training hardly hears what candidates are "
                 f"chosen by: task.noise.train_snr_db=[lo,hi] sets SNRs around it")
    return line


def snr_name(snr_db: float | None) -> str:
    """The suffix of metrics at that SNR: 'clean', '10db', 'm5db' (m: minus)."""
    return "clean" if snr_db is None else f"{snr_db:g}".replace("-", "m") + "db"
