"""Field noise (autotiny.noise, task.noise): mixing at an SNR, per-example training augmentation
that differs every epoch, noise kept to its own split, and one-line errors for bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny.config import Noise, compose
from autotiny.errors import ConfigError
from autotiny.noise import augment, describe_training_snr, mix_at_snr, power, snr_name, time_shift, training_snr_db

RATE = 16000


def _speech(n=64, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    f = rng.uniform(200, 1000, (n, 1))
    return (0.05 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def _segments(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.02, 3 * RATE).astype(np.float32), rng.uniform(-0.03, 0.03, 2 * RATE).astype(np.float32)]


@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0, -5.0])
def test_mix_at_snr_sets_the_ratio_per_clip(snr):
    clean = _speech()
    mixed = mix_at_snr(clean, _segments(), snr, np.random.default_rng(0))
    measured = 10 * np.log10(power(clean) / power(mixed - clean))
    assert np.allclose(measured, snr, atol=0.01)


def test_mix_at_snr_is_a_fixed_draw_for_a_fixed_seed_and_leaves_silence_alone():
    clean = _speech()
    a = mix_at_snr(clean, _segments(), 10, np.random.default_rng(5))
    assert np.array_equal(a, mix_at_snr(clean, _segments(), 10, np.random.default_rng(5)))
    silent = np.zeros((2, RATE), np.float32)
    assert not mix_at_snr(silent, _segments(), 10, np.random.default_rng(0)).any()


def test_augmentation_draws_per_example_and_differs_every_epoch():
    clean, settings = _speech(200), Noise(time_shift_ms=0)
    rng = np.random.default_rng(0)
    epoch1 = augment(clean.copy(), _segments(), settings, RATE, rng)
    epoch2 = augment(clean.copy(), _segments(), settings, RATE, rng)
    added1, added2 = epoch1 - clean, epoch2 - clean
    noised1 = np.abs(added1).max(axis=1) > 0
    assert 0.65 < noised1.mean() < 0.95  # train_prob 0.8
    assert not np.array_equal(added1, added2)  # two epochs see different noise
    both = noised1 & (np.abs(added2).max(axis=1) > 0)
    assert not np.allclose(added1[both], added2[both])  # ... on the same clips too
    gains = np.sqrt(power(added1[noised1]))  # per-example volumes, not one shared draw
    assert len(np.unique(np.round(gains, 6))) > 0.9 * noised1.sum()
    peak = max(np.abs(seg).max() for seg in _segments())
    assert (np.abs(added1) <= 0.1 * peak + 1e-6).all()  # volume gain in [0, 0.1]


def test_augmentation_by_snr_range_and_time_shift():
    clean = _speech(100)
    settings = Noise(train_prob=1.0, train_snr_db=(5.0, 15.0), time_shift_ms=0)
    mixed = augment(clean.copy(), _segments(), settings, RATE, np.random.default_rng(0))
    snr = 10 * np.log10(power(clean) / power(mixed - clean))
    assert snr.min() >= 5 - 0.01 and snr.max() <= 15 + 0.01 and snr.std() > 1
    x = np.arange(1, 11, dtype=np.float32)[None].repeat(50, 0)
    shifted = time_shift(x, 3, np.random.default_rng(0))
    for row in shifted:
        nz = row[row != 0]
        assert len(nz) >= 7 and np.all(np.diff(nz) == 1)  # a contiguous run of the original, zero-filled


def test_what_training_hears_and_whether_it_covers_the_field_snr():
    """The SNRs `augment` trains at, as one draw gives them: a volume recipe is an absolute gain, so
    quiet recordings make it practically clean (the shared Speech Commands noise: 40..66 dB), which
    the search's start line says; an SNR range is relative to each clip."""
    clean = _speech(400)
    quiet = [s * 0.05 for s in _segments()]  # recordings ~26 dB below speech before the volume gain
    volume = Noise(time_shift_ms=0)  # MLPerf: volume uniform in [0, 0.1]
    snr = training_snr_db(clean, quiet, volume, np.random.default_rng(0))
    # what augment really mixes, measured: same settings, same clips
    mixed = augment(clean.copy(), quiet, Noise(train_prob=1.0, time_shift_ms=0), RATE, np.random.default_rng(1))
    measured = 10 * np.log10(power(clean) / np.maximum(power(mixed - clean), 1e-30))
    assert abs(np.median(snr) - np.median(measured)) < 2.0
    assert np.percentile(snr, 10) > 35
    line = describe_training_snr(snr, volume)
    assert "train_volume [0.0, 0.1]" in line and "field SNR 10 dB is outside" in line and "train_snr_db" in line
    ranged = Noise(train_snr_db=(0.0, 20.0), time_shift_ms=0)
    snr = training_snr_db(clean, quiet, ranged, np.random.default_rng(0))
    assert snr.min() >= -0.01 and snr.max() <= 20.01
    line = describe_training_snr(snr, ranged)
    assert "train_snr_db [0.0, 20.0]" in line and "outside" not in line
    assert "outside" not in describe_training_snr(snr, Noise(train_snr_db=(0.0, 20.0), field_snr_db=None))
    silent = np.zeros((3, RATE), np.float32)  # no signal, no SNR: left out
    assert training_snr_db(np.concatenate([clean[:5], silent]), quiet, ranged, np.random.default_rng(0)).shape == (5,)


def test_metric_names():
    assert [snr_name(s) for s in (None, 20.0, 0.0, -5.0)] == ["clean", "20db", "0db", "m5db"]


@pytest.mark.parametrize("override, message", [
    ("task.noise.field_snr_db=3", "task.noise.field_snr_db=3 is not one of task.noise.eval_snr_db"),
    ("task.noise.train_volume=[0.2,0.1]", r"task.noise.train_volume=\[0.2, 0.1\]: need 0 <= low <= high"),
    ("task.noise.train_snr_db=[20,5]", r"task.noise.train_snr_db=\[20.0, 5.0\]: need low <= high"),
    ("task.noise.train_prob=1.5", "task.noise.train_prob"),
])
def test_bad_noise_settings_are_one_line(override, message):
    with pytest.raises(ConfigError, match=message) as e:
        compose([override])
    assert "\n" not in str(e.value)


class _Dataset:
    """Records which split's noise was asked for."""

    def __init__(self):
        self.asked: list[str] = []

    def load(self, split):
        assert split == "train"
        return _speech(8), np.zeros(8, np.int64)

    def noise_segments(self, split):
        self.asked.append(split)
        return _segments()


def test_training_noise_comes_from_the_training_blocks_only():
    from autotiny.space import CandidateSpec  # noqa: F401  (the task reads spec.frontend*)
    from autotiny.tasks import get_task

    task = get_task(compose([]).task)
    ds = _Dataset()
    spec = type("Spec", (), {"frontend": "mfcc", "frontend_params": {}})()
    feats = task.augmented_features(ds, spec, np.random.default_rng(0))
    assert feats.shape == (8, 49, 10) and ds.asked == ["train"]
    off = get_task(compose(["task.noise.enabled=false"]).task)
    assert off.augmented_features(ds, spec, np.random.default_rng(0)) is None


class _Splits:
    """Clips and noise for every split, as cached_features reads them."""

    def load(self, split):
        return _speech(6, seed=len(split)), np.arange(6, dtype=np.int64)

    def noise_segments(self, split):
        return _segments(seed=len(split))

    def fingerprint(self, split):
        return f"fake-{split}"


def test_validation_hears_several_noise_draws_per_clip_and_test_one(tmp_path):
    from autotiny.data.cache import cached_features
    from autotiny.tasks import get_task

    spec = type("Spec", (), {"frontend": "mfcc", "frontend_params": {}})()
    task = get_task(compose(["task.noise.val_draws=3"]).task)
    x, y = task.noisy_features(_Splits(), spec, "val", 10.0, tmp_path)
    assert x.shape == (18, 49, 10) and y.tolist() == list(range(6)) * 3
    one, _ = cached_features(_Splits(), "val", "mfcc", {}, tmp_path, snr_db=10.0)
    assert np.array_equal(x[:6], one)  # the first draw is the single draw every earlier run was judged on
    assert not np.allclose(x[6:12], x[:6]) and not np.allclose(x[12:], x[6:12])  # each draw its own excerpts
    again, _ = task.noisy_features(_Splits(), spec, "val", 10.0, tmp_path / "fresh")
    assert np.array_equal(again, x)  # fixed draws: every candidate hears the same noisy clips
    test, _ = task.noisy_features(_Splits(), spec, "test", 10.0, tmp_path)
    assert test.shape == (6, 49, 10)  # test: one draw per clip, so its intervals count clips


def test_bad_validation_draws_are_one_line():
    with pytest.raises(ConfigError, match="task.noise.val_draws") as e:
        compose(["task.noise.val_draws=0"])
    assert "\n" not in str(e.value)
